#include "controller/publisher/event_loop.h"

#include <algorithm>

#include "absl/time/time.h"

namespace registrar::publisher {

void EventLoop::Post(Fn fn) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(fn));
  cv_.Signal();
}

void EventLoop::PostAfter(Clock::Duration delay, Fn fn) {
  absl::MutexLock lock(&mu_);
  timers_.push(Timer{clock_.Now() + delay, seq_++, std::move(fn)});
  cv_.Signal();
}

void EventLoop::Start() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void EventLoop::Stop() {
  if (!thread_.joinable()) {
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  thread_.join();
}

bool EventLoop::RunOne() {
  Fn fn;
  if (!queue_.empty()) {
    fn = std::move(queue_.front());
    queue_.pop_front();
  } else if (!timers_.empty() && timers_.top().when <= clock_.Now()) {
    fn = std::move(const_cast<Timer&>(timers_.top()).fn);
    timers_.pop();
  } else {
    return false;
  }
  mu_.Unlock();
  fn();
  mu_.Lock();
  return true;
}

size_t EventLoop::RunUntilIdle() {
  absl::MutexLock lock(&mu_);
  size_t ran = 0;
  while (RunOne()) {
    ++ran;
  }
  return ran;
}

size_t EventLoop::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

size_t EventLoop::timers() const {
  absl::MutexLock lock(&mu_);
  return timers_.size();
}

void EventLoop::Run() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (RunOne()) {
      continue;
    }
    if (timers_.empty()) {
      cv_.Wait(&mu_);
    } else {
      auto wait = std::min<Clock::Duration>(timers_.top().when - clock_.Now(),
                                            std::chrono::milliseconds(50));
      cv_.WaitWithTimeout(&mu_, absl::FromChrono(wait));
    }
  }
}

}  // namespace registrar::publisher
