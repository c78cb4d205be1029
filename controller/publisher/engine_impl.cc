#include "controller/publisher/engine_impl.h"

#include <algorithm>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"

#include "controller/common/format.h"
#include "controller/etcd/dry_run_client.h"
#include "controller/publisher/etcd_errors.h"
#include "controller/publisher/records.h"
#include "spdlog/spdlog.h"

namespace registrar::publisher {

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kPending:
      return "Pending";
    case Phase::kRegistered:
      return "Registered";
    case Phase::kPaused:
      return "Paused";
    case Phase::kFailed:
      return "Failed";
    case Phase::kTerminating:
      return "Terminating";
  }
  return "Unknown";
}

const char* CauseName(Cause cause) {
  switch (cause) {
    case Cause::kRegistering:
      return "Registering";
    case Cause::kRegistered:
      return "Registered";
    case Cause::kPaused:
      return "Paused";
    case Cause::kDryRun:
      return "DryRun";
    case Cause::kEtcdUnavailable:
      return "EtcdUnavailable";
    case Cause::kLeaseLost:
      return "LeaseLost";
    case Cause::kKeyConflict:
      return "KeyConflict";
    case Cause::kAuthFailed:
      return "AuthFailed";
    case Cause::kRevoking:
      return "Revoking";
  }
  return "Unknown";
}

namespace {

constexpr size_t kStopRevokeBatch = 128;

}  // namespace

EngineDeps DefaultEngineDeps(const EngineOptions& options) {
  EngineDeps deps;
  if (options.dry_run) {
    deps.new_client = [](const etcd::ClientOptions&) -> absl::StatusOr<etcd::ClientPtr> {
      return etcd::NewDryRunClient(nullptr);
    };
  } else {
    deps.new_client = etcd::NewClient;
  }
  deps.new_keeper = etcd::NewLeaseKeeper;
  return deps;
}

EngineImpl::EngineImpl(EngineOptions options, Clock& clock, EngineDeps deps)
    : options_(std::move(options)),
      clock_(clock),
      own_thread_(deps.own_thread),
      records_{options_.ownership_records, options_.owner_prefix, options_.owner_id},
      loop_(clock),
      pool_(std::move(deps.new_client), std::move(deps.new_keeper), clock, loop_,
            options_.max_in_flight, options_.on_request, *this),
      watches_(loop_, PrefixWatches::Events{
                          .on_deleted = [this](Connection* conn,
                                               const std::string& key) { OnKeyDeleted(conn, key); },
                          .on_verified =
                              [this](Connection* conn, const std::string& prefix,
                                     const std::set<std::string>& present) {
                                OnPrefixVerified(conn, prefix, present);
                              }}),
      adoption_(options_.cluster) {
  pool_.set_settle_writes(options_.settle_writes);
}

// ---------------------------------------------------------------------------------------------
// Lifecycle.

absl::Status EngineImpl::Start() {
  if (started_) {
    return absl::FailedPreconditionError("engine already started");
  }
  started_ = true;
  auto conn = pool_.For(options_.default_target);
  if (!conn.ok()) {
    return conn.status();
  }
  default_conn_ = *conn;
  if (own_thread_) {
    loop_.Start();
  }
  RestartProbe();
  loop_.Post([this] {
    if (options_.ownership_records) {
      Adopt();
    } else {
      FinishAdoption();
    }
  });
  return absl::OkStatus();
}

