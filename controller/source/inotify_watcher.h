// File: controller/source/inotify_watcher.h
//
// A set of inotify watches on directories, used by the manifest source only to learn *that*
// something changed under its folder (the source then rescans; it never trusts event details, so a
// lost or coalesced event costs nothing but latency, and a queue overflow counts as a change).
//
// Flow: the owner calls WatchExactly() with every directory after each scan (directory symlinks are
// followed, so a ConfigMap's `..data` swap is seen on the folder that holds the symlink), waits for
// fd() to become readable (poll), then Drain()s it. Drain also names the files written, created or
// moved in: a file rewritten within one timestamp tick with the same size keeps its stat signature,
// so the owner must re-read those names regardless. Events watched: create, delete, close-after-
// write, moves in and out, attribute changes, and the directory itself going away.
//
// Thread-safety: not thread-safe; one owner thread. Ownership: owns the inotify descriptor.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace registrar::source {

class InotifyWatcher {
 public:
  // Fails with kUnavailable (naming the errno) when inotify cannot be initialised.
  static absl::StatusOr<std::unique_ptr<InotifyWatcher>> Create();
  ~InotifyWatcher();
  InotifyWatcher(const InotifyWatcher&) = delete;
  InotifyWatcher& operator=(const InotifyWatcher&) = delete;

  // The descriptor to poll for readability.
  int fd() const { return fd_; }

  // Makes the watch set exactly `dirs`. Returns true when a watch was added (the directory may
  // already hold files written before the watch existed: rescan). A directory that vanished
  // meanwhile is skipped. Returns kResourceExhausted when the kernel's watch limit is reached
  // (the watches that fit are kept; the caller should fall back to polling).
  absl::StatusOr<bool> WatchExactly(const std::vector<std::string>& dirs);

  // Reads every queued event without blocking. Returns true when there was at least one, and adds
  // to *written the paths ("<dir>/<name>") of entries written, created, moved in or changed.
  bool Drain(std::set<std::string>* written);

 private:
  explicit InotifyWatcher(int fd) : fd_(fd) {}

  int fd_;
  std::map<int, std::string> watches_;  // watch descriptor -> directory
};

}  // namespace registrar::source
