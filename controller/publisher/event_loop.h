// File: controller/publisher/event_loop.h
//
// The engine's thread: a FIFO of closures and a queue of timers on a Clock. Everything of the
// engine's state runs here, so it needs no locks.
//
// Flow: Post()/PostAfter() from any thread; Start() runs them on a thread of the loop's own
// until Stop(). Tests do not Start(): they call RunUntilIdle() on their own thread and advance a
// FakeClock to make timers due.
// Thread-safety: Post, PostAfter and Stop are safe from any thread; RunUntilIdle only when not
// started. Ownership: owns its thread and the queued closures.
#pragma once

#include <deque>
#include <functional>
#include <queue>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/common/clock.h"

namespace registrar::publisher {

class EventLoop {
 public:
  using Fn = std::function<void()>;

  explicit EventLoop(Clock& clock) : clock_(clock) {}
  ~EventLoop() { Stop(); }

  void Post(Fn fn);
  // Runs `fn` once `delay` has passed on the clock. Timers wait at most 50 ms at a time, so a
  // FakeClock is honoured too.
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
  struct Timer {
    Clock::TimePoint when;
    uint64_t seq;
    Fn fn;
    bool operator>(const Timer& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };

  // One closure or due timer, run with the lock released; false when none was ready.
  bool RunOne() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();

  Clock& clock_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<Fn> queue_ ABSL_GUARDED_BY(mu_);
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // the owner's thread only (Start, Stop)
};

}  // namespace registrar::publisher
