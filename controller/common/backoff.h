// File: controller/common/backoff.h
//
// Exponential backoff with jitter in [delay/2, delay]: base * 2^attempt, capped at max.
// Used by the etcd liveness loops, all 100 ms .. 1 s: the lease keeper reopening its keep-alive
// stream, and the engine's retries (prefix watches, adoption, per-registration etcd
// writes); by the watcher's reconnects (runtime/reconnect_backoff.h, which adds the reset after
// a healthy period) and the owner-id lookup (app/owner_id.cc). The work queue has its own
// per-key backoff (runtime/work_queue.h).
// Not thread-safe: one instance per retry loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace registrar {

class Backoff {
 public:
  using Duration = std::chrono::milliseconds;
  // `random01` returns a number in [0, 1); injected so tests get exact delays.
  Backoff(Duration base, Duration max, std::function<double()> random01);
  Backoff(Duration base, Duration max);

  // The delay before the next attempt; each call counts one more failure.
  Duration Next();
  // The same with the draw given (clamped to [0, 1]) instead of taken from `random01`.
  Duration Next(double draw);
  // The delay Next() would return for `attempt` failures without jitter (for tests and logs).
  Duration Ceiling(int attempt) const;
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  Duration base_;
  Duration max_;
  std::function<double()> random01_;
  int attempt_ = 0;
};

}  // namespace registrar
