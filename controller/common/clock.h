// File: controller/common/clock.h
//
// Time behind a seam: everything takes a Clock& and only RealClock reads the system clocks,
// so tests advance a FakeClock (tests/testing/fake_clock.h) instead of sleeping.
// Thread-safety: implementations are safe for concurrent use.
#pragma once

#include <chrono>

namespace registrar {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time, for deadlines and intervals.
  virtual TimePoint Now() const = 0;
  // Wall-clock time, for timestamps shown to people (status, logs, Kubernetes objects).
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
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
