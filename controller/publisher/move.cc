// A registration moving from one connection to another (engine_impl.h): its spec names other
// endpoints, or its Secret other credentials. Make before break keeps the key live on the
// current connection until it is written through the new one; meanwhile the registration shows
// Registered and moving (status: Reconciling, reason Moving). When the new connection cannot be
// used (etcd rejects its credentials: a Secret updated before etcd; or it is unreachable), the
// registration stays where it is, with a warning, instead of Failed. When etcd then rejects the
// current connection's credentials (the password was changed there), the new ones are tried at
// once (OnCredentialsRejected), so a same-user password rotation in either order keeps the key.
#include "absl/strings/str_cat.h"

#include "controller/common/format.h"
#include "controller/etcd/token_source.h"
#include "controller/publisher/engine_impl.h"
#include "controller/publisher/etcd_errors.h"
#include "spdlog/spdlog.h"

namespace registrar::publisher {

Connection* EngineImpl::Wanted(const Reg& reg) const {
  if (reg.removed || reg.desired.paused) {
    return nullptr;
  }
  return pool_.Find(reg.desired.target ? reg.desired.target->Identity()
                                       : options_.default_target.Identity());
}

namespace {

// The connection renews its leases: its keep-alive stream is up and etcd takes its credentials.
bool Renews(const Connection& conn) { return !conn.down && conn.rejected.ok(); }

}  // namespace

bool EngineImpl::HoldsLiveElsewhere(const Reg& reg, const Connection* target) const {
  // The target just failed: live while the holder renews the lease, or while its stream is being
  // reopened and the lease may not have ended (HeldKeyShowsLive, target_failed).
  auto live = [&](const std::optional<HeldKey>& held) {
    return held && held->conn != target &&
           (Renews(*held->conn) ||
            HeldKeyShowsLive({.lease_live = LeaseLeft(*held) > Clock::Duration::zero(),
                              .holder_rejected = !held->conn->rejected.ok(),
                              .target_failed = true}));
  };
  return live(CurrentKey(reg)) || live(OldKey(reg));
}

std::optional<EngineImpl::HeldKey> EngineImpl::CurrentKey(const Reg& reg) {
  if (reg.lease == 0 || !reg.key_present || reg.conn == nullptr) {
    return std::nullopt;
  }
  return HeldKey{reg.conn, reg.lease, reg.granted_ttl, reg.granted_at};
}

std::optional<EngineImpl::HeldKey> EngineImpl::OldKey(const Reg& reg) {
  if (!reg.old || !reg.old->holds_key) {
    return std::nullopt;
  }
  return HeldKey{reg.old->conn, reg.old->lease, reg.old->granted_ttl, reg.old->granted_at};
}

std::optional<EngineImpl::HeldKey> EngineImpl::HeldKeyOf(const Reg& reg) {
  std::optional<HeldKey> current = CurrentKey(reg);
  return current ? current : OldKey(reg);
}

Clock::Duration EngineImpl::LeaseLeft(const HeldKey& held) const {
  const std::chrono::seconds ttl(held.ttl);
  Clock::Duration left = Clock::Duration::min();
  if (held.granted_at) {
    left = *held.granted_at + ttl - clock_.Now();
  }
  if (std::optional<std::chrono::system_clock::time_point> renewed =
          board_.LastRenewal(held.lease)) {
    left = std::max(left,
                    std::chrono::duration_cast<Clock::Duration>(*renewed + ttl - clock_.WallNow()));
  }
  return left;
}

bool EngineImpl::KeepShowingHeldKey(Reg& reg) {
  const Connection* target = Wanted(reg);
  const std::optional<HeldKey> held = HeldKeyOf(reg);
  if (!reg.state.moving || target == nullptr || !held || held->conn == target ||
      !HeldKeyShowsLive({.lease_live = LeaseLeft(*held) > Clock::Duration::zero(),
                         .holder_rejected = !held->conn->rejected.ok(),
                         .target_failed = false})) {
    return false;
  }
  spdlog::info(
      "{}: the keep-alive stream holding lease {} is down; still Registered while it "
      "moves (the lease lasts at least {} ms more)",
      reg.desired.id, held->lease,
      std::chrono::duration_cast<std::chrono::milliseconds>(LeaseLeft(*held)).count());
  SetState(reg, Phase::kRegistered, Cause::kRegistered, kHeldKeyMessage);
  ScheduleHeldKeyCheck(reg);
  return true;
}

void EngineImpl::ScheduleHeldKeyCheck(const Reg& reg) {
  const std::optional<HeldKey> held = HeldKeyOf(reg);
  if (!held || Renews(*held->conn)) {
    return;
  }
  const Clock::Duration left = std::max(LeaseLeft(*held), Clock::Duration::zero());
  loop_.PostAfter(left + std::chrono::milliseconds(1),
                  [this, id = reg.desired.id, epoch = reg.epoch] { CheckHeldKey(id, epoch); });
}

void EngineImpl::CheckHeldKey(const std::string& id, uint64_t epoch) {
  Reg* reg = Find(id);
  if (reg == nullptr || reg->epoch != epoch || reg->state.phase != Phase::kRegistered ||
      !reg->state.moving) {
    return;
  }
  const std::optional<HeldKey> held = HeldKeyOf(*reg);
  if (!held || Renews(*held->conn) || held->conn == Wanted(*reg)) {
    return;  // renewed again, or moved
  }
  if (LeaseLeft(*held) > Clock::Duration::zero()) {
    ScheduleHeldKeyCheck(*reg);  // renewed meanwhile, then stopped again
    return;
  }
  SetState(*reg, Phase::kPending, Cause::kEtcdUnavailable,
           absl::StrCat("etcd ", held->conn->client->target(),
                        ": the connection holding the key stopped renewing its lease ", held->lease,
                        " and the lease may have ended (", held->ttl,
                        " s after its last renewal) before the key moved to the new one"));
}

void EngineImpl::UpdateMoving(Reg& reg, const Connection* target) {
  const bool moving =
      target != nullptr && ((reg.lease != 0 && reg.key_present && reg.conn != target) ||
                            (reg.old && reg.old->holds_key && reg.old->conn != target));
  if (moving == reg.state.moving && (moving || reg.state.warning.empty())) {
    return;
  }
  if (moving && !reg.state.moving) {
    spdlog::info("{}: moving {} to etcd {} (make before break: it stays live meanwhile)",
                 reg.desired.id, reg.full_key.empty() && reg.old ? reg.old->full_key : reg.full_key,
                 target->client->target());
  }
  reg.state.moving = moving;
  if (!moving) {
    reg.state.warning.clear();
  }
  Publish(reg);
}

void EngineImpl::ShowTargetFailure(Reg& reg, const Connection* target, const absl::Status& status,
                                   const std::string& message) {
  const bool credentials = Classify(status) == ErrorClass::kCredentials;
  if (HoldsLiveElsewhere(reg, target)) {
    reg.state.moving = true;
    ScheduleHeldKeyCheck(reg);  // its holder's stream may be down: honest once the lease may end
    if (!credentials) {
      // Said in the message of a Registered state, which only a move shows (Reconciling).
      SetState(reg, Phase::kRegistered, Cause::kRegistered,
               absl::StrCat("the new etcd target is not reachable yet (", message,
                            "); the key stays registered on the current one meanwhile"));
      return;
    }
    std::string warning = absl::StrCat(
        "etcd rejected the new credentials (", message,
        "); the key stays registered with the previous ones until etcd accepts the new ones");
    if (warning != reg.state.warning) {
      spdlog::warn("{}: {}", reg.desired.id, warning);
    }
    reg.state.warning = std::move(warning);
    SetState(reg, Phase::kRegistered, Cause::kRegistered);
    return;
  }
  SetState(reg, credentials ? Phase::kFailed : Phase::kPending,
           credentials ? Cause::kAuthFailed : Cause::kEtcdUnavailable, message);
}

namespace {

constexpr std::chrono::seconds kCredentialsCheck{5};

}  // namespace

void EngineImpl::CheckOlderCredentials(const Connection* candidate) {
  const Clock::TimePoint now = clock_.Now();
  for (Connection* other : pool_.all()) {
    if (other == candidate || !SameEtcd(other, candidate) || !other->rejected.ok() ||
        other->lease_owner.empty() ||
        (other->credentials_checked_at &&
         now - *other->credentials_checked_at < kCredentialsCheck)) {
      continue;
    }
    other->credentials_checked_at = now;
    const std::string prefix = absl::StrCat(options_.owner_prefix, options_.owner_id, "/");
    pb::RangeRequest req;
    req.set_key(prefix);
    req.set_range_end(etcd::PrefixRangeEnd(prefix));
    req.set_count_only(true);
    // The answer comes within the request timeout; a retired connection outlives it (its grace).
    other->client->Range(std::move(req), [this, other, identity = other->identity](
                                             absl::StatusOr<pb::RangeResponse> r) {
      if (!etcd::IsCredentialsRejected(r.status())) {
        return;
      }
      loop_.Post([this, other, identity, status = r.status()] {
        if (pool_.Find(identity) == other) {  // still open (compared, not dereferenced)
          OnCredentialsRejected(other, status);
        }
      });
    });
  }
}

void EngineImpl::RetryTargetAdoption(Connection* conn) {
  if (conn->adoption != nullptr && conn->adopting && !conn->adopt_in_flight) {
    AdoptTarget(conn);
  }
}

void EngineImpl::OnCredentialsRejected(Connection* conn, const absl::Status& status) {
  if (!conn->rejected.ok()) {
    conn->rejected = status;
    return;  // known since the stream first failed to authenticate again
  }
  conn->rejected = status;
  spdlog::warn(
      "etcd {}: {}: the password was changed in etcd? Registrations held through this "
      "connection keep their keys until their leases end, and move to new credentials as soon "
      "as etcd accepts them",
      conn->client->target(), status.message());
  // New credentials for the same etcd, held down after a rejection (a Secret updated before
  // etcd): etcd has just changed a password, so ask again now rather than after the hold-down.
  for (Connection* other : pool_.all()) {
    if (other == conn || !SameEtcd(other, conn)) {
      continue;
    }
    if (other->client->RetryCredentials()) {
      spdlog::info("etcd {}: trying the newer credentials of another connection at once",
                   other->client->target());
    }
    RetryTargetAdoption(other);
  }
  for (const std::string& id : Ids()) {
    Reg* reg = Find(id);
    if (reg == nullptr) {
      continue;
    }
    const bool on_it = reg->conn == conn || (reg->old && reg->old->conn == conn);
    const Connection* wanted = Wanted(*reg);
    if (!on_it && !(wanted != nullptr && SameEtcd(wanted, conn))) {
      continue;
    }
    if (reg->activity == Activity::kBackingOff) {
      reg->activity = Activity::kIdle;
    }
    Step(*reg);
  }
}

}  // namespace registrar::publisher
