// File: tests/kube-test-server/watch.h
//
// Watch streams backed by etcd's Watch. A watch request becomes one etcd watch on the collection
// prefix from start_revision = RV+1 with prev_kv; every etcd event is turned into a Kubernetes
// event (ADDED / MODIFIED / DELETED, with selector transitions: an object that starts to match is
// ADDED, one that stops matching is DELETED) and queued; the request's connection thread writes
// the queue to the chunked HTTP stream, one JSON object per line, flushed per event. Compaction
// (etcd cancels the watch) becomes an ERROR event with a 410 Expired Status.
//
// Flow: RunWatch() (on the connection thread) registers the stream in the WatchHub, writes the
// initial events, then drains the queue until timeoutSeconds, a hub CloseAll(), an etcd stream
// end, the peer going away, or queue overflow (a slow consumer is closed, never waited for).
// Bookmarks (allowWatchBookmarks) carry the RV of the last event delivered, periodically and
// just before timeout.
//
// Thread-safety: WatchHub is safe to use from any thread; RunWatch blocks its caller.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/etcd/client.h"
#include "nlohmann/json.hpp"
#include "tests/kube-test-server/http_server.h"

namespace registrar::kts {

// Open watches, so a test control can close them all.
class WatchHub {
 public:
  using CloseFn = std::function<void()>;
  int64_t Add(CloseFn close);
  void Remove(int64_t id);
  // Closes every open watch; returns how many were open.
  int CloseAll();
  int count() const;

 private:
  mutable absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, CloseFn> open_ ABSL_GUARDED_BY(mu_);
};

struct WatchSpec {
  std::string key_prefix;       // etcd prefix of the watched collection / namespace
  int64_t start_revision = 0;   // first revision delivered (RV + 1)
  std::vector<nlohmann::json> initial;  // synthetic ADDED objects (RV unset or "0")
  std::function<bool(const nlohmann::json&)> matches;  // selectors
  // Renders an event line (without the trailing newline) for type + object.
  std::function<std::string(const std::string& type, const nlohmann::json& object)> encode;
  std::string content_type = "application/json";
  bool bookmarks = false;
  std::chrono::milliseconds bookmark_interval{60000};
  std::chrono::milliseconds timeout{std::chrono::hours(1)};
  size_t max_queue = 10000;     // slow consumer limit (events queued, not yet written)
};

// Streams a watch on `out` (status 200, chunked). Returns when the stream ends.
void RunWatch(etcd::Client& client, WatchHub& hub, WatchSpec spec, ResponseWriter& out);

// The ERROR event line for a 410 Expired Status with `message`.
std::string ExpiredEventLine(const std::string& message);

}  // namespace registrar::kts
