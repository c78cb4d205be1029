// Adoption on the targets other than the default one (engine_impl.h, Connection::adoption): a
// registration's own etcd (spec.etcd) has its own ownership records of our owner id. They are
// read when the first registration needs that target (its Secrets come from the API, so not at
// Start), their leases kept alive at once, and nothing is written on the target before: a
// restarted controller takes its leases over instead of granting new ones. Orphans there are
// judged as on the default target (adoption.h), with MarkComplete's known ids.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

#include "controller/common/format.h"
#include "controller/etcd/token_source.h"
#include "controller/publisher/engine_impl.h"
#include "controller/publisher/etcd_errors.h"
#include "controller/publisher/records.h"
#include "spdlog/spdlog.h"

namespace registrar::publisher {

namespace {

// How long a closed connection is kept before it is destroyed: longer than any answer or
// timer already posted with it (a request's deadline, a watch's reopen backoff).
constexpr std::chrono::seconds kRetireGrace{60};

}  // namespace

bool EngineImpl::HeldElsewhere(int64_t lease, const Connection* conn) const {
  for (const Connection* other : pool_.all()) {
    if (other != conn && other->lease_owner.contains(lease)) {
      return true;
    }
  }
  return false;
}

bool EngineImpl::TargetAdopted(Reg& reg, Connection* conn) {
  if (conn == default_conn_ || !options_.ownership_records) {
    return true;
  }
  if (conn->adoption == nullptr) {
    conn->adoption = std::make_unique<Adoption>(options_.cluster);
    AdoptTarget(conn);
  }
  if (!conn->adoption->done() && reg.lease == 0 && reg.state.cause != Cause::kAuthFailed &&
      reg.state.cause != Cause::kEtcdUnavailable) {
    SetState(reg, Phase::kPending, Cause::kRegistering);
  }
  return conn->adoption->done();
}

std::vector<std::string> EngineImpl::IdsOn(const Connection* conn) const {
  std::vector<std::string> ids;
  for (const auto& [id, reg] : regs_) {
    if (!reg.removed && reg.desired.target && reg.desired.target->Identity() == conn->identity) {
      ids.push_back(id);
    }
  }
  return ids;
}

void EngineImpl::AdoptTarget(Connection* conn) {
  conn->adopting = true;
  conn->adopt_in_flight = true;
  ++conn->adopt_round;  // a retry already posted is dropped
  const std::string prefix = absl::StrCat(options_.owner_prefix, options_.owner_id, "/");
  pb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(etcd::PrefixRangeEnd(prefix));
  conn->client->Range(std::move(req), [this, conn, prefix](absl::StatusOr<pb::RangeResponse> r) {
    loop_.Post([this, conn, prefix, r = std::move(r)] {
      conn->adopt_in_flight = false;
      const std::vector<std::string> ids = IdsOn(conn);
      if (!r.ok()) {
        const std::string message =
            absl::StrCat("reading the ownership records on etcd ", conn->client->target(), ": ",
                         std::string(r.status().message()));
        if (conn->adopt_backoff.attempt() == 0) {
          spdlog::warn("adoption: {} (retried; its registrations wait for it)", message);
        }
        for (const std::string& id : ids) {
          if (Reg* reg = Find(id)) {
            ShowTargetFailure(*reg, conn, r.status(), message);
          }
        }
        if (etcd::IsCredentialsRejected(r.status())) {
          CheckOlderCredentials(conn);  // has etcd just changed the password?
        }
        if (ids.empty()) {
          // Nobody wants this target any more (new credentials make a new connection): stop,
          // and read again if it is wanted again.
          conn->adoption.reset();
          conn->adopt_backoff.Reset();
          conn->adopting = false;
          return;
        }
        // One read at a time (adopt_in_flight), so this read's round is the current one.
        const uint64_t round = conn->adopt_round;
        loop_.PostAfter(conn->adopt_backoff.Next(), [this, conn, round] {
          if (conn->adopt_round == round) {
            RetryTargetAdoption(conn);
          }
        });
        return;
      }
      conn->adopt_backoff.Reset();
      conn->adopting = false;
      conn->regressions_seen = conn->client->revision_regressions();
      for (const AdoptedLease& a : conn->adoption->Load(*r, prefix)) {
        if (HeldElsewhere(a.lease, conn)) {
          // A connection of ours to the same etcd with other credentials (a rotated Secret)
          // holds it: that one keeps it until the registration has moved, then revokes it.
          conn->adoption->ForgetLease(a.lease);
          continue;
        }
        conn->keeper->Add(a.lease, std::max<int64_t>(a.ttl(), 1), /*renew_now=*/true);
      }
      spdlog::info("adoption: {} ownership record(s) of owner {} kept alive on etcd {}",
                   conn->adoption->held(), options_.owner_id, conn->client->target());
      conn->adoption->SetDone();
      if (known_ids_) {
        conn->adoption->MarkComplete(*known_ids_,
                                     [this](const std::string& id) { return regs_.contains(id); });
      }
      for (const std::string& id : ids) {
        if (Reg* reg = Find(id)) {
          Claim(*reg);
        }
      }
      for (const std::string& id : ids) {
        if (Reg* reg = Find(id)) {
          Step(*reg);
        }
      }
      RevokeOrphans();
    });
  });
}

void EngineImpl::ClaimOnTarget(Reg& reg) {
  const Desired& d = reg.desired;
  Connection* conn = pool_.Find(d.target->Identity());
  if (conn == nullptr || conn->adoption == nullptr || !conn->adoption->done()) {
    return;
  }
  std::optional<AdoptedLease> a = conn->adoption->Claim(d);
  if (!a) {
    return;
  }
  TakeAdopted(reg, conn, *a);
  spdlog::info("{}: adopted lease {} for {} on etcd {}", d.id, a->lease, a->full_key,
               conn->client->target());
}

void EngineImpl::CompleteTargets(const std::vector<std::string>& known_ids) {
  known_ids_ = known_ids;
  for (Connection* conn : pool_.all()) {
    if (conn->adoption != nullptr && conn->adoption->done()) {
      conn->adoption->MarkComplete(known_ids,
                                   [this](const std::string& id) { return regs_.contains(id); });
    }
  }
}

bool EngineImpl::HandedOverTargets(const std::string& id) {
  bool due = false;
  for (Connection* conn : pool_.all()) {
    if (conn->adoption != nullptr && conn->adoption->HandedOver(id)) {
      due = true;
    }
  }
  return due;
}

void EngineImpl::RevokeTargetOrphans() {
  for (Connection* conn : pool_.all()) {
    if (conn->adoption == nullptr) {
      continue;
    }
    for (AdoptedLease& a : conn->adoption->TakeOrphans()) {
      spdlog::info("orphan {} on etcd {} (lease {}, {}/{}): revoking", a.full_key,
                   conn->client->target(), a.lease, a.record.namespace_, a.record.name);
      conn->keeper->Remove(a.lease);
      pool_.Revoke(conn, {.lease = a.lease,
                          .reason = RevokeReason::kOrphan,
                          .owner = absl::StrCat(a.record.namespace_, "/", a.record.name),
                          .full_key = a.full_key});
    }
  }
}

}  // namespace registrar::publisher

namespace registrar::publisher {

void EngineImpl::CloseUnusedTargets() {
  const std::vector<Connection*> conns = pool_.all();
  if (conns.size() <= 1) {
    board_.SetConnections(static_cast<int64_t>(conns.size()));
    return;  // the default target only
  }
  std::set<const Connection*> used = {default_conn_};
  for (const auto& [id, reg] : regs_) {
    used.insert(reg.conn);
    used.insert(reg.watched_conn);
    if (reg.old) {
      used.insert(reg.old->conn);
    }
    if (reg.desired.target) {
      used.insert(pool_.Find(reg.desired.target->Identity()));
    }
  }
  for (Connection* conn : conns) {
    if (!used.contains(conn) && conn->key_owner.empty() && conn->lease_owner.empty() &&
        pool_.Idle(*conn)) {
      pool_.Retire(conn, kRetireGrace);
    }
  }
  board_.SetConnections(static_cast<int64_t>(pool_.all().size()));
}

}  // namespace registrar::publisher
