// File: tests/testing/fake_clock.h
//
// A Clock that moves only when a test says so. Thread-safe.
#pragma once

#include <chrono>
#include <mutex>

#include "controller/common/clock.h"

namespace registrar::testing {

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  std::chrono::system_clock::time_point WallNow() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_ + (now_ - TimePoint{});
  }
  void Advance(Duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_{std::chrono::hours(1)};
  std::chrono::system_clock::time_point wall_{std::chrono::seconds(1767225600)};  // 2026-01-01
};

}  // namespace registrar::testing
