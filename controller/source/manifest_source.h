// File: controller/source/manifest_source.h
//
// `--manifests DIR`: the ServiceRegistrations declared by the files under a folder (DESIGN §3).
//
// Expected flow: Create() -> Start(handler) -> [the thread loops: wait for an inotify event or a
// deadline, then Step()] -> Stop(). Each due Step() rescans the whole folder with stat(): every
// `*.yaml|*.yml|*.json` (case-insensitive), recursively; names starting with "." are skipped (a
// mounted ConfigMap's `..data` and `..<timestamp>` internals, editors' swap, lock and temp files), and
// symlinks are followed (so a ConfigMap's `name.yaml -> ..data/name.yaml` is read once, through its
// visible name). Only files whose (device, inode, size, mtime, ctime) changed, or that inotify
// names as written, are read again, so a file is parsed once per change and its error is logged once
// per change; and the store is rebuilt from the files' documents only when some changed, a file
// went or a removal waits (a rescan that finds nothing new costs its stat() calls only). (When
// polling, a rewrite of the same size within one filesystem timestamp tick, a few milliseconds,
// goes unnoticed until the next change: the limit of every mtime-based poller.)
//
// Timing: an inotify event schedules a rescan after `debounce` of quiet (at most 3 x debounce after
// the first event), so an editor's write-temp-then-rename save or a ConfigMap `..data` swap is one
// change. Without inotify (disabled, unavailable, or its watch limit reached), while the folder is
// broken, and before the first complete scan, the folder is rescanned every `poll_interval`;
// otherwise every `resync_interval` as a safety net. inotify watches the folder's own directories
// (following directory symlinks); an edit made through a file symlink to a target outside the folder
// is seen at the next resync.
//
// Guarantees:
// - A file that cannot be read, is over `max_file_bytes`, is binary, or fails to parse or validate
//   keeps its last good registrations; the problem goes to errors() under the file's path and to
//   one warning log line (file, line, reason).
// - A registration that is no longer declared (its file emptied, removed, renamed away, or
//   half-written) stays in the store until it has been missing for `debounce` and a rescan confirms
//   it, so truncate-then-write and backup-then-rename saves never revoke.
// - Duplicate namespace/name: the first in sorted path, then document order wins; the others are
//   reported under their file.
// - synced() turns true after the first scan that read the whole folder. A scan that could not read
//   the folder or a subfolder removes nothing. Until then, what has been read is published (and
//   the handler called) every 500 documents, in sorted path order, so registering starts while
//   later files are still parsed (a folder of 10 000 takes seconds to read on a busy machine).
// - Objects in store() get metadata.uid "manifest:<namespace>/<name>" and metadata.generation 1,
//   incremented whenever the declared object changes; an unchanged object keeps its pointer.
//
// Thread-safety: the Source methods are thread-safe. Step() and the counters are for tests that
// drive the source without Start() (with a FakeClock); never call Step() after Start().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/common/clock.h"
#include "controller/registration/validation.h"
#include "controller/source/inotify_watcher.h"
#include "controller/source/manifest_file.h"
#include "controller/source/source.h"

namespace registrar::source {

struct ManifestSourceOptions {
  std::string dir;
  bool use_inotify = true;
  std::chrono::milliseconds debounce{250};
  std::chrono::milliseconds poll_interval{500};
  std::chrono::milliseconds resync_interval{std::chrono::seconds(30)};
  int64_t max_file_bytes = 1 << 20;
};

class ManifestSource final : public Source {
 public:
  // Fails with kInvalidArgument when options.dir is empty, kInternal when the wake-up eventfd
  // cannot be created. A missing or unreadable folder is not an error here: the source retries.
  static absl::StatusOr<std::unique_ptr<ManifestSource>> Create(ManifestSourceOptions options,
                                                                Clock& clock);
  ~ManifestSource() override;

  void Start(ChangeHandler handler) override;
  void Stop() override;
  const Store& store() const override { return store_; }
  bool synced() const override { return synced_.load(); }
  std::map<std::string, std::string> errors() const override;

