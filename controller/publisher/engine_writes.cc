// The etcd operations of one registration (engine_impl.h) and what their answers change.
#include <algorithm>

#include "absl/strings/str_cat.h"

#include "controller/common/format.h"
#include "controller/publisher/engine_impl.h"
#include "controller/publisher/etcd_errors.h"
#include "controller/publisher/records.h"
#include "spdlog/spdlog.h"

namespace registrar::publisher {

namespace {

constexpr std::chrono::seconds kConflictRecheck{5};
constexpr std::chrono::seconds kAuthRetry{5};

}  // namespace

void EngineImpl::Grant(Reg& reg, Connection* conn) {
  reg.activity = Activity::kInFlight;
  // A move keeps showing Registered (moving) while the key is live on the current connection.
  if (reg.state.phase != Phase::kPending && reg.state.phase != Phase::kFailed &&
      !(reg.state.moving && reg.state.phase == Phase::kRegistered)) {
    SetState(reg, Phase::kPending, reg.lost ? Cause::kLeaseLost : Cause::kRegistering);
  }
  pb::LeaseGrantRequest req;
  req.set_ttl(reg.desired.ttl);
  req.set_id(pool_.NewLeaseId());
  int64_t lease = req.id();
  int64_t ttl = reg.desired.ttl;
  // etcd starts the lease's TTL after this: the earliest it can end is a TTL after now.
  const Clock::TimePoint sent = clock_.Now();
  pool_.Write(
      conn, "LeaseGrant", std::move(req), &etcd::Client::LeaseGrant,
      [this, conn, id = reg.desired.id, epoch = reg.epoch, ttl, lease,
       sent](absl::StatusOr<pb::LeaseGrantResponse> r) {
        Reg* reg = Find(id);
        if (reg == nullptr || reg->epoch != epoch) {
          if (r.ok() || IsTransient(r.status())) {
            pool_.Revoke(conn,
                         {.lease = lease, .reason = RevokeReason::kGrantedForNobody, .owner = id});
          }
          return;
        }
        reg->activity = Activity::kIdle;
        if (!r.ok()) {
          if (IsTransient(r.status())) {
            // The grant may still have happened: we chose the ID, so make sure it does not
            // linger (a lease without a key, go-zero #5260's seed).
            pool_.Revoke(conn,
                         {.lease = lease, .reason = RevokeReason::kUnansweredGrant, .owner = id});
          }
          Failed(*reg, r.status(), "granting a lease");
          return;
        }
        if (!r->error().empty()) {
          Failed(*reg, absl::UnavailableError(r->error()), "granting a lease");
          return;
        }
        // etcd took this connection's credentials: a rejection seen before (its stream, while
        // the Secret was ahead of etcd) is over, so the key written next is not AuthFailed.
        conn->rejected = absl::OkStatus();
        reg->conn = conn;
        reg->lease = r->id();
        reg->granted_at = sent;
        reg->granted_ttl = std::clamp<int64_t>(r->ttl(), 0, kMaxLeaseTtlSeconds);
        reg->requested_ttl = ttl;
        reg->key_present = false;
        reg->written_value.clear();
        reg->written_record.clear();
        conn->lease_owner[reg->lease] = id;
        conn->keeper->Add(reg->lease, reg->granted_ttl);
        reg->backoff.Reset();
        Step(*reg);
      },
      {.first = false});
}

// The Txn that wrote `w` (and its record) with the registration's lease succeeded.
void EngineImpl::KeyWritten(Reg& reg, const KeyWrite& w) {
  Connection* conn = reg.conn;
  if (!w.drop_key.empty()) {
    conn->key_owner.erase(w.drop_key);
  }
  bool was_reput = reg.reput;
  bool was_lost = reg.lost;
  reg.full_key = w.full_key;
  reg.key_present = true;
  reg.written_value = w.value;
  reg.written_record = w.record;
  reg.reput = false;
  reg.lost = false;
  reg.no_batch = false;
  conn->key_owner[w.full_key] = reg.desired.id;
  reg.backoff.Reset();
  if (was_reput) {
    ++reg.state.key_reputs;
    board_.Count(&EngineStats::key_reputs);
    spdlog::info("{}: key {} was deleted by someone else: put back with lease {}", reg.desired.id,
                 w.full_key, reg.lease);
  }
  if (was_lost) {
    ++reg.state.reregistrations;
    board_.Count(&EngineStats::reregistrations);
  }
  Step(reg);
}

// New keys of many registrations share one Txn (etcd allows 128 operations per Txn): a cold
// start or a mass re-registration then costs one grant per registration and one Txn per batch.
// A batch whose compares or leases fail is not retried as a batch: each of its registrations
// writes its key alone next time, where the failure is told apart.
void EngineImpl::FlushBatch(Connection* conn) {
  conn->flush_posted = false;
  while (!conn->batch.empty()) {
    size_t n = std::min(conn->batch.size(), records_.BatchSize());
    std::vector<BatchedPut> puts(std::make_move_iterator(conn->batch.begin()),
                                 std::make_move_iterator(conn->batch.begin() + n));
    conn->batch.erase(conn->batch.begin(), conn->batch.begin() + n);
    std::vector<KeyWrite> writes;
    writes.reserve(puts.size());
    for (const BatchedPut& p : puts) {
      writes.push_back(p.write);
    }
    pb::TxnRequest txn = NewKeysTxn(writes, records_);
    int cost = txn.success_size();
    pool_.Write(conn, "Txn", std::move(txn), &etcd::Client::Txn,
                [this, puts = std::move(puts)](absl::StatusOr<pb::TxnResponse> r) {
                  bool written = r.ok() && r->succeeded();
                  for (const BatchedPut& p : puts) {
                    Reg* reg = Find(p.id);
                    if (reg == nullptr || reg->epoch != p.epoch) {
                      continue;
                    }
                    reg->activity = Activity::kIdle;
                    if (reg->lease != p.write.lease) {
                      Step(*reg);
                    } else if (written) {
                      KeyWritten(*reg, p.write);
                    } else {
                      reg->no_batch = true;  // find out alone what went wrong
                      Step(*reg);
                    }
                  }
                },
                {.first = true, .cost = cost});
  }
}

void EngineImpl::PutKey(Reg& reg, const std::string& want_full) {
  Connection* conn = reg.conn;
  KeyWrite w;
  w.full_key = want_full;
  w.value = reg.desired.value;
  w.record = RecordFor(reg);
  w.lease = reg.lease;
  // Which lease holds want_full now, as far as we know: ours (same key), the lease being
  // replaced (a TTL change keeps key/<id>), or none (the key must not exist).
  if (reg.key_present && reg.full_key == want_full) {
    w.holder = reg.lease;
  } else if (reg.old && reg.old->holds_key && SameEtcd(reg.old->conn, conn) &&
             reg.old->full_key == want_full) {
    // (The same etcd through another connection, too: new credentials from a rotated Secret.)
    w.holder = reg.old->lease;
  }
  // Same lease, new full key: the old key goes in the same Txn.
  if (reg.key_present && !reg.full_key.empty() && reg.full_key != want_full) {
    w.drop_key = reg.full_key;
  }
  reg.activity = Activity::kInFlight;
  if (PlanKeyWrite(w.holder != 0, !w.drop_key.empty(), reg.no_batch, reg.reput) ==
      KeyWriteMode::kBatched) {
    conn->batch.push_back(BatchedPut{reg.desired.id, reg.epoch, std::move(w)});
    if (!conn->flush_posted) {
      conn->flush_posted = true;
      loop_.Post([this, conn] { FlushBatch(conn); });
    }
    return;
  }
  pb::TxnRequest txn = KeyTxn(w, records_);
  int cost = txn.success_size();
  pool_.Write(conn, "Txn", std::move(txn), &etcd::Client::Txn,
              ForReg<pb::TxnResponse>(reg,
                                      [this, w](Reg& reg, absl::StatusOr<pb::TxnResponse> r) {
                                        KeyTxnAnswered(reg, w, r);
                                      }),
              {.first = true, .cost = cost});
}

void EngineImpl::KeyTxnAnswered(Reg& reg, const KeyWrite& w,
                                const absl::StatusOr<pb::TxnResponse>& r) {
  if (reg.lease != w.lease) {
    Step(reg);
  } else if (!r.ok() && IsLeaseNotFound(r.status())) {
    HandleLeaseLost(reg, "etcd no longer knows the lease");
  } else if (!r.ok()) {
    Failed(reg, r.status(), "writing the key");
  } else if (r->succeeded()) {
    KeyWritten(reg, w);
  } else {
    KeyTxnFailed(reg, w, *r);
  }
}

// The compare of a KeyTxn failed: see who holds the key.
void EngineImpl::KeyTxnFailed(Reg& reg, const KeyWrite& w, const pb::TxnResponse& response) {
  FailedKeyTxn failed = ReadFailedKeyTxn(response, w.lease);
  switch (failed.kind) {
    case FailedKeyTxn::Kind::kGone:
      // It went away meanwhile. When the lease being replaced was thought to hold it, that lease
      // has expired (e.g. its connection's password was changed in etcd, so nothing renewed
      // it): the next write expects no key. Without this the same Txn went out again at once,
      // a hot loop, forever.
      if (reg.old && w.holder != 0 && w.holder == reg.old->lease) {
        reg.old->holds_key = false;
      }
      RetryLater(reg, std::chrono::milliseconds(0));
      return;
    case FailedKeyTxn::Kind::kOurs:
      // Ours already (a re-put raced with our own write): take it as written.
      reg.full_key = w.full_key;
      reg.key_present = true;
      reg.written_value = failed.value;
      reg.written_record = failed.record;
      reg.reput = false;
      reg.conn->key_owner[w.full_key] = reg.desired.id;
      Step(reg);
      return;
    case FailedKeyTxn::Kind::kHeld:
      SetState(reg, Phase::kFailed, Cause::kKeyConflict,
               absl::StrCat("key ", w.full_key, " is held by ", failed.holder));
      // Watch the prefix so the key going away triggers a retry; recheck now and then too.
      SyncWatch(reg);
      reg.conn->conflict_waiters[w.full_key].insert(reg.desired.id);
      RetryLater(reg, kConflictRecheck);
      return;
  }
}

// Not renewed from here on; a failed revoke waits in the connection's revoke debt
// (revoke_debt.h) and the registration awaits it (Plan: kAwaitRevoke).
void EngineImpl::RevokeCurrent(Reg& reg) {
  reg.activity = Activity::kInFlight;
  Connection* conn = reg.conn;
  int64_t lease = reg.lease;
  conn->keeper->Remove(lease);  // stop renewing at once
  if (reg.removed) {
    SetState(reg, Phase::kTerminating, Cause::kRevoking);
  }
  PendingRevoke revoke{.lease = lease,
                       .reason = reg.removed ? RevokeReason::kRemoved : RevokeReason::kPaused,
                       .owner = reg.desired.id,
                       .full_key = reg.full_key};
  pool_.Revoke(conn, std::move(revoke),
               [this, id = reg.desired.id, epoch = reg.epoch, lease](const absl::Status& status) {
                 Reg* reg = Find(id);
                 if (reg == nullptr || reg->epoch != epoch) {
                   return;
                 }
                 reg->activity = Activity::kIdle;
                 if (status.ok()) {
                   spdlog::info("{}: revoked lease {} ({} removed)", id, lease, reg->full_key);
                 } else {
                   reg->pending_revoke = lease;
                   reg->pending_revoke_status = status;
                 }
                 if (reg->lease == lease) {
                   Forget(*reg);
                 }
                 Step(*reg);
               });
}

// Removed or paused, and the revoke of its lease is owed: say so; a removed registration is let
// go one TTL after Remove (the debt goes on revoking).
void EngineImpl::AwaitRevoke(Reg& reg) {
  Failure failure = FailureFor(reg.pending_revoke_status, reg.removed, Cause::kEtcdUnavailable);
  SetState(
      reg, failure.phase, failure.cause,
      absl::StrCat("revoking lease ", reg.pending_revoke, ": ", reg.pending_revoke_status.message(),
                   "; retried whenever etcd answers again"));
  if (reg.removed) {
    RetryLater(reg, std::max<Clock::Duration>(reg.remove_deadline - clock_.Now(),
                                              Clock::Duration::zero()));
  }
}

void EngineImpl::RevokeOld(Reg& reg) {
  reg.activity = Activity::kInFlight;
  OldLease old = *reg.old;
  old.conn->keeper->Remove(old.lease);
  if (old.full_key != reg.full_key || old.conn != reg.conn) {
    old.conn->key_owner.erase(old.full_key);
  }
  PendingRevoke revoke{.lease = old.lease,
                       .reason = RevokeReason::kReplaced,
                       .owner = reg.desired.id,
                       .full_key = old.full_key};
  // The same etcd through the new connection (new credentials from a rotated Secret): revoke
  // there. The old connection's credentials may no longer be accepted (the password was changed
  // in etcd), and then its revoke would wait in its revoke debt forever, keeping it open.
  Connection* via = SameEtcd(old.conn, reg.conn) && reg.conn != nullptr ? reg.conn : old.conn;
  pool_.Revoke(via, std::move(revoke),
               [this, old, id = reg.desired.id, epoch = reg.epoch](const absl::Status& status) {
                 old.conn->lease_owner.erase(old.lease);
                 Reg* reg = Find(id);
                 if (reg == nullptr || reg->epoch != epoch) {
                   return;
                 }
                 reg->activity = Activity::kIdle;
                 if (status.ok()) {
                   spdlog::info("{}: replaced lease {} revoked", id, old.lease);
                 }  // else: in the revoke debt, logged there
                 reg->old.reset();
                 Step(*reg);
               });
}

void EngineImpl::HandleLeaseLost(Reg& reg, std::string_view why) {
  spdlog::warn("{}: lease {} lost ({}): registering anew", reg.desired.id, reg.lease, why);
  board_.Count(&EngineStats::lease_losses);
  board_.ForgetRenewal(reg.lease);
  reg.conn->keeper->Remove(reg.lease);
  reg.conn->lease_owner.erase(reg.lease);
  reg.conn->key_owner.erase(reg.full_key);
  reg.lease = 0;
  reg.key_present = false;
  reg.lost = true;
  reg.reput = false;
  SetState(reg, Phase::kPending, Cause::kLeaseLost, std::string(why));
  Step(reg);
}

void EngineImpl::Failed(Reg& reg, const absl::Status& status, std::string_view what) {
  Failure failure = FailureFor(status, reg.removed, reg.state.cause);
  if (failure.cause == Cause::kDryRun) {
    const Desired& d = reg.desired;
    spdlog::info("dry-run {}: would grant a lease (ttl {}) and put {} = {}", d.id, d.ttl,
                 FullKey(d.key, d.key_id, 0), d.value);
    SetState(reg, failure.phase, failure.cause, std::string(status.message()));
    return;
  }
  if (failure.cause == Cause::kAuthFailed) {
    ShowTargetFailure(reg, Wanted(reg), status,
                      absl::StrCat(std::string(what), ": ", status.message()));
  } else {
    SetState(reg, failure.phase, failure.cause,
             absl::StrCat(std::string(what), ": ", status.message()));
  }
  switch (failure.retry) {
    case Retry::kAuthRetry:
      RetryLater(reg, kAuthRetry);
      return;
    case Retry::kBackoff:
      RetryLater(reg, reg.backoff.Next());
      return;
    case Retry::kNever:
      return;
  }
}

void EngineImpl::RetryLater(Reg& reg, Clock::Duration delay) {
  if (reg.activity == Activity::kBackingOff) {
    return;
  }
  reg.activity = Activity::kBackingOff;
  loop_.PostAfter(delay, [this, id = reg.desired.id, epoch = reg.epoch] {
    Reg* reg = Find(id);
    if (reg == nullptr || reg->epoch != epoch || reg->activity != Activity::kBackingOff) {
      return;
    }
    reg->activity = Activity::kIdle;
    Step(*reg);
  });
}

// The registration holds no lease any more (revoked, lost or given up).
void EngineImpl::Forget(Reg& reg) {
  if (reg.conn != nullptr && reg.lease != 0) {
    reg.conn->keeper->Remove(reg.lease);
    reg.conn->lease_owner.erase(reg.lease);
    reg.conn->key_owner.erase(reg.full_key);
    board_.ForgetRenewal(reg.lease);
  }
  reg.lease = 0;
  reg.key_present = false;
  reg.full_key.clear();
  reg.written_value.clear();
  reg.written_record.clear();
}

// ---------------------------------------------------------------------------------------------
// Deletes seen by the prefix watches.

void EngineImpl::SyncWatch(Reg& reg) {
  bool want = !reg.removed && !reg.desired.paused && reg.conn != nullptr;
  std::string prefix = want ? reg.desired.key + "/" : "";
  Connection* conn = want ? reg.conn : nullptr;
  if (prefix == reg.watched_prefix && conn == reg.watched_conn) {
    return;
  }
  if (reg.watched_conn != nullptr) {
    watches_.Release(reg.watched_conn, reg.watched_prefix);
  }
  reg.watched_prefix = prefix;
  reg.watched_conn = conn;
  if (conn != nullptr) {
    watches_.Ensure(conn, prefix);
  }
}

void EngineImpl::OnPrefixVerified(Connection* conn, const std::string& prefix,
                                  const std::set<std::string>& present) {
  prefix_checks_.push_back({conn, prefix, present});
  if (prefix_checks_.size() == 1) {
    loop_.Post([this] { VerifyPrefixes(); });
  }
}

void EngineImpl::VerifyPrefixes() {
  std::vector<PrefixCheck> checks = std::move(prefix_checks_);
  prefix_checks_.clear();
  std::map<std::pair<Connection*, std::string_view>, std::vector<size_t>> by_prefix;
  for (size_t i = 0; i < checks.size(); ++i) {
    CheckRegression(checks[i].conn);
    by_prefix[{checks[i].conn, checks[i].prefix}].push_back(i);
  }
  // Candidates per check, in id order (the order of regs_), as a pass per prefix found them.
  std::vector<std::vector<std::string>> candidates(checks.size());
  for (auto& [id, reg] : regs_) {
    if (reg.conn == nullptr || !reg.key_present) {
      continue;
    }
    const std::string_view full = reg.full_key;
    for (size_t slash = full.find('/'); slash != std::string_view::npos;
         slash = full.find('/', slash + 1)) {
      auto it = by_prefix.find({reg.conn, full.substr(0, slash + 1)});
      if (it != by_prefix.end()) {
        for (size_t i : it->second) {
          candidates[i].push_back(id);
        }
      }
    }
  }
  for (size_t i = 0; i < checks.size(); ++i) {
    const PrefixCheck& check = checks[i];
    for (const std::string& id : candidates[i]) {
      Reg* reg = Find(id);  // OnKeyDeleted of an earlier one may have changed it
      if (reg != nullptr && reg->conn == check.conn && reg->key_present &&
          reg->full_key.starts_with(check.prefix) && !check.present.contains(reg->full_key)) {
        OnKeyDeleted(check.conn, reg->full_key);
      }
    }
  }
}

void EngineImpl::OnKeyDeleted(Connection* conn, const std::string& key) {
  if (auto w = conn->conflict_waiters.find(key); w != conn->conflict_waiters.end()) {
    std::set<std::string> ids = std::move(w->second);
    conn->conflict_waiters.erase(w);
    for (const auto& id : ids) {
      Reg* waiter = Find(id);
      if (waiter != nullptr && waiter->state.cause == Cause::kKeyConflict &&
          waiter->activity != Activity::kInFlight) {
        waiter->activity = Activity::kIdle;  // the key it waits for went away: try now
        Step(*waiter);
      }
    }
  }
  auto it = conn->key_owner.find(key);
  if (it == conn->key_owner.end()) {
    return;
  }
  Reg* reg = Find(it->second);
  if (reg == nullptr || reg->removed || reg->desired.paused || reg->full_key != key ||
      reg->lease == 0) {
    return;
  }
  reg->reput = true;
  if (reg->activity == Activity::kInFlight) {
    reg->verify = true;
    return;
  }
  reg->key_present = false;
  Step(*reg);
}

}  // namespace registrar::publisher