void EngineImpl::Stop(bool revoke) {
  if (!started_ || stopped_) {
    return;
  }
  stopped_ = true;
  // Collect the leases to revoke on the engine thread, then stop it.
  std::vector<std::pair<Connection*, int64_t>> leases;
  if (revoke && own_thread_) {
    // Start nothing new, and let the operations in flight end: a grant sent just before (a
    // SIGTERM right after start) must be answered for its lease to be revoked here.
    const auto deadline =
        clock_.Now() + options_.default_target.request_timeout + std::chrono::seconds(1);
    while (true) {
      std::promise<bool> idle;
      loop_.Post([&] {
        draining_ = true;
        bool any = false;
        for (const auto& [id, reg] : regs_) {
          any = any || reg.activity == Activity::kInFlight;
        }
        idle.set_value(!any);
      });
      if (idle.get_future().get() || clock_.Now() >= deadline) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::promise<void> done;
    loop_.Post([&] {
      for (auto& [id, reg] : regs_) {
        if (reg.lease != 0) {
          leases.emplace_back(reg.conn, reg.lease);
        }
        if (reg.old) {
          leases.emplace_back(reg.old->conn, reg.old->lease);
        }
      }
      for (Connection* conn : pool_.all()) {
        for (int64_t lease : conn->debt.leases()) {
          leases.emplace_back(conn, lease);
        }
      }
      done.set_value();
    });
    done.get_future().wait();
  }
  loop_.Stop();
  pool_.StopKeepers();
  watches_.CloseAll();
  // Revoke in bounded batches: etcd answers "too many requests" to a flood.
  for (size_t start = 0; start < leases.size(); start += kStopRevokeBatch) {
    size_t end = std::min(leases.size(), start + kStopRevokeBatch);
    std::vector<std::future<absl::StatusOr<pb::LeaseRevokeResponse>>> pending;
    for (size_t i = start; i < end; ++i) {
      auto promise = std::make_shared<std::promise<absl::StatusOr<pb::LeaseRevokeResponse>>>();
      pending.push_back(promise->get_future());
      pb::LeaseRevokeRequest req;
      req.set_id(leases[i].second);
      leases[i].first->client->LeaseRevoke(std::move(req),
                                           [promise](auto r) { promise->set_value(r); });
    }
    for (size_t i = start; i < end; ++i) {
      auto r = pending[i - start].get();
      if (r.ok() || IsLeaseNotFound(r.status())) {
        spdlog::debug("revoked lease {}", leases[i].second);
      } else {
        spdlog::warn("revoking lease {} failed: {} (it expires after its TTL)", leases[i].second,
                     r.status().message());
      }
    }
  }
  if (!leases.empty()) {
    spdlog::info("revoked {} lease(s)", leases.size());
  }
  pool_.Clear();
}

// ---------------------------------------------------------------------------------------------
// The caller's view.

void EngineImpl::Upsert(Desired desired) {
  loop_.Post([this, d = std::move(desired)]() mutable {
    auto it = regs_.find(d.id);
    if (it == regs_.end()) {
      it = regs_.emplace(d.id, Reg{}).first;
      it->second.epoch = next_epoch_++;
      it->second.state.id = d.id;
      it->second.state.value = d.value;
    }
    Reg& reg = it->second;
    if (reg.removed && reg.pending_revoke != 0 && reg.activity == Activity::kBackingOff) {
      reg.activity = Activity::kIdle;  // it was waiting to be let go (AwaitRevoke): wanted now
    }
    reg.removed = false;  // recreated before the revoke finished: converge to the new spec
    reg.desired = std::move(d);
    if (adoption_.done()) {
      Claim(reg);
      Step(reg);
    } else {
      ShowAdoptionFailure(reg);
    }
    HandedOver(reg.desired.id);
  });
}

void EngineImpl::Remove(const std::string& id) {
  loop_.Post([this, id] {
    HandedOver(id);
    Reg* reg = Find(id);
    if (reg == nullptr || reg->removed) {
      return;
    }
    reg->removed = true;
    reg->remove_deadline =
        clock_.Now() + std::chrono::seconds(std::max<int64_t>(reg->granted_ttl, reg->desired.ttl));
    Step(*reg);
  });
}

void EngineImpl::MarkComplete(std::vector<std::string> known_ids) {
  loop_.Post([this, known_ids = std::move(known_ids)] {
    adoption_.MarkComplete(known_ids, [this](const std::string& id) { return regs_.contains(id); });
    CompleteTargets(known_ids);
    RevokeOrphans();
  });
}

void EngineImpl::HandedOver(const std::string& id) {
  const bool due = adoption_.HandedOver(id);
  if (HandedOverTargets(id) || due) {
    RevokeOrphans();
  }
}

// ---------------------------------------------------------------------------------------------
// Decide and dispatch.

PlanInput EngineImpl::Describe(const Reg& reg, const absl::StatusOr<Connection*>& conn) const {
  const Desired& d = reg.desired;
  PlanInput in;
  in.activity = reg.activity;
  in.adoption_done = adoption_.done();
  in.removed = reg.removed;
  in.paused = d.paused;
  in.connectable = conn.ok();
  in.has_old = reg.old.has_value();
  in.has_lease = reg.lease != 0;
  in.lease_fits = conn.ok() && reg.conn == *conn && reg.requested_ttl == d.ttl;
  if (in.has_lease && in.lease_fits) {
    in.key_current = reg.key_present && FullKey(d.key, d.key_id, reg.lease) == reg.full_key &&
                     d.value == reg.written_value && RecordFor(reg) == reg.written_record;
  }
  in.conn_down = reg.conn != nullptr && reg.conn->down;
  in.conn_rejected = reg.conn != nullptr && !reg.conn->rejected.ok();
  in.revoke_pending = reg.pending_revoke != 0;
  in.let_go = reg.removed && clock_.Now() >= reg.remove_deadline;
  return in;
}

void EngineImpl::Step(Reg& reg) {
  if (reg.activity != Activity::kIdle || !adoption_.done() || draining_) {
    return;
  }
  if (reg.verify) {
    reg.verify = false;
    reg.key_present = false;
  }
  const Desired& d = reg.desired;
  absl::StatusOr<Connection*> conn = absl::UnavailableError("not wanted");
  if (!reg.removed && !d.paused) {
    conn = pool_.For(d.target ? *d.target : options_.default_target);
  }
  UpdateMoving(reg, conn.ok() ? *conn : nullptr);
  if (!reg.removed && !d.paused) {
    if (conn.ok() && !TargetAdopted(reg, *conn)) {
      return;  // its target's ownership records are being read; stepped again once they are
    }
  }
  Action action = Plan(Describe(reg, conn));
  switch (action) {
    case Action::kNone:
      return;
    case Action::kRevokeOld:
      SyncWatch(reg);
      RevokeOld(reg);
      return;
    case Action::kRevokeCurrent:
      SyncWatch(reg);
      RevokeCurrent(reg);
      return;
    case Action::kErase:
      SyncWatch(reg);
      Erase(d.id);
      return;
    case Action::kAwaitRevoke:
      SyncWatch(reg);
      AwaitRevoke(reg);
      return;
    case Action::kShowPaused:
      SyncWatch(reg);
      SetState(reg, Phase::kPaused, Cause::kPaused);
      return;
    case Action::kShowAuthFailed:
      SetState(reg, Phase::kFailed, Cause::kAuthFailed, std::string(conn.status().message()));
      return;
    case Action::kGrantKeepOld:
      // Make before break: keep the current lease (and key) alive until the new one is live.
      reg.old = OldLease{.conn = reg.conn,
                         .lease = reg.lease,
                         .full_key = reg.full_key,
                         .granted_ttl = reg.granted_ttl,
                         .granted_at = reg.granted_at};
      reg.conn->lease_owner[reg.lease] = d.id;
      reg.lease = 0;
      Grant(reg, *conn);
      return;
    case Action::kGrantDropCurrent:
      // Already replacing one lease: revoke the intermediate one.
      reg.conn->key_owner.erase(reg.full_key);
      reg.conn->keeper->Remove(reg.lease);
      reg.conn->lease_owner.erase(reg.lease);
      pool_.Revoke(reg.conn, {.lease = reg.lease,
                              .reason = RevokeReason::kIntermediate,
                              .owner = d.id,
                              .full_key = reg.full_key});
      reg.lease = 0;
      Grant(reg, *conn);
      return;
    case Action::kGrant:
      Grant(reg, *conn);
      return;
    case Action::kPutKey:
      PutKey(reg, FullKey(d.key, d.key_id, reg.lease));
      return;
    case Action::kShowUnavailable:
      SyncWatch(reg);
      SetState(reg, Phase::kPending, Cause::kEtcdUnavailable, "keep-alive stream to etcd is down");
      return;
    case Action::kShowRejected:
      SyncWatch(reg);
      SetState(reg, Phase::kFailed, Cause::kAuthFailed,
               absl::StrCat("etcd ", reg.conn->client->target(),
                            " rejects the credentials the key was registered with (",
                            reg.conn->rejected.message(), "): the key stays until its lease ends (",
                            reg.granted_ttl,
                            " s after its last renewal); give credentials "
                            "etcd accepts to keep it"));
      return;
    case Action::kShowRegistered:
      SyncWatch(reg);
      SetState(reg, Phase::kRegistered, Cause::kRegistered);
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// State and snapshot.

Reg* EngineImpl::Find(const std::string& id) {
  auto it = regs_.find(id);
  return it == regs_.end() ? nullptr : &it->second;
}

std::vector<std::string> EngineImpl::Ids() const {
  std::vector<std::string> ids;
  ids.reserve(regs_.size());
  for (const auto& [id, reg] : regs_) {
    ids.push_back(id);
  }
  return ids;
}

std::string EngineImpl::RecordFor(const Reg& reg) const {
  if (!options_.ownership_records) {
    return "";
  }
  OwnerRecord r;
  r.uid = reg.desired.uid;
  r.namespace_ = reg.desired.namespace_;
  r.name = reg.desired.name;
  r.value = reg.desired.value;
  r.ttl = reg.desired.ttl;
  r.granted_ttl = reg.granted_ttl;
  r.cluster = options_.cluster;
  return EncodeRecord(r);
}

void EngineImpl::Erase(const std::string& id_ref) {
  // A copy: callers pass the registration's own desired.id, which regs_.erase() destroys.
  const std::string id = id_ref;
  auto it = regs_.find(id);
  if (it == regs_.end()) {
    return;
  }
  Reg& reg = it->second;
  if (reg.watched_conn != nullptr) {
    watches_.Release(reg.watched_conn, reg.watched_prefix);
  }
  spdlog::info("{}: removed", id);
  regs_.erase(it);
  board_.Erase(id);
  if (listener_) {
    listener_(id);
  }
}

void EngineImpl::SetState(Reg& reg, Phase phase, Cause cause, std::string message) {
  bool changed = reg.state.phase != phase || reg.state.cause != cause;
  reg.state.phase = phase;
  reg.state.cause = cause;
  reg.state.message = std::move(message);
  if (changed) {
    if (phase == Phase::kRegistered) {
      spdlog::info("{}: {} {} = {} (lease {}, ttl {})", reg.desired.id, PhaseName(phase),
                   reg.full_key, reg.desired.value, reg.lease, reg.granted_ttl);
    } else {
      spdlog::info("{}: {} ({}){}{}", reg.desired.id, PhaseName(phase), CauseName(cause),
                   reg.state.message.empty() ? "" : ": ", reg.state.message);
    }
  }
  Publish(reg);
}

void EngineImpl::Publish(Reg& reg) {
  reg.state.id = reg.desired.id;
  // Between the grant of a move and its answer the key is held by the lease being replaced.
  const bool on_old = reg.lease == 0 && reg.old && reg.old->holds_key && reg.state.moving;
  reg.state.full_key = on_old ? reg.old->full_key : reg.full_key;
  reg.state.lease_id = on_old ? reg.old->lease : reg.lease;
  reg.state.granted_ttl = reg.granted_ttl;
  reg.state.value = reg.key_present ? reg.written_value : reg.desired.value;
  if (board_.Publish(reg.state) && listener_) {
    listener_(reg.desired.id);
  }
}

EnginePtr NewEngine(EngineOptions options, Clock& clock) {
  EngineDeps deps = DefaultEngineDeps(options);
  return std::make_unique<EngineImpl>(std::move(options), clock, std::move(deps));
}

}  // namespace registrar::publisher
