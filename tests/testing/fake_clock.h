// File: tests/testing/fake_clock.h
//
// A Clock that moves only when a test says so. Advance() wakes every registered Waker (threads
// sleeping until a time on this clock, common/timer_queue.h), after the time has moved.
// Thread-safe; lock order: wakers_mu_ -> (the waker's own lock) -> mu_.
#pragma once

#include <chrono>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
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
    {
      absl::MutexLock lock(&mu_);
      now_ += d;
    }
    absl::MutexLock lock(&wakers_mu_);
    for (Waker* waker : wakers_) {
      waker->Wake();
    }
  }
  void Watch(Waker* waker) override {
    absl::MutexLock lock(&wakers_mu_);
    wakers_.insert(waker);
  }
  void Unwatch(Waker* waker) override {
    absl::MutexLock lock(&wakers_mu_);
    wakers_.erase(waker);
  }

 private:
  mutable absl::Mutex mu_;
  TimePoint now_ ABSL_GUARDED_BY(mu_){std::chrono::hours(1)};
  const std::chrono::system_clock::time_point wall_{
      std::chrono::seconds(1767225600)};  // 2026-01-01
  absl::Mutex wakers_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::flat_hash_set<Waker*> wakers_ ABSL_GUARDED_BY(wakers_mu_);
};

}  // namespace registrar::testing
