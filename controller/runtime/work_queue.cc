#include "controller/runtime/work_queue.h"

#include <algorithm>
#include <cmath>

namespace registrar::runtime {

WorkQueue::WorkQueue(Clock& clock, Options options, Hooks hooks)
    : clock_(clock),
      options_(options),
      hooks_(std::move(hooks)),
      tokens_(options.burst),
      tokens_at_(clock.Now()),
      delay_thread_(clock, "queue-delay", [this]() -> std::optional<TimePoint> {
        absl::MutexLock lock(&mu_);
        ProcessDueLocked();
        return shutting_down_ ? std::nullopt : delayed_.NextDue();
      }) {
  if (options_.delay_thread) {
    delay_thread_.Start();
  }
}

WorkQueue::~WorkQueue() { ShutDown(); }

void WorkQueue::Add(const std::string& key, Priority priority) {
  absl::MutexLock lock(&mu_);
  AddLocked(key, priority);
}

void WorkQueue::AddLocked(const std::string& key, Priority priority) {
  if (shutting_down_) {
    return;
  }
  if (auto held = hold_.find(key); held != hold_.end()) {
    if (clock_.Now() < held->second) {
      DelayLocked(key, held->second);
      return;
    }
    hold_.erase(held);
  }
  if (auto it = dirty_.find(key); it != dirty_.end()) {
    if (priority == Priority::kNormal && it->second == Priority::kLow) {
      it->second = Priority::kNormal;
      if (auto at = low_at_.find(key); at != low_at_.end()) {  // waiting: raise it
        low_.erase(at->second);
        low_at_.erase(at);
        queue_.push_back(key);
        ready_cv_.Signal();
      }
    }
    return;
  }
  dirty_.emplace(key, priority);
  if (hooks_.add) {
    hooks_.add();
  }
  if (processing_.contains(key)) {
    return;
  }
  EnqueueLocked(key, priority);
}

void WorkQueue::EnqueueLocked(const std::string& key, Priority priority) {
  if (priority == Priority::kLow) {
    low_at_[key] = low_.insert(low_.end(), key);
  } else {
    queue_.push_back(key);
  }
  ReportDepthLocked();
  ready_cv_.Signal();
}

void WorkQueue::ReportDepthLocked() {
  if (hooks_.depth) {
    hooks_.depth(static_cast<int64_t>(queue_.size() + low_.size()));
  }
}

void WorkQueue::AddAfter(const std::string& key, Duration delay) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) {
    return;
  }
  if (delay <= Duration::zero()) {
    AddLocked(key, Priority::kNormal);
    return;
  }
  DelayLocked(key, clock_.Now() + delay);
}

void WorkQueue::DelayLocked(const std::string& key, TimePoint due) {
  if (delayed_.Schedule(key, due)) {
    delay_thread_.WakeAt(due);
  }
}

WorkQueue::Duration WorkQueue::RateLimitDelayLocked(const std::string& key) {
  const int exp = failures_[key]++;
  const double item_ticks = static_cast<double>(options_.base_backoff.count()) * std::pow(2.0, exp);
  const Duration item = item_ticks >= static_cast<double>(options_.max_backoff.count())
                            ? options_.max_backoff
                            : Duration(static_cast<Duration::rep>(item_ticks));

  const TimePoint now = clock_.Now();
  const double elapsed = std::chrono::duration<double>(now - tokens_at_).count();
  tokens_ = std::min<double>(options_.burst, tokens_ + elapsed * options_.qps);
  tokens_at_ = now;
  tokens_ -= 1;
  Duration bucket = Duration::zero();
  if (tokens_ < 0) {
    bucket = std::chrono::duration_cast<Duration>(
        std::chrono::duration<double>(-tokens_ / options_.qps));
  }
  return std::max(item, bucket);
}

void WorkQueue::AddRateLimited(const std::string& key, Duration at_least) {
  Duration delay;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      return;
    }
    delay = std::max(RateLimitDelayLocked(key), at_least);
    if (at_least > Duration::zero()) {
      hold_[key] = clock_.Now() + at_least;
    }
    if (hooks_.retry) {
      hooks_.retry();
    }
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) {
  absl::MutexLock lock(&mu_);
  failures_.erase(key);
  hold_.erase(key);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

std::optional<std::string> WorkQueue::Get() {
  absl::MutexLock lock(&mu_);
  while (queue_.empty() && low_.empty() && !shutting_down_) {
    ready_cv_.Wait(&mu_);
  }
  if (shutting_down_) {
    return std::nullopt;
  }
  std::string key;
  if (!queue_.empty()) {
    key = std::move(queue_.front());
    queue_.pop_front();
  } else {
    key = std::move(low_.front());
    low_.pop_front();
    low_at_.erase(key);
  }
  processing_.insert(key);
  dirty_.erase(key);
  ReportDepthLocked();
  return key;
}

void WorkQueue::Done(const std::string& key) {
  absl::MutexLock lock(&mu_);
  processing_.erase(key);
  if (auto it = dirty_.find(key); it != dirty_.end() && !shutting_down_) {
    EnqueueLocked(key, it->second);
  }
}

int WorkQueue::Len() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size() + low_.size());
}

int WorkQueue::ProcessDue() {
  absl::MutexLock lock(&mu_);
  return ProcessDueLocked();
}

int WorkQueue::ProcessDueLocked() {
  const TimePoint now = clock_.Now();
  int moved = 0;
  while (std::optional<std::string> key = delayed_.PopDue(now)) {
    AddLocked(*key, Priority::kNormal);
    ++moved;
  }
  return moved;
}

std::optional<WorkQueue::TimePoint> WorkQueue::NextDue() const {
  absl::MutexLock lock(&mu_);
  return delayed_.NextDue();
}

void WorkQueue::ShutDown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  ready_cv_.SignalAll();
  delay_thread_.Wake();  // it sleeps with no deadline from now on; the destructor joins it
}

bool WorkQueue::ShuttingDown() const {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

}  // namespace registrar::runtime
