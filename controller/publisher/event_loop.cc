#include "controller/publisher/event_loop.h"

namespace registrar::publisher {

EventLoop::EventLoop(Clock& clock)
    : clock_(clock), thread_(clock, "engine", [this] { return Step(); }) {}

void EventLoop::Post(Fn fn) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(fn));
  thread_.Wake();
}

void EventLoop::PostAfter(Clock::Duration delay, Fn fn) {
  absl::MutexLock lock(&mu_);
  const uint64_t seq = seq_++;
  const Clock::TimePoint when = clock_.Now() + delay;
  timer_fns_.emplace(seq, std::move(fn));
  if (timers_.Schedule(seq, when)) {
    thread_.WakeAt(when);
  }
}

void EventLoop::Start() { thread_.Start(); }

void EventLoop::Stop() { thread_.Stop(); }

bool EventLoop::RunOne() {
  Fn fn;
  if (!queue_.empty()) {
    fn = std::move(queue_.front());
    queue_.pop_front();
  } else if (std::optional<uint64_t> seq = timers_.PopDue(clock_.Now())) {
    auto node = timer_fns_.extract(*seq);
    fn = std::move(node.mapped());
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

std::optional<Clock::TimePoint> EventLoop::Step() {
  absl::MutexLock lock(&mu_);
  while (!thread_.stopping() && RunOne()) {
  }
  return timers_.NextDue();
}

}  // namespace registrar::publisher
