#include "controller/publisher/write_scheduler.h"

#include <algorithm>

namespace registrar::publisher {

void WriteScheduler::Submit(WriteKind kind, Op op, bool first, int cost, bool settle) {
  int k = Index(kind);
  Queued queued{std::move(op), std::max(cost, 1), settle};
  if (settle) {
    ++settle_queued_;
    queue_[k].push_front(std::move(queued));
    ++first_count_[k];
  } else if (first) {
    queue_[k].insert(queue_[k].begin() + static_cast<std::ptrdiff_t>(first_count_[k]),
                     std::move(queued));
    ++first_count_[k];
  } else {
    queue_[k].push_back(std::move(queued));
  }
}

void WriteScheduler::SetBudget(int entries_per_second, TimePoint now) {
  if (entries_per_second == budget_) {
    return;
  }
  budget_ = std::max(entries_per_second, 0);
  tokens_ = Capacity();
  refilled_ = now;
}

void WriteScheduler::Refill(TimePoint now) {
  if (budget_ == 0) {
    return;
  }
  double add = std::chrono::duration<double>(now - refilled_).count() * budget_;
  tokens_ = std::min(Capacity(), tokens_ + add);
  refilled_ = now;
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

std::vector<WriteScheduler::Op> WriteScheduler::Ready(
    TimePoint now, std::optional<TimePoint> renewals_silent_since) {
  std::vector<Op> out;
  held_until_.reset();
  const bool renew_first =
      renewals_silent_since.has_value() && now - *renewals_silent_since < renew_first_limit_;
  MaybeSwitch(now);
  Refill(now);
  int k = Index(phase_);
  while (!switching_ && !queue_[k].empty() && in_flight() < max_in_flight_) {
    const Queued& front = queue_[k].front();
    if (!front.settle) {
      if (renew_first) {
        held_until_ = *renewals_silent_since + renew_first_limit_;
        break;
      }
      if (budget_ > 0) {
        if (tokens_ < std::min<double>(front.cost, Capacity())) {
          break;
        }
        tokens_ -= front.cost;  // a large write may leave a debt the next ones wait out
      }
    }
    Queued next = std::move(queue_[k].front());
    queue_[k].pop_front();
    if (next.settle) {
      --settle_queued_;
    }
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
  std::optional<TimePoint> next = held_until_;
  if (!switching_ && !queue_[Index(Other(phase_))].empty()) {
    next = next ? std::min(*next, phase_since_ + kMinPhase) : phase_since_ + kMinPhase;
  }
  const auto& current = queue_[Index(phase_)];
  if (budget_ > 0 && !switching_ && !current.empty()) {
    double missing = std::min<double>(current.front().cost, Capacity()) - tokens_;
    if (missing > 0) {  // otherwise only the keep-alives hold it back, and they say when
      TimePoint refill = refilled_ + std::chrono::duration_cast<Clock::Duration>(
                                         std::chrono::duration<double>(missing / budget_));
      next = next ? std::min(*next, refill) : refill;
    }
  }
  if (settle_ != Settle::kNone && in_flight() == 0 && settle_queued_ == 0) {
    TimePoint settle = last_activity_ + kSettleAfter;
    next = next ? std::min(*next, settle) : settle;
  }
  return next;
}

std::optional<WriteKind> WriteScheduler::SettleDue(TimePoint now) const {
  if (settle_ == Settle::kNone || in_flight() != 0 || settle_queued_ != 0 ||
      now - last_activity_ < kSettleAfter) {
    return std::nullopt;
  }
  return settle_ == Settle::kKey ? WriteKind::kKey : WriteKind::kLease;
}

}  // namespace registrar::publisher
