// File: tests/testing/fake_clock.h
//
// A Clock that moves only when a test says so. Thread-safe.
#pragma once

#include <chrono>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/common/clock.h"

namespace registrar::testing {

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  std::chrono::system_clock::time_point WallNow() const override {
    absl::MutexLock lock(&mu_);
    return wall_ + (now_ - TimePoint{});
  }
  void Advance(Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  TimePoint now_ ABSL_GUARDED_BY(mu_){std::chrono::hours(1)};
  const std::chrono::system_clock::time_point wall_{
      std::chrono::seconds(1767225600)};  // 2026-01-01
};

}  // namespace registrar::testing
