// File: controller/etcd/server_version.h
//
// The etcd server version a connection talks to (Maintenance.Status `version`, e.g. "3.5.35")
// and the rules that depend on it, with no I/O: the engine asks Status when a connection is made
// and each time its keep-alive stream comes up again (the endpoint behind it may have changed),
// and decides per connection with these functions.
//
// Rules:
// - Settle writes (controller/publisher/write_scheduler.h, rule 4) help etcd up to 3.4 only.
//   etcd 3.4 copies its buffer of uncommitted writes for every read transaction, keep-alive
//   responses included, and a bucket's buffer keeps the size of the largest burst until a commit
//   finds the bucket unwritten; the two settle writes after a burst shrink it. From 3.5 on, a
//   concurrent read reuses one cached copy of that buffer while nothing new is written, so a
//   quiet etcd answers keep-alives without copying and the settle writes only add writes
//   (bench/README.md: etcd's CPU while holding 10 000, with and without them, on each version).
// - An unknown version (not answered yet, Status refused, or a text we cannot read) keeps the
//   settle writes: they cost two small writes per burst, a missing one costs 3.4 a large part of
//   a core.
//
// Cost: parsing is O(length of the text). Thread-safety: pure functions and a value type.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace registrar::etcd {

struct ServerVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;

  bool AtLeast(int want_major, int want_minor) const {
    return major > want_major || (major == want_major && minor >= want_minor);
  }
  std::string ToString() const;  // "3.5.35"
};

// "3.5.35", "3.6.0-alpha.0", "3.4.23+debian": major.minor[.patch], anything after the numbers
// ignored. nullopt when the text does not start with two dot-separated numbers.
std::optional<ServerVersion> ParseServerVersion(absl::string_view text);

// Whether the settle writes help this server (rules above); true for an unknown version.
bool SettleWritesHelp(const std::optional<ServerVersion>& version);

}  // namespace registrar::etcd