  // One turn of the loop at clock.Now(): takes pending inotify events, rescans when due, publishes.
  // Returns the identities that changed (also passed to the handler, if started).
  std::vector<std::string> Step();
  // Whether inotify is in use (false: polling).
  bool watching() const;
  // How many times a manifest file was read, for tests of "read once".
  int64_t files_read() const { return files_read_.load(); }
  // How many times the folder was scanned.
  int64_t scans() const { return scans_.load(); }
  // How many scans went over every file's documents to rebuild the store (Publish), for tests of
  // "a rescan that finds nothing new costs only the stat() calls".
  int64_t publishes() const { return publishes_.load(); }

 private:
  using TimePoint = Clock::TimePoint;

  struct Signature {
    uint64_t device = 0;
    uint64_t inode = 0;
    int64_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const Signature&) const = default;
  };
  // What a scan found at one matching path.
  struct Found {
    std::optional<Signature> signature;
    std::string error;  // set when the path could not be examined
  };
  struct Scan {
    std::map<std::string, Found> files;
    std::vector<std::string> dirs;
    std::map<std::string, std::string> dir_errors;
  };
  // A registration a file declares. `object` is shared with the store once published (the
  // generation the store gave it), so each registration is held once, not once per file state
  // and once in the store.
  struct Declared {
    ObjectPtr object;
    int index = 0;  // among the file's documents, for messages
    int line = 0;
  };
  struct FileState {
    std::optional<Signature> signature;  // of the content last processed
    std::vector<Declared> documents;     // last good
    std::string error;
  };

  ManifestSource(ManifestSourceOptions options, Clock& clock, int wake_fd,
                 std::unique_ptr<InotifyWatcher> watcher);

  void Run(std::stop_token stop);
  TimePoint NextDeadline() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkDirty(TimePoint now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Scan Walk() const;
  void WalkDir(const std::string& dir, std::map<std::pair<uint64_t, uint64_t>, bool>& visited,
               Scan& scan) const;
  void Apply(const std::string& path, const Found& found)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Read(const std::string& path, FileState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::string> Publish(TimePoint now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // First scan only: stores the documents of `paths` (read in sorted order) whose identity the
  // store does not hold yet, the first declaration winning as in Publish, and returns those
  // identities, sorted. Costs O(their documents x log n), where Publish goes over every file:
  // called every 500 documents, Publish made the first load O(n^2 / 500). The Publish at the
  // end of the scan settles duplicates, changed objects and removals.
  std::vector<std::string> PublishNew(const std::vector<std::string>& paths)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ManifestSourceOptions options_;
  Clock& clock_;
  const int wake_fd_;
  Store store_;
  std::atomic<bool> synced_{false};
  std::atomic<int64_t> files_read_{0};
  std::atomic<int64_t> scans_{0};
  std::atomic<int64_t> publishes_{0};

  mutable absl::Mutex mu_;
  std::unique_ptr<InotifyWatcher> watcher_ ABSL_GUARDED_BY(mu_);  // null: polling only
  bool watches_complete_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<TimePoint> first_dirty_ ABSL_GUARDED_BY(mu_);
  std::optional<TimePoint> scan_due_ ABSL_GUARDED_BY(mu_);
  std::optional<TimePoint> last_scan_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> dir_errors_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> duplicate_errors_ ABSL_GUARDED_BY(mu_);
  // Identities no longer declared but still in the store, since when.
  std::map<std::string, TimePoint> leaving_ ABSL_GUARDED_BY(mu_);
  // A file's documents changed, or a file went, since the last Publish. Publish depends only on
  // the documents, the store (written by Publish alone once synced) and leaving_, so a scan that
  // changed none of them skips it: the 30 s safety rescan of 10 000 registrations cost ~50 ms of
  // CPU rebuilding the same store (bench/README.md, issue 13).
  bool publish_due_ ABSL_GUARDED_BY(mu_) = true;

  bool watch_limit_reached_ ABSL_GUARDED_BY(mu_) = false;

  // Writes wake_fd_: a FakeClock advanced wakes the thread to measure its wait again.
  class ClockWaker final : public Clock::Waker {
   public:
    explicit ClockWaker(ManifestSource& owner) : owner_(owner) {}
    void Wake() override { owner_.WakeThread(); }

   private:
    ManifestSource& owner_;
  };
  void WakeThread();
  ClockWaker clock_waker_{*this};

  ChangeHandler handler_;  // set by Start() before the thread starts, then only read by it
  std::jthread thread_;  // owner thread only (Start/Stop/destructor); no lock
};

}  // namespace registrar::source
