// Adoption and what the engine hears from its connections (engine_impl.h).
#include <algorithm>

#include "absl/strings/str_cat.h"

#include "controller/common/format.h"
#include "controller/publisher/engine_impl.h"
#include "controller/publisher/etcd_errors.h"
#include "controller/publisher/records.h"
#include "spdlog/spdlog.h"

namespace registrar::publisher {

namespace {

constexpr std::chrono::seconds kProbeInterval{2};
// The probe's tick while the default target's keep-alive stream answers and no other target is
// connected: the tick then has nothing to do (the renewal answers prove etcd reachable and carry
// the revisions). It bounds how long "reachable" can stay stale when the last lease has just gone
// (no renewals left to notice a silent etcd); the keeper's "stream down" restarts the probe at once.
constexpr std::chrono::seconds kQuietProbeInterval{10};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Adoption.

void EngineImpl::Adopt() {
  Connection* conn = default_conn_;
  std::string prefix = absl::StrCat(options_.owner_prefix, options_.owner_id, "/");
  pb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(etcd::PrefixRangeEnd(prefix));
  conn->client->Range(std::move(req), [this, conn, prefix](absl::StatusOr<pb::RangeResponse> r) {
    loop_.Post([this, conn, prefix, r = std::move(r)] {
      if (!r.ok()) {
        AdoptionFailed(r.status());
        loop_.PostAfter(adopt_backoff_.Next(), [this] { Adopt(); });
        return;
      }
      if (!adopt_failure_.ok()) {
        spdlog::info("adoption: ownership records read after: {}", adopt_failure_.message());
        adopt_failure_ = absl::OkStatus();
      }
      conn->regressions_seen = conn->client->revision_regressions();
      std::vector<AdoptedRecord> unclaimed;
      for (const AdoptedLease& a : adoption_.Load(*r, prefix)) {
        conn->keeper->Add(a.lease, std::max<int64_t>(a.ttl(), 1), /*renew_now=*/true);
        if (a.record.cluster == options_.cluster) {
          unclaimed.push_back({.id = absl::StrCat(a.record.namespace_, "/", a.record.name),
                               .uid = a.record.uid,
                               .namespace_ = a.record.namespace_,
                               .name = a.record.name,
                               .full_key = a.full_key,
                               .lease = a.lease});
        }
      }
      board_.SetUnclaimed(std::move(unclaimed));
      spdlog::info("adoption: {} ownership record(s) of owner {} kept alive", adoption_.held(),
                   options_.owner_id);
      FinishAdoption();
    });
  });
}

void EngineImpl::AdoptionFailed(const absl::Status& status) {
  if (status.message() != adopt_failure_.message()) {
    spdlog::warn(
        "adoption: reading the ownership records failed: {} (retried; registrations "
        "wait for it)",
        status.message());
  }
  adopt_failure_ = status;
  for (auto& [id, reg] : regs_) {
    ShowAdoptionFailure(reg);
  }
}

void EngineImpl::ShowAdoptionFailure(Reg& reg) {
  if (adopt_failure_.ok() || reg.removed || Classify(adopt_failure_) != ErrorClass::kCredentials) {
    return;
  }
  SetState(reg, Phase::kFailed, Cause::kAuthFailed,
           absl::StrCat("reading the ownership records: ", adopt_failure_.message()));
}

void EngineImpl::FinishAdoption() {
  adoption_.SetDone();
  for (auto& [id, reg] : regs_) {
    Claim(reg);
  }
  for (const std::string& id : Ids()) {
    if (Reg* reg = Find(id)) {
      Step(*reg);
    }
  }
  RevokeOrphans();
  board_.SetAdoptionDone();
}

void EngineImpl::Claim(Reg& reg) {
  const Desired& d = reg.desired;
  if (reg.lease != 0 || reg.removed) {
    return;
  }
  if (d.target && d.target->Identity() != default_conn_->identity) {
    ClaimOnTarget(reg);
    return;
  }
  if (adoption_.held() == 0) {
    return;
  }
  std::optional<AdoptedLease> a = adoption_.Claim(d);
  if (!a) {
    return;
  }
  board_.Unclaim(a->full_key);
  TakeAdopted(reg, default_conn_, *a);
  spdlog::info("{}: adopted lease {} for {}", d.id, a->lease, a->full_key);
}

void EngineImpl::TakeAdopted(Reg& reg, Connection* conn, const AdoptedLease& a) {
  reg.conn = conn;
  reg.lease = a.lease;
  reg.granted_at.reset();  // its renewals tell how long it lasts
  reg.granted_ttl = a.ttl();
  reg.requested_ttl = a.record.ttl;
  reg.full_key = a.full_key;
  reg.written_value = a.record.value;
  reg.written_record = EncodeRecord(a.record);
  reg.key_present = true;
  conn->lease_owner[a.lease] = reg.desired.id;
  conn->key_owner[a.full_key] = reg.desired.id;
  board_.Count(&EngineStats::adopted);
}

void EngineImpl::RevokeOrphans() {
  for (AdoptedLease& a : adoption_.TakeOrphans()) {
    spdlog::info("orphan {} (lease {}, {}/{}): revoking", a.full_key, a.lease, a.record.namespace_,
                 a.record.name);
    board_.Unclaim(a.full_key);
    default_conn_->keeper->Remove(a.lease);
    pool_.Revoke(default_conn_, {.lease = a.lease,
                                 .reason = RevokeReason::kOrphan,
                                 .owner = absl::StrCat(a.record.namespace_, "/", a.record.name),
                                 .full_key = a.full_key});
  }
  RevokeTargetOrphans();
}

void EngineImpl::OnRevokeDeferred(Connection* /*conn*/, const PendingRevoke& /*revoke*/) {
  board_.SetPendingRevokes(static_cast<int64_t>(pool_.debt_size()));
}

void EngineImpl::OnRevoked(Connection* /*conn*/, const PendingRevoke& revoke, bool from_debt) {
  if (from_debt) {
    board_.SetPendingRevokes(static_cast<int64_t>(pool_.debt_size()));
  }
  board_.CountRevoke(RevokeReasonName(revoke.reason));
  if (revoke.reason == RevokeReason::kOrphan) {
    board_.Count(&EngineStats::orphans_revoked);
  }
  if (!from_debt) {
    return;
  }
  Reg* reg = revoke.owner.empty() ? nullptr : Find(revoke.owner);
  if (reg == nullptr || reg->pending_revoke != revoke.lease) {
    return;
  }
  reg->pending_revoke = 0;
  reg->pending_revoke_status = absl::OkStatus();
  if (reg->activity == Activity::kBackingOff) {
    reg->activity = Activity::kIdle;  // a removed one waiting to be let go: done now
  }
  Step(*reg);
}

// ---------------------------------------------------------------------------------------------
// Connection events.

void EngineImpl::OnRenewed(Connection* /*conn*/, int64_t lease) {
  board_.NoteRenewal(lease, clock_.WallNow());
}

// etcd answered with a revision lower than one seen before: it lost its data.
// Every registration on that connection is registered anew at once.
void EngineImpl::CheckRegression(Connection* conn) {
  int64_t regressions = conn->client->revision_regressions();
  if (regressions == conn->regressions_seen) {
    return;
  }
  conn->regressions_seen = regressions;
  spdlog::warn("etcd {} lost its data (revision went backwards): registering everything anew",
               conn->client->target());
  board_.Count(&EngineStats::data_losses);
  if (conn == default_conn_) {  // adopted leases live on the default target only
    for (int64_t lease : adoption_.Clear()) {
      conn->keeper->Remove(lease);
    }
    board_.ClearUnclaimed();
  } else if (conn->adoption) {
    for (int64_t lease : conn->adoption->Clear()) {
      conn->keeper->Remove(lease);
    }
  }
  for (const std::string& id : Ids()) {
    Reg* reg = Find(id);
    if (reg == nullptr) {
      continue;
    }
    if (reg->old && reg->old->conn == conn) {
      conn->keeper->Remove(reg->old->lease);
      reg->old.reset();
    }
    if (reg->lease != 0 && reg->conn == conn && reg->activity != Activity::kInFlight) {
      HandleLeaseLost(*reg, "etcd lost its data");
    }
  }
  watches_.ReopenAll(conn);
}

void EngineImpl::OnConnectivity(Connection* conn, bool up) {
  if (conn->healthy == up) {
    return;
  }
  conn->healthy = up;
  conn->down = !up;
  if (up) {
    conn->rejected = absl::OkStatus();  // it authenticated again
  }
  if (conn == default_conn_ && !up) {
    board_.SetReachable(false);
    RestartProbe();  // a Status call now and every 2 s, not at the quiet tick
  }
  spdlog::info("etcd {} keep-alive stream {}", conn->client->target(), up ? "up" : "down");
  if (up) {
    pool_.Reconnected(conn);
  }
  for (const std::string& id : Ids()) {
    Reg* reg = Find(id);
    if (reg == nullptr) {
      continue;
    }
    if (!up && reg->old && reg->old->conn == conn && reg->state.phase == Phase::kRegistered) {
      ScheduleHeldKeyCheck(*reg);  // moving, its key on the lease being replaced here
    }
    if (reg->conn != conn || reg->lease == 0) {
      continue;
    }
    if (!up && reg->state.phase == Phase::kRegistered) {
      // Moving (a Secret-first password rotation: etcd 3.5/3.6 close the old stream when etcd
      // gets the new password), the key still live: Registered and moving, not a false outage.
      if (!KeepShowingHeldKey(*reg)) {
        SetState(*reg, Phase::kPending, Cause::kEtcdUnavailable,
                 "keep-alive stream to etcd is down");
      }
    } else if (up && reg->state.phase == Phase::kRegistered && reg->state.moving &&
               reg->state.message == kHeldKeyMessage) {
      SetState(*reg, Phase::kRegistered, Cause::kRegistered);  // its stream is back
    } else if (up &&
               (reg->state.cause == Cause::kEtcdUnavailable ||
                reg->state.cause == Cause::kAuthFailed) &&
               reg->activity != Activity::kInFlight) {
      Step(*reg);
    }
  }
}

void EngineImpl::OnLeaseLost(Connection* conn, int64_t lease) {
  if (conn == default_conn_) {
    if (std::optional<std::string> full_key = adoption_.ForgetLease(lease)) {
      board_.Unclaim(*full_key);
    }
  } else if (conn->adoption) {
    conn->adoption->ForgetLease(lease);
  }
  auto owner = conn->lease_owner.find(lease);
  if (owner == conn->lease_owner.end()) {
    return;
  }
  Reg* reg = Find(owner->second);
  conn->lease_owner.erase(owner);
  if (reg == nullptr) {
    return;
  }
  if (reg->old && reg->old->conn == conn && reg->old->lease == lease) {
    reg->old.reset();
    return;
  }
  if (reg->lease == lease && reg->conn == conn) {
    if (reg->activity == Activity::kInFlight) {
      reg->verify = true;  // the op in flight fails with "lease not found" and handles it
      return;
    }
    HandleLeaseLost(*reg, "etcd no longer knows the lease");
  }
}

std::optional<std::string> EngineImpl::SettleKey(Connection* conn) {
  for (const auto& [lease, id] : conn->lease_owner) {
    const Reg* reg = Find(id);
    if (reg != nullptr && reg->lease == lease && reg->key_present && !reg->full_key.empty()) {
      return records_.on ? records_.KeyOf(reg->full_key) : reg->full_key;
    }
  }
  return std::nullopt;
}

// etcd answers again (new credentials, a trusted certificate): registrations that failed for
// credentials try again now instead of after their slow retry.
void EngineImpl::RetryAuthFailed() {
  for (const std::string& id : Ids()) {
    Reg* reg = Find(id);
    if (reg != nullptr && reg->state.cause == Cause::kAuthFailed &&
        reg->activity == Activity::kBackingOff) {
      reg->activity = Activity::kIdle;
      Step(*reg);
    }
  }
}

// Readiness: a Maintenance.Status call on the default target every couple of seconds, so
// "etcd reachable" is known even when no lease is held yet. While the default target's keep-alive
// stream holds leases and answers, its answers prove etcd reachable and carry the revisions
// (OnAnswered -> CheckRegression) as well as a Status call would, and the keeper marks the stream
// down when it goes silent or breaks (OnConnectivity, which clears "reachable" and restarts the
// probe at once): the probe then makes no call, and ticks only for its bookkeeping (closing
// unused target connections) every 2 s while other targets are connected, else every 10 s (an idle
// controller's etcd traffic is its renewals and its engine sleeps; docs/architecture.md, "Threads").
// `epoch` is the probe chain's: RestartProbe starts a new chain and the old one ends at its tick.
void EngineImpl::Probe(uint64_t epoch) {
  if (epoch != probe_epoch_) {
    return;
  }
  if (default_conn_->healthy && default_conn_->keeper->size() > 0 &&
      board_.stats().etcd_reachable) {
    CheckRegression(default_conn_);
    CloseUnusedTargets();
    const bool targets = pool_.all().size() > 1;
    loop_.PostAfter(targets ? Clock::Duration(kProbeInterval) : kQuietProbeInterval,
                    [this, epoch] { Probe(epoch); });
    return;
  }
  default_conn_->client->Status({}, [this, epoch](absl::StatusOr<pb::StatusResponse> r) {
    loop_.Post([this, epoch, ok = r.ok(),
                message = r.ok() ? "" : std::string(r.status().message())] {
      if (board_.SetReachable(ok)) {
        if (ok) {
          spdlog::info("etcd {} reachable", default_conn_->client->target());
          pool_.Reconnected(default_conn_);
          RetryAuthFailed();
        } else {
          spdlog::warn("etcd {} unreachable: {}", default_conn_->client->target(), message);
        }
      }
      CheckRegression(default_conn_);
      CloseUnusedTargets();
      loop_.PostAfter(kProbeInterval, [this, epoch] { Probe(epoch); });
    });
  });
}

void EngineImpl::RestartProbe() {
  const uint64_t epoch = ++probe_epoch_;
  loop_.Post([this, epoch] { Probe(epoch); });
}

}  // namespace registrar::publisher
