// File: controller/runtime/reflector.h
//
// List-then-watch of one Kubernetes collection into a sink, on a thread of its own: client-go's
// Reflector / kube-rs' watcher. Generic: it knows a kube::Resource, a namespace and a label
// selector, never what the objects mean (the sink decodes them).
//
// Expected flow (the thread's loop):
//   1. List: every page (`limit` = page_size, following `continue` tokens, all from the snapshot
//      of the first page). Only a complete listing reaches the sink: OnReplace(every object,
//      the list's resourceVersion). A page that fails drops the whole attempt: no OnReplace, so
//      nothing is removed because a list failed or was partial. The first OnReplace makes
//      synced() true.
//   2. Watch from the list's resourceVersion with allowWatchBookmarks=true and a timeoutSeconds
//      drawn in [min_watch_timeout, max_watch_timeout] (client-go's 5-10 min: the watches of many
//      controllers do not all end together). ADDED, MODIFIED and DELETED go to OnEvent; each
//      event and each BOOKMARK advances the resourceVersion (a bookmark reaches no sink).
//   3. The stream ends: cleanly (timeoutSeconds) -> watch again at once from the last
//      resourceVersion, no relist; broken (connection, idle timeout, bad line, an ERROR event
//      other than 410) -> back off, then watch from the last resourceVersion, no relist;
//      410 Gone (HTTP or ERROR event, kube::IsGone) -> list again (1.). The sink's OnReplace
//      then carries the whole state; diffing it against what it had (deletions during the gap)
//      is the sink's job. A 410 before any event on a watch opened right after a list, and a
//      watch that the server ends cleanly within a second having sent nothing, count as
//      failures (back off): no hot loop.
//   Failures back off per ReconnectBackoff (0.8 s doubling to 30 s, equal jitter, reset after
//   2 min of health). Every wait is on the injected Clock (in slices of at most 50 ms, so a
//   FakeClock is honoured).
//
// Errors: last_error() is OK once the latest list completed or watch opened, else the latest
// failure, naming the verb and the resource: "list serviceregistrations.registrar.dev: HTTP 404
// NotFound: the server could not find the requested resource (<not_found_hint>)"; a 403 keeps
// the server's message, which names the user, verb and resource. Failures are logged (spdlog) the
// first time, then the same message at most once a minute; the recovery is logged once.
//
// Guarantees: the sink is called on the reflector's thread only, never concurrently, in stream
// order. Stop() cancels an open watch stream (WatchStream::Cancel) and ends a backoff wait at
// once; a List page or watch request in flight is waited for (it ends by its own deadline).
// No sink call starts after Stop() returns.
// Thread-safety: Start/Stop from the owner's thread; synced, last_error, resource_version and
// stats from any thread. Hooks run on the reflector's thread and must be cheap.
// Ownership: the Api, sink and clock are not owned and must outlive the reflector.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

#include "controller/common/clock.h"
#include "controller/kube/api.h"
#include "controller/runtime/reconnect_backoff.h"

namespace registrar::runtime {

// Where a reflector delivers what it sees. Called on the reflector's thread only.
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  // A complete listing (the first one, or a relist): exactly these objects exist at
  // `resource_version`. Whatever the sink holds that is not among them was deleted.
  virtual void OnReplace(std::vector<nlohmann::json> objects,
                         const std::string& resource_version) = 0;
  // One watch event: kAdded, kModified or kDeleted (never kBookmark or kError).
  virtual void OnEvent(kube::EventType type, const nlohmann::json& object) = 0;
};

// Counters for metrics; each may be empty.
struct ReflectorHooks {
  std::function<void()> list_page;       // a list page arrived
  std::function<void()> relist;          // a complete listing after the first one
  std::function<void()> watch_restart;   // a watch opened after the first one
  std::function<void(kube::EventType)> event;  // a watch event (bookmarks and errors too)
};

struct ReflectorOptions {
  kube::Resource resource;
  std::string namespace_;  // empty: every namespace
  std::string label_selector;
  int64_t page_size = 500;
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::seconds max_watch_timeout{600};
  ReconnectBackoff::Options backoff;
  // Appended to the error of a 404 on list, in parentheses (e.g. how to install the CRD).
  std::string not_found_hint;
  // Applied to each listed object as its page arrives (the listing is held until it is
  // complete) and to each watch event's object before the sink sees it: client-go's
  // TransformFunc, e.g. kube::StripManagedFields. Empty: objects as the server sent them.
  std::function<void(nlohmann::json&)> transform;
  // Draws in [0, 1) for jitter and watch timeouts; empty: a generator seeded at random.
  std::function<double()> random01;
  ReflectorHooks hooks;
};

struct ReflectorStats {
  int64_t lists = 0;           // complete listings (the first and every relist)
  int64_t relists = 0;         // complete listings after the first
  int64_t list_pages = 0;
  int64_t list_failures = 0;   // list attempts that failed (any page)
  int64_t watches = 0;         // watch streams opened
  int64_t watch_restarts = 0;  // watch streams opened after the first
  int64_t events = 0;          // watch events received, bookmarks included
};

class Reflector {
 public:
  Reflector(kube::Api& api, ReflectorSink& sink, Clock& clock, ReflectorOptions options);
  ~Reflector();  // Stop()
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  // Starts the thread. REQUIRES: called at most once.
  void Start();
  // Stops and joins the thread. Idempotent.
  void Stop();

  // True once a complete listing reached the sink; stays true.
  bool synced() const { return synced_.load(); }
  // OK when the latest list completed or watch opened; else the latest failure (see above).
  absl::Status last_error() const;
  // The resourceVersion the next watch starts from ("" before the first listing).
  std::string resource_version() const;
  ReflectorStats stats() const;
  // "serviceregistrations.registrar.dev" (plural.group; the plural alone for the core group).
  std::string resource_name() const;

 private:
  enum class WatchEnd { kClean, kGone, kBroken, kStopped };
  struct WatchResult {
    WatchEnd end = WatchEnd::kClean;
    absl::Status status;
    bool received = false;  // the stream delivered at least one event
  };

  void Run();
  // One complete listing into the sink, or the failure (nothing reaches the sink).
  absl::Status List();
  // Opens a watch from the current resourceVersion and reads it to its end.
  WatchResult Watch();
  // Handles one line of the stream; a non-OK result ends the stream (kGone when IsGone).
  absl::Status HandleLine(const std::string& line, bool& received);
  // Records `status`, logs it (rate-limited) and waits the backoff. False when stopping.
  bool Fail(const absl::Status& status);
  void Healthy();
  // Waits on the clock until `delay` passed; false when Stop() came first.
  bool Sleep(Clock::Duration delay);
  bool stopping() const;
  double Random();
  std::string Describe(const char* verb) const;

  kube::Api& api_;
  ReflectorSink& sink_;
  Clock& clock_;
  const ReflectorOptions options_;

  // Reflector thread only.
  ReconnectBackoff backoff_;
  ErrorLogLimiter log_limiter_;
  std::function<double()> random01_;

  std::atomic<bool> synced_{false};
  std::atomic<int64_t> lists_{0}, relists_{0}, list_pages_{0}, list_failures_{0}, watches_{0},
      watch_restarts_{0}, events_{0};

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  kube::WatchStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;  // the open stream, to Cancel()
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);

  std::jthread thread_;  // owner thread only
};

}  // namespace registrar::runtime
