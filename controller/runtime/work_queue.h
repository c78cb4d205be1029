// File: controller/runtime/work_queue.h
//
// A rate-limited, delaying work queue of string keys with client-go's workqueue semantics, the
// heart of the level-triggered controller loop (controller_loop.h).
//
// Flow: producers Add(key) (or AddAfter / AddRateLimited); workers Get() a key, reconcile it and
// call Done(key). Guarantees:
//   - dedup: a key waiting in the queue is queued once, however often it is added;
//   - priority (controller-runtime's priority queue, reduced to two levels): Get() hands out
//     every kNormal key before any kLow one, each level in arrival order. The owner adds the keys
//     of a source's initial listing as kLow, so that a change (a watch event, the engine telling
//     that a registration went live) is not stuck behind thousands of listed keys. A key queued
//     as kLow and added again as kNormal moves to the normal level (O(1));
//   - a key handed out by Get() is not handed out again until Done(key): a key is never processed
//     by two workers at once;
//   - a key added while it is processed is queued again by Done(key) (once);
//   - AddAfter(key, d) queues the key when the Clock reaches now + d (the earliest wins when a key
//     is already waiting);
//   - AddRateLimited(key) = AddAfter(key, max(per-key backoff, overall token bucket)): per-key
//     exponential backoff base * 2^failures capped at max (controller-runtime's
//     ItemExponentialFailureRateLimiter, 5 ms -> 1000 s), and a token bucket (10 qps, burst 100)
//     shared by all keys; Forget(key) resets the key's failures.
//   - AddRateLimited(key, at_least) (a server's Retry-After) also holds the key until now +
//     at_least: an Add or an earlier AddAfter of it meanwhile is delayed to that time, so the key
//     is not handed out sooner.
//
// Time: all time comes from the injected Clock. Delayed keys (a common/timer_queue.h TimerQueue)
// move to the queue in ProcessDue(); with Options::delay_thread (the default) an internal
// TimerThread ("queue-delay") calls it when the earliest key is due, and sleeps otherwise (a
// FakeClock wakes it when advanced). Tests with a FakeClock may also turn the thread off, advance
// the clock and call ProcessDue() themselves: no sleeps.
//
// Metrics: Hooks are called on every change of depth, on each add that queues a key and on each
// AddRateLimited; they run under the queue's lock, so they must be cheap and never call back
// into the queue (incrementing a metrics counter is fine).
//
// Thread-safety: every method is safe to call from any thread. ShutDown() makes Get() return
// std::nullopt at once (keys still queued are dropped: the controller relists on restart) and
// makes later adds no-ops.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

#include "controller/common/clock.h"
#include "controller/common/timer_queue.h"

namespace registrar::runtime {

class WorkQueue {
 public:
  using Duration = Clock::Duration;
  using TimePoint = Clock::TimePoint;

  struct Options {
    // Per-key exponential backoff: base * 2^(failures so far), capped at `max_backoff`.
    Duration base_backoff = std::chrono::milliseconds(5);
    Duration max_backoff = std::chrono::seconds(1000);
    // Overall token bucket shared by every key.
    double qps = 10;
    int burst = 100;
    // Run the internal thread that moves due delayed keys into the queue. Tests with a FakeClock
    // set false and call ProcessDue().
    bool delay_thread = true;
  };

  struct Hooks {
    std::function<void(int64_t depth)> depth;  // the number of keys ready in the queue
    std::function<void()> add;                 // a key was queued (after dedup)
    std::function<void()> retry;               // AddRateLimited was called
  };

  WorkQueue(Clock& clock, Options options, Hooks hooks = {});
  explicit WorkQueue(Clock& clock) : WorkQueue(clock, Options{}) {}
  // Shuts down and joins the delay thread.
  ~WorkQueue();

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  enum class Priority { kNormal, kLow };

  // Queues `key` unless it is already queued (then a kNormal add raises a kLow key's priority);
  // a key being processed is queued again by Done(), at the highest priority it was added with.
  void Add(const std::string& key, Priority priority = Priority::kNormal);
  // Queues `key` once the clock reaches now + `delay` (at once when delay <= 0).
  void AddAfter(const std::string& key, Duration delay);
  // Queues `key` after the larger of its per-key backoff, the overall rate limit and
  // `at_least` (a server's Retry-After), and counts one more failure for `key`.
  void AddRateLimited(const std::string& key, Duration at_least = Duration::zero());
  // Resets the failures of `key` (its next AddRateLimited waits base_backoff again).
  void Forget(const std::string& key);
  // How many failures AddRateLimited counted for `key` since the last Forget.
  int NumRequeues(const std::string& key) const;

  // Blocks until a key is ready and returns it, marking it processing; std::nullopt once shut
  // down. REQUIRES: the caller calls Done(key) when finished with it.
  std::optional<std::string> Get();
  // Marks `key` finished; queues it again if it was added while processing.
  void Done(const std::string& key);

  // Keys ready in the queue, both priorities (not counting delayed or processing keys).
  int Len() const;
  // Moves every delayed key whose time has come (per the Clock) into the queue; returns how many.
  int ProcessDue();
  // When the earliest delayed key is due; std::nullopt when nothing is delayed.
  std::optional<TimePoint> NextDue() const;

  void ShutDown();
  bool ShuttingDown() const;

 private:
  void AddLocked(const std::string& key, Priority priority) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnqueueLocked(const std::string& key, Priority priority) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportDepthLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Duration RateLimitDelayLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int ProcessDueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock& clock_;
  const Options options_;
  const Hooks hooks_;

  mutable absl::Mutex mu_;
  absl::CondVar ready_cv_;  // signalled when the queue gains a key or shuts down
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);  // kNormal keys ready
  // kLow keys ready, and where each stands (a raised key leaves from the middle).
  std::list<std::string> low_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::list<std::string>::iterator> low_at_ ABSL_GUARDED_BY(mu_);
  // Needs processing, with the highest priority it was added with.
  absl::flat_hash_map<std::string, Priority> dirty_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> processing_ ABSL_GUARDED_BY(mu_);  // handed out by Get()
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;

  void DelayLocked(const std::string& key, TimePoint due) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Keys held until a time (AddRateLimited's at_least).
  absl::flat_hash_map<std::string, TimePoint> hold_ ABSL_GUARDED_BY(mu_);
  // Delayed keys by due time (a key waits once, the earliest time wins).
  TimerQueue<std::string> delayed_ ABSL_GUARDED_BY(mu_);

  absl::flat_hash_map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
  double tokens_ ABSL_GUARDED_BY(mu_);
  TimePoint tokens_at_ ABSL_GUARDED_BY(mu_);

  // Moves due keys into the queue (Options::delay_thread). Last member: stopped and joined first
  // on destruction, started after the state above exists.
  TimerThread delay_thread_;
};

}  // namespace registrar::runtime
