// File: controller/runtime/controller_loop.h
//
// The level-triggered controller loop: `workers` threads pop keys from a WorkQueue and call a
// Reconciler, applying controller-runtime's reconcileHandler rules to the result:
//   - error, not terminal      -> AddRateLimited(key)   (per-key backoff + overall limit; not
//                                 sooner than the server's Retry-After, when Hooks::retry_after
//                                 finds one in the error, capped at kMaxRetryAfter)
//   - error, terminal          -> Forget(key), no fast requeue (kInvalidArgument and
//                                 kFailedPrecondition: a person must fix something first; the
//                                 reconciler reports it on the object)
//   - OK with requeue_after    -> Forget(key) + AddAfter(key, requeue_after)
//   - OK                       -> Forget(key)
// and Done(key) always. Each reconcile is reported to Hooks::reconciled with its result
// ("success", "error" or "requeue_after") and duration (for
// controller_runtime_reconcile_total / _time_seconds).
//
// Lifecycle: Start() spawns the workers; Stop() shuts the queue down and joins them, waiting for
// reconciles in flight (it does not interrupt them). A loop is started at most once. A component
// that should run only on a leader is started when leadership is won.
//
// Thread-safety: Start/Stop from one owner thread; ProcessNextWorkItem() may be called from any
// thread (the workers do; tests call it directly for deterministic single-step runs).
// The queue, reconciler and clock are not owned and must outlive the loop.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

#include "controller/common/clock.h"
#include "controller/runtime/work_queue.h"

namespace registrar::runtime {

class Reconciler {
 public:
  struct Result {
    // Reconcile this key again after this long (periodic resync); unset: wait for a change.
    std::optional<Clock::Duration> requeue_after;
  };

  virtual ~Reconciler() = default;
  // Brings the world in line with the desired state of `key` (level-triggered: the key only
  // names what to look at). Returns an error to be retried with backoff, or a terminal error
  // (kInvalidArgument, kFailedPrecondition) that is not retried until the key is added again.
  virtual absl::StatusOr<Result> Reconcile(const std::string& key) = 0;
};

class ControllerLoop {
 public:
  struct Hooks {
    // Called after each reconcile with "success", "error" or "requeue_after" and its duration.
    std::function<void(std::string_view result, double seconds)> reconciled;
    // The delay a server asked for in a failed reconcile's error (a 429's Retry-After), if any.
    std::function<std::optional<Clock::Duration>(const absl::Status& error)> retry_after;
  };
  // A Retry-After longer than this is cut to it (a server cannot park a key for hours).
  static constexpr Clock::Duration kMaxRetryAfter = std::chrono::seconds(60);

  // `name` appears in logs (and is the `controller` metrics label for the caller).
  // REQUIRES: workers >= 1.
  ControllerLoop(std::string name, WorkQueue& queue, Reconciler& reconciler, Clock& clock,
                 int workers, Hooks hooks = {});
  ~ControllerLoop();  // Stop()

  ControllerLoop(const ControllerLoop&) = delete;
  ControllerLoop& operator=(const ControllerLoop&) = delete;

  // Spawns the worker threads. REQUIRES: not started before.
  void Start();
  // Shuts the queue down and joins the workers after their current reconcile. Idempotent.
  void Stop();

  // Takes one key (blocking), reconciles it and applies the result rules above. Returns false
  // once the queue is shut down.
  bool ProcessNextWorkItem();

  const std::string& name() const { return name_; }

 private:
  const std::string name_;
  WorkQueue& queue_;
  Reconciler& reconciler_;
  Clock& clock_;
  const int workers_;
  const Hooks hooks_;
  std::vector<std::jthread> threads_;  // touched only by the owner thread (Start/Stop)
};

}  // namespace registrar::runtime
