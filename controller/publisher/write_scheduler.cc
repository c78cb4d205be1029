#include "controller/publisher/write_scheduler.h"

#include <algorithm>

namespace registrar::publisher {

void WriteScheduler::Submit(WriteKind kind, Op op, bool first, bool settle) {
  int k = Index(kind);
  if (first) {
    queue_[k].insert(queue_[k].begin() + static_cast<std::ptrdiff_t>(first_count_[k]),
                     Queued{std::move(op), settle});
    ++first_count_[k];
  } else {
    queue_[k].push_back(Queued{std::move(op), settle});
  }
}

void WriteScheduler::Settled(WriteKind kind) {
  settle_ = kind == WriteKind::kKey ? Settle::kLease : Settle::kNone;
}

void WriteScheduler::Done(WriteKind kind, TimePoint now) {
  --in_flight_[Index(kind)];
  last_activity_ = now;
}

void WriteScheduler::MaybeSwitch(TimePoint now) {
  const int cur = Index(phase_);
  const int other = Index(Other(phase_));
  if (!switching_ && !queue_[other].empty() &&
      (queue_[cur].empty() || now - phase_since_ >= kMinPhase)) {
    switching_ = true;
  }
  if (switching_ && in_flight_[cur] == 0) {
    phase_ = Other(phase_);
    phase_since_ = now;
    switching_ = false;
  }
}

std::vector<WriteScheduler::Op> WriteScheduler::Ready(TimePoint now, bool renewals_idle) {
  std::vector<Op> out;
  MaybeSwitch(now);
  if (switching_ || !renewals_idle) {
    return out;
  }
  int k = Index(phase_);
  while (!queue_[k].empty() && in_flight() < max_in_flight_) {
    Queued next = std::move(queue_[k].front());
    queue_[k].pop_front();
    if (first_count_[k] > 0) {
      --first_count_[k];
    }
    ++in_flight_[k];
    last_activity_ = now;
    if (phase_ == WriteKind::kKey && !next.settle) {
      settle_ = Settle::kKey;
    }
    out.push_back(std::move(next.op));
  }
  return out;
}

std::optional<WriteScheduler::TimePoint> WriteScheduler::NextCheck() const {
  std::optional<TimePoint> next;
  if (!switching_ && !queue_[Index(Other(phase_))].empty()) {
    next = phase_since_ + kMinPhase;
  }
  if (settle_ != Settle::kNone && queued() == 0 && in_flight() == 0) {
    TimePoint settle = last_activity_ + kSettleAfter;
    next = next ? std::min(*next, settle) : settle;
  }
  return next;
}

std::optional<WriteKind> WriteScheduler::SettleDue(TimePoint now) const {
  if (settle_ == Settle::kNone || queued() != 0 || in_flight() != 0 ||
      now - last_activity_ < kSettleAfter) {
    return std::nullopt;
  }
  return settle_ == Settle::kKey ? WriteKind::kKey : WriteKind::kLease;
}

}  // namespace registrar::publisher
