// File: controller/common/clock.h
//
// Time behind a seam: everything takes a Clock& and only RealClock reads the system clocks,
// so tests advance a FakeClock (tests/testing/fake_clock.h) instead of sleeping.
//
// Flow: a thread that sleeps until a time on a Clock (common/timer_queue.h's TimerThread) waits
// in real time for the difference, and registers a Waker so that a clock which jumps (a FakeClock
// advanced by a test) wakes it to compute its wait again. RealClock never jumps: Watch/Unwatch are
// no-ops, and a sleeper on it wakes only at its deadline or when its owner wakes it.
// Thread-safety: implementations are safe for concurrent use; Wake() is called with no lock of
// the clock held (a Waker may read the clock).
#pragma once

#include <chrono>

namespace registrar {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  // Told when the clock moved other than by real time passing.
  class Waker {
   public:
    virtual ~Waker() = default;
    virtual void Wake() = 0;
  };

  virtual ~Clock() = default;
  // Monotonic time, for deadlines and intervals.
  virtual TimePoint Now() const = 0;
  // Wall-clock time, for timestamps shown to people (status, logs, Kubernetes objects).
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
  // Registers / unregisters `waker` (not owned; unregister before destroying it). After Unwatch
  // returns, the waker is not called any more.
  virtual void Watch(Waker* /*waker*/) {}
  virtual void Unwatch(Waker* /*waker*/) {}
};

class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::now();
  }
  // The process-wide real clock.
  static RealClock& Get();
};

}  // namespace registrar
