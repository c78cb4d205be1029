#include "controller/publisher/event_loop.h"

#include <algorithm>

namespace registrar::publisher {

void EventLoop::Post(Fn fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void EventLoop::PostAfter(Clock::Duration delay, Fn fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    timers_.push(Timer{clock_.Now() + delay, seq_++, std::move(fn)});
  }
  cv_.notify_one();
}

void EventLoop::Start() {
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

void EventLoop::Stop() {
  if (!thread_.joinable()) {
    return;
  }
  thread_.request_stop();
  cv_.notify_all();
  thread_.join();
}

bool EventLoop::RunOne(std::unique_lock<std::mutex>& lock) {
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
  lock.unlock();
  fn();
  lock.lock();
  return true;
}

size_t EventLoop::RunUntilIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  size_t ran = 0;
  while (RunOne(lock)) {
    ++ran;
  }
  return ran;
}

size_t EventLoop::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t EventLoop::timers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return timers_.size();
}

void EventLoop::Run(std::stop_token stop) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop.stop_requested()) {
    if (RunOne(lock)) {
      continue;
    }
    if (timers_.empty()) {
      cv_.wait(lock, stop, [&] { return !queue_.empty(); });
    } else {
      auto wait = std::min<Clock::Duration>(timers_.top().when - clock_.Now(),
                                            std::chrono::milliseconds(50));
      cv_.wait_for(lock, stop, wait, [&] { return !queue_.empty(); });
    }
  }
}

}  // namespace registrar::publisher
