#include "controller/etcd/keepalive_schedule.h"

#include <algorithm>

namespace registrar::etcd {

KeepAliveSchedule::Duration KeepAliveSchedule::Interval(int64_t ttl_seconds) {
  ttl_seconds = std::min(ttl_seconds, kMaxTtlSeconds);
  return std::max<Duration>(std::chrono::milliseconds(100),
                            std::chrono::milliseconds(ttl_seconds * 1000 / 3));
}

KeepAliveSchedule::Duration KeepAliveSchedule::StaleAfter(int64_t min_ttl_seconds) {
  min_ttl_seconds = std::min(min_ttl_seconds, kMaxTtlSeconds);
  return std::chrono::milliseconds(min_ttl_seconds * 1000 / 3) + std::chrono::seconds(1);
}

KeepAliveSchedule::Duration KeepAliveSchedule::BatchWindow() const {
  std::optional<int64_t> ttl = min_ttl();
  if (!ttl) {
    return Duration::zero();
  }
  return std::min<Duration>(std::chrono::milliseconds(250), Interval(*ttl) / 8);
}

void KeepAliveSchedule::Schedule(int64_t lease, Lease& state, TimePoint due) {
  state.due = due;
  state.generation = next_generation_++;
  heap_.push(Entry{due, lease, state.generation});
}

void KeepAliveSchedule::SetTtl(Lease& state, int64_t ttl) {
  if (state.ttl == ttl) {
    return;
  }
  if (state.ttl > 0) {
    auto it = ttl_counts_.find(state.ttl);
    if (--it->second == 0) {
      ttl_counts_.erase(it);
    }
  }
  state.ttl = ttl;
  if (ttl > 0) {
    ++ttl_counts_[ttl];
  }
}

void KeepAliveSchedule::Add(int64_t lease, int64_t ttl_seconds, TimePoint now, bool renew_now) {
  Lease& state = leases_[lease];
  SetTtl(state, std::max<int64_t>(ttl_seconds, 1));
  Schedule(lease, state, renew_now ? now : now + Interval(state.ttl));
  DropStaleTop();
}

bool KeepAliveSchedule::Remove(int64_t lease) {
  auto it = leases_.find(lease);
  if (it == leases_.end()) {
    return false;
  }
  SetTtl(it->second, 0);
  leases_.erase(it);
  DropStaleTop();
  return true;
}

void KeepAliveSchedule::DropStaleTop() {
  while (!heap_.empty()) {
    const Entry& top = heap_.top();
    auto it = leases_.find(top.lease);
    if (it != leases_.end() && it->second.generation == top.generation) {
      return;
    }
    heap_.pop();
  }
}

std::vector<int64_t> KeepAliveSchedule::Due(TimePoint now, TimePoint horizon) {
  std::vector<int64_t> due;
  DropStaleTop();
  while (!heap_.empty() && heap_.top().due <= std::max(now, horizon)) {
    Entry top = heap_.top();
    heap_.pop();
    Lease& state = leases_.find(top.lease)->second;
    due.push_back(top.lease);
    outstanding_.push_back(now);
    Schedule(top.lease, state, std::max(now, top.due) + Interval(state.ttl));
    DropStaleTop();
  }
  return due;
}

bool KeepAliveSchedule::OnResponse(int64_t lease, int64_t ttl) {
  if (!outstanding_.empty()) {
    outstanding_.pop_front();
  }
  auto it = leases_.find(lease);
  if (it == leases_.end()) {
    return false;
  }
  if (ttl <= 0) {
    Remove(lease);
  } else {
    SetTtl(it->second, ttl);
  }
  return true;
}

void KeepAliveSchedule::OnStreamReset(TimePoint now) {
  outstanding_.clear();
  last_response_ = TimePoint{};
  heap_ = {};
  for (auto& [lease, state] : leases_) {
    Schedule(lease, state, now);
  }
}

std::optional<int64_t> KeepAliveSchedule::min_ttl() const {
  if (ttl_counts_.empty()) {
    return std::nullopt;
  }
  return ttl_counts_.begin()->first;
}

std::optional<KeepAliveSchedule::TimePoint> KeepAliveSchedule::NextWakeup() const {
  std::optional<TimePoint> next;
  if (!heap_.empty()) {
    next = heap_.top().due;
  }
  if (!outstanding_.empty() && !leases_.empty()) {
    TimePoint stale = SilentSince() + StaleAfter(*min_ttl());
    if (!next || stale < *next) {
      next = stale;
    }
  }
  return next;
}

bool KeepAliveSchedule::IsStreamStale(TimePoint now) const {
  if (outstanding_.empty() || leases_.empty()) {
    return false;
  }
  return now - SilentSince() >= StaleAfter(*min_ttl());
}

std::optional<KeepAliveSchedule::TimePoint> KeepAliveSchedule::silent_since() const {
  if (outstanding_.empty()) {
    return std::nullopt;
  }
  return SilentSince();
}

KeepAliveSchedule::TimePoint KeepAliveSchedule::SilentSince() const {
  return std::max(outstanding_.front(), last_response_);
}

}  // namespace registrar::etcd
