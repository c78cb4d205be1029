#include "controller/publisher/state_board.h"

#include "absl/time/time.h"

namespace registrar::publisher {

bool StateBoard::Publish(const State& state) {
  absl::MutexLock lock(&mu_);
  State& slot = states_[state.id];
  bool changed = slot.phase != state.phase || slot.cause != state.cause ||
                 slot.message != state.message || slot.full_key != state.full_key ||
                 slot.lease_id != state.lease_id || slot.value != state.value || slot.id.empty();
  auto last = slot.last_renewal;
  slot = state;
  slot.last_renewal = last;
  return changed;
}

void StateBoard::Erase(const std::string& id) {
  absl::MutexLock lock(&mu_);
  states_.erase(id);
}

void StateBoard::NoteRenewal(int64_t lease, std::chrono::system_clock::time_point when) {
  absl::MutexLock lock(&mu_);
  renewals_[lease] = when;
}

std::optional<std::chrono::system_clock::time_point> StateBoard::LastRenewal(int64_t lease) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = renewals_.find(lease);
  if (it == renewals_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void StateBoard::ForgetRenewal(int64_t lease) {
  absl::MutexLock lock(&mu_);
  renewals_.erase(lease);
}

void StateBoard::Count(int64_t EngineStats::*counter) {
  absl::MutexLock lock(&mu_);
  ++(stats_.*counter);
}

void StateBoard::CountRevoke(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  ++stats_.revokes[reason];
}

bool StateBoard::SetReachable(bool reachable) {
  absl::MutexLock lock(&mu_);
  bool changed = stats_.etcd_reachable != reachable;
  stats_.etcd_reachable = reachable;
  return changed;
}

void StateBoard::SetPendingRevokes(int64_t n) {
  absl::MutexLock lock(&mu_);
  stats_.pending_revokes = n;
}

void StateBoard::SetConnections(int64_t n) {
  absl::MutexLock lock(&mu_);
  stats_.connections = n;
}

void StateBoard::SetUnclaimed(std::vector<AdoptedRecord> records) {
  absl::MutexLock lock(&mu_);
  unclaimed_.clear();
  for (AdoptedRecord& r : records) {
    std::string key = r.full_key;
    unclaimed_.emplace(std::move(key), std::move(r));
  }
}

void StateBoard::Unclaim(const std::string& full_key) {
  absl::MutexLock lock(&mu_);
  unclaimed_.erase(full_key);
}

void StateBoard::ClearUnclaimed() {
  absl::MutexLock lock(&mu_);
  unclaimed_.clear();
}

void StateBoard::SetAdoptionDone() {
  absl::MutexLock lock(&mu_);
  stats_.adoption_done = true;
}

std::optional<std::vector<AdoptedRecord>> StateBoard::Unclaimed(
    std::chrono::milliseconds wait) const {
  absl::MutexLock lock(&mu_);
  if (wait > std::chrono::milliseconds(0)) {
    mu_.AwaitWithTimeout(absl::Condition(&stats_.adoption_done), absl::FromChrono(wait));
  }
  if (!stats_.adoption_done) {
    return std::nullopt;
  }
  std::vector<AdoptedRecord> out;
  out.reserve(unclaimed_.size());
  for (const auto& [full_key, record] : unclaimed_) {
    out.push_back(record);
  }
  return out;
}

State StateBoard::WithRenewal(const State& state) const {
  State s = state;
  if (auto r = renewals_.find(s.lease_id); s.lease_id != 0 && r != renewals_.end()) {
    s.last_renewal = r->second;
  }
  return s;
}

std::optional<State> StateBoard::Get(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = states_.find(id);
  if (it == states_.end()) {
    return std::nullopt;
  }
  return WithRenewal(it->second);
}

std::vector<State> StateBoard::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<State> out;
  out.reserve(states_.size());
  for (const auto& [id, state] : states_) {
    out.push_back(WithRenewal(state));
  }
  return out;
}

EngineStats StateBoard::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace registrar::publisher
