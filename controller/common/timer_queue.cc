#include "controller/common/timer_queue.h"

#include "absl/time/time.h"

#include "controller/common/thread_name.h"

namespace registrar {

TimerThread::TimerThread(Clock& clock, std::string name, Step step)
    : clock_(clock), name_(std::move(name)), step_(std::move(step)) {}

TimerThread::~TimerThread() { Stop(); }

void TimerThread::Start() {
  if (thread_.joinable()) {
    return;
  }
  stopping_ = false;
  {
    absl::MutexLock lock(&mu_);
    woken_ = false;
    running_ = true;
  }
  clock_.Watch(&clock_waker_);
  thread_ = std::thread([this] { Run(); });
}

void TimerThread::Stop() {
  if (!thread_.joinable()) {
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.Signal();
  }
  thread_.join();
  clock_.Unwatch(&clock_waker_);
}

void TimerThread::WakeAt(TimePoint when) {
  absl::MutexLock lock(&mu_);
  if (woken_) {
    return;
  }
  if (running_) {
    woken_ = true;  // the step may have read the state before this change: run it again
    return;
  }
  if (when < planned_) {
    woken_ = true;
    cv_.Signal();
  }
}

void TimerThread::ClockWaker::Wake() {
  absl::MutexLock lock(&owner_.mu_);
  owner_.cv_.Signal();  // the sleeper measures its wait again on the moved clock
}

void TimerThread::Run() {
  SetCurrentThreadName(name_);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        return;
      }
      woken_ = false;
      running_ = true;
    }
    ++steps_;
    const std::optional<TimePoint> next = step_();
    absl::MutexLock lock(&mu_);
    running_ = false;
    planned_ = next.value_or(TimePoint::max());
    while (!stopping_ && !woken_) {
      if (!next) {
        cv_.Wait(&mu_);
        continue;
      }
      const TimePoint now = clock_.Now();
      if (now >= *next) {
        break;
      }
      cv_.WaitWithTimeout(&mu_, absl::FromChrono(*next - now));
    }
    planned_ = TimePoint::max();
  }
}

}  // namespace registrar
