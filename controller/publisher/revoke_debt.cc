#include "controller/publisher/revoke_debt.h"

namespace registrar::publisher {

const char* RevokeReasonName(RevokeReason reason) {
  switch (reason) {
    case RevokeReason::kRemoved:
      return "removed";
    case RevokeReason::kPaused:
      return "paused";
    case RevokeReason::kReplaced:
      return "replaced";
    case RevokeReason::kIntermediate:
      return "intermediate";
    case RevokeReason::kUnansweredGrant:
      return "unanswered grant";
    case RevokeReason::kGrantedForNobody:
      return "granted for nobody";
    case RevokeReason::kSettle:
      return "settle";
    case RevokeReason::kOrphan:
      return "orphan";
  }
  return "unknown";
}

RevokeDebt::Duration RevokeDebt::Delay(int failures) {
  Duration delay = kFirstRetry;
  for (int i = 1; i < failures && delay < kMaxRetry; ++i) {
    delay *= 2;
  }
  return delay < kMaxRetry ? delay : kMaxRetry;
}

void RevokeDebt::Schedule(Entry& entry, TimePoint when) {
  entry.in_flight = false;
  entry.next = when;
  schedule_.emplace(when, entry.revoke.lease);
}

bool RevokeDebt::Failed(PendingRevoke revoke, TimePoint now) {
  int64_t lease = revoke.lease;
  auto [it, added] = entries_.try_emplace(lease);
  Entry& entry = it->second;
  if (added) {
    entry.revoke = std::move(revoke);
  } else if (!entry.in_flight) {
    schedule_.erase({entry.next, lease});  // a failure not handed out by Due(): reschedule
  }
  ++entry.failures;
  bool at_once = entry.retry_at_once;
  entry.retry_at_once = false;
  if (at_once) {
    entry.failures = 0;
  }
  Schedule(entry, at_once ? now : now + Delay(entry.failures));
  return added;
}

std::optional<PendingRevoke> RevokeDebt::Paid(int64_t lease) {
  auto it = entries_.find(lease);
  if (it == entries_.end()) {
    return std::nullopt;
  }
  if (!it->second.in_flight) {
    schedule_.erase({it->second.next, lease});
  }
  PendingRevoke out = std::move(it->second.revoke);
  entries_.erase(it);
  return out;
}

void RevokeDebt::Reconnected(TimePoint now) {
  schedule_.clear();
  for (auto& [lease, entry] : entries_) {
    entry.failures = 0;
    if (entry.in_flight) {
      entry.retry_at_once = true;
    } else {
      Schedule(entry, now);
    }
  }
}

std::vector<PendingRevoke> RevokeDebt::Due(TimePoint now) {
  std::vector<PendingRevoke> out;
  while (!schedule_.empty() && schedule_.begin()->first <= now) {
    int64_t lease = schedule_.begin()->second;
    schedule_.erase(schedule_.begin());
    Entry& entry = entries_.at(lease);
    entry.in_flight = true;
    out.push_back(entry.revoke);
  }
  return out;
}

std::optional<RevokeDebt::TimePoint> RevokeDebt::NextCheck() const {
  if (schedule_.empty()) {
    return std::nullopt;
  }
  return schedule_.begin()->first;
}

int RevokeDebt::failures(int64_t lease) const {
  auto it = entries_.find(lease);
  return it == entries_.end() ? 0 : it->second.failures;
}

std::vector<int64_t> RevokeDebt::leases() const {
  std::vector<int64_t> out;
  out.reserve(entries_.size());
  for (const auto& [lease, entry] : entries_) {
    out.push_back(lease);
  }
  return out;
}

}  // namespace registrar::publisher
