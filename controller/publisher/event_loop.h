// File: controller/publisher/event_loop.h
//
// The engine's thread: a FIFO of closures and a queue of timers on a Clock. Everything of the
// engine's state runs here, so it needs no locks.
//
// Flow: Post()/PostAfter() from any thread; Start() runs them on a thread of the loop's own
// ("engine", a common/timer_queue.h TimerThread) until Stop(): it sleeps until a closure is
// posted or the earliest timer is due, and not otherwise (a FakeClock wakes it when advanced).
// Tests without a thread do not Start(): they call RunUntilIdle() on their own thread and advance
// a FakeClock to make timers due.
// Thread-safety: Post, PostAfter and Stop are safe from any thread; RunUntilIdle only when not
// started. Ownership: owns its thread and the queued closures.
#pragma once

#include <deque>
#include <functional>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

#include "controller/common/clock.h"
#include "controller/common/timer_queue.h"

namespace registrar::publisher {

class EventLoop {
 public:
  using Fn = std::function<void()>;

  explicit EventLoop(Clock& clock);
  ~EventLoop() { Stop(); }

  void Post(Fn fn);
  // Runs `fn` once `delay` has passed on the clock (timers due at the same time in the order
  // posted).
  void PostAfter(Clock::Duration delay, Fn fn);
  void Start();
  // Joins the thread; queued closures that did not run are dropped with the loop.
  void Stop();
  // Runs queued closures and due timers on the calling thread until none is left; returns how
  // many ran. REQUIRES: not started.
  size_t RunUntilIdle();
  // Closures queued, and timers pending (due or not).
  size_t queued() const;
  size_t timers() const;

 private:
  // One closure or due timer, run with the lock released; false when none was ready.
  bool RunOne() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The thread's step: runs closures and due timers until none is left (or Stop()).
  std::optional<Clock::TimePoint> Step();

  Clock& clock_;
  mutable absl::Mutex mu_;
  std::deque<Fn> queue_ ABSL_GUARDED_BY(mu_);
  // Timers by (due, order posted); each one's closure under its sequence number.
  TimerQueue<uint64_t> timers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Fn> timer_fns_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  TimerThread thread_;  // last: its step uses the state above
};

}  // namespace registrar::publisher
