// File: controller/publisher/engine_impl.h
//
// The Engine (engine.h) wired from its rooms; it only carries out what they decide:
//   event_loop.h        the engine thread (closures and timers)
//   connection.h        connections from injected client/keeper factories, every write through
//                       the write scheduler (write_scheduler.h)
//   registration_plan.h the next action of one registration (pure)
//   txn.h               the Txns it writes and how a failed one is read (pure)
//   etcd_errors.h       what a failure means for a registration (pure)
//   revoke_debt.h       a connection's owed revokes and when each is retried (pure)
//   adoption.h          records found at start, claims, orphans
//   prefix_watches.h    delete-only watches per key prefix
//   state_board.h       what readers see: states, renewals, counters
// engine_impl.cc holds the lifecycle, the caller's API, connection events and Step();
// engine_writes.cc the etcd operations of one registration and their answers; move.cc a
// registration moving to another connection, and rejected credentials; target_adoption.cc the
// records on targets other than the default one.
//
// Thread-safety: the Engine methods are safe from any thread; everything else runs on the loop.
// Ownership: owns the loop, the pool (and so every connection), the registrations.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "controller/common/backoff.h"
#include "controller/publisher/adoption.h"
#include "controller/publisher/connection.h"
#include "controller/publisher/engine.h"
#include "controller/publisher/event_loop.h"
#include "controller/publisher/prefix_watches.h"
#include "controller/publisher/registration_plan.h"
#include "controller/publisher/state_board.h"

namespace registrar::publisher {

// The message of a registration shown Registered and moving while the connection holding its
// key has its keep-alive stream down (EngineImpl::KeepShowingHeldKey).
inline constexpr char kHeldKeyMessage[] =
    "the keep-alive stream of the connection holding the key is down; the key stays live until "
    "its lease ends (a TTL after its last renewal) and moves to the new connection meanwhile";

// How the engine makes its connections and runs its thread. NewEngine uses etcd::NewClient
// (wrapped in the dry-run client with EngineOptions::dry_run) and etcd::NewLeaseKeeper.
struct EngineDeps {
  ClientFactory new_client;
  KeeperFactory new_keeper;
  // false: no thread of its own; the caller runs loop().RunUntilIdle() (unit tests).
  bool own_thread = true;
};

EngineDeps DefaultEngineDeps(const EngineOptions& options);

// A lease that is being replaced (make-before-break) and is revoked once the new one is live.
struct OldLease {
  Connection* conn = nullptr;
  int64_t lease = 0;
  std::string full_key;
  // False once a write found full_key gone (the lease expired meanwhile): the new lease's write
  // must then expect no key, not this lease as its holder.
  bool holds_key = true;
  int64_t granted_ttl = 0;
  std::optional<Clock::TimePoint> granted_at;  // when its grant was sent (nullopt: adopted)
};

struct Reg {
  Desired desired;
  bool removed = false;
  Clock::TimePoint remove_deadline{};
  uint64_t epoch = 0;  // answers for an older incarnation of the id are dropped
  Activity activity = Activity::kIdle;

  Connection* conn = nullptr;  // where `lease` lives
  int64_t lease = 0;
  int64_t granted_ttl = 0;
  int64_t requested_ttl = 0;
  std::optional<Clock::TimePoint> granted_at;  // when `lease`'s grant was sent (nullopt: adopted)
  std::string full_key;                        // as written
  std::string written_value;
  std::string written_record;
  bool key_present = false;
  bool verify = false;    // a DELETE was seen while busy: put the key back if it is gone
  bool reput = false;     // the next successful put is a re-put
  bool lost = false;      // the previous lease was lost: the next key written is a re-registration
  bool no_batch = false;  // its last batched Txn failed: write the key alone
  std::optional<OldLease> old;
  // Its lease whose revoke failed and waits in the revoke debt of `conn`'s connection (0: none),
  // and how it failed.
  int64_t pending_revoke = 0;
  absl::Status pending_revoke_status;
  std::string watched_prefix;
  Connection* watched_conn = nullptr;

  Backoff backoff{std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
  State state;
};

class EngineImpl final : public Engine, private ConnectionPool::Events {
 public:
  EngineImpl(EngineOptions options, Clock& clock, EngineDeps deps);
  ~EngineImpl() override { Stop(false); }

  absl::Status Start() override;
  void Stop(bool revoke) override;
  void Upsert(Desired desired) override;
  void Remove(const std::string& id) override;
  void MarkComplete(std::vector<std::string> known_ids) override;
  std::optional<State> Get(const std::string& id) const override { return board_.Get(id); }
  std::vector<State> List() const override { return board_.List(); }
  EngineStats stats() const override { return board_.stats(); }
  std::optional<std::vector<AdoptedRecord>> Unclaimed(
      std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const override {
    return board_.Unclaimed(wait);
  }
  void SetListener(Listener listener) override { listener_ = std::move(listener); }

  EventLoop& loop() { return loop_; }

 private:
  // ConnectionPool::Events.
  void OnRenewed(Connection* conn, int64_t lease) override;
  void OnLeaseLost(Connection* conn, int64_t lease) override;
  void OnConnectivity(Connection* conn, bool up) override;
  void OnCredentialsRejected(Connection* conn, const absl::Status& status) override;
  void OnAnswered(Connection* conn) override { CheckRegression(conn); }
  std::optional<std::string> SettleKey(Connection* conn) override;
  void OnRevokeDeferred(Connection* conn, const PendingRevoke& revoke) override;
  void OnRevoked(Connection* conn, const PendingRevoke& revoke, bool from_debt) override;

  void CheckRegression(Connection* conn);
  void Probe(uint64_t epoch);
  void RestartProbe();
  void RetryAuthFailed();
  void Adopt();
  // Adoption failed with `status`: logged when the reason is new; with rejected credentials or
  // an untrusted TLS peer every waiting registration shows Failed/AuthFailed with the reason.
  void AdoptionFailed(const absl::Status& status);
  void ShowAdoptionFailure(Reg& reg);
  void FinishAdoption();
  void Claim(Reg& reg);
  // `reg` takes over the adopted lease `a` on `conn`: its key, value and record as etcd holds them.
  void TakeAdopted(Reg& reg, Connection* conn, const AdoptedLease& a);
  void RevokeOrphans();
  void HandedOver(const std::string& id);

  // target_adoption.cc: ownership records on the targets other than the default one.
  // True once `conn`'s records are read (the default target: always); starts reading them the
  // first time a registration needs `conn`.
  bool TargetAdopted(Reg& reg, Connection* conn);
  void AdoptTarget(Connection* conn);
  // Another connection of ours holds `lease` (one etcd reached with other credentials).
  bool HeldElsewhere(int64_t lease, const Connection* conn) const;
  // The registrations that want `conn` (their desired target is it).
  std::vector<std::string> IdsOn(const Connection* conn) const;
  void ClaimOnTarget(Reg& reg);
  // MarkComplete's known ids, for the target adoptions done and those still to come.
  void CompleteTargets(const std::vector<std::string>& known_ids);
  // True when orphans of a target may be due now because `id` was handed over.
  bool HandedOverTargets(const std::string& id);
  void RevokeTargetOrphans();
  // Closes the connections to targets other than the default one that nothing uses any more
  // (no registration wants them, no lease, write or revoke of ours left on them). Runs with the
  // readiness probe, every couple of seconds while other targets are connected.
  void CloseUnusedTargets();

  // move.cc: a registration moving to another connection (new endpoints or credentials).
  // Whether `reg`'s key is live through a connection other than `target` whose credentials
  // etcd still takes (its current lease, or the one being replaced).
  bool HoldsLiveElsewhere(const Reg& reg, const Connection* target) const;
  // Sets State::moving (and clears the warning once it is over) for the wanted connection
  // `target` (nullptr: none wanted); publishes a change.
  void UpdateMoving(Reg& reg, const Connection* target);
  // `target` (the wanted connection) failed with `status` while reading its records or
  // registering: with the key live elsewhere, Registered and moving with a warning (nothing
  // that was fine is lost); otherwise Failed/AuthFailed (credentials) or Pending.
  void ShowTargetFailure(Reg& reg, const Connection* target, const absl::Status& status,
                         const std::string& message);
  // A lease through which `reg`'s key is in etcd: its current one (CurrentKey), the one being
  // replaced while it still holds the key (OldKey); HeldKeyOf: the current one, else the old.
  struct HeldKey {
    Connection* conn = nullptr;
    int64_t lease = 0;
    int64_t ttl = 0;
    std::optional<Clock::TimePoint> granted_at;
  };
  static std::optional<HeldKey> CurrentKey(const Reg& reg);
  static std::optional<HeldKey> OldKey(const Reg& reg);
  static std::optional<HeldKey> HeldKeyOf(const Reg& reg);
  // How long `held`'s lease lasts at least, as far as the engine knows: its last renewal (or
  // its grant) plus its TTL, minus now. Not above zero: etcd may have expired it.
  Clock::Duration LeaseLeft(const HeldKey& held) const;
  // `reg` moves, and the connection holding its key stopped renewing it (stream down, or its
  // credentials rejected): while registration_plan.h's HeldKeyShowsLive holds (target not
  // failed), shows Registered and moving and checks again when the lease may end; true then.
  // False: the caller shows the honest state.
  bool KeepShowingHeldKey(Reg& reg);
  // Posts CheckHeldKey for when `reg`'s held lease may end, if its holder stopped renewing it.
  void ScheduleHeldKeyCheck(const Reg& reg);
  // The lease of a registration shown live (KeepShowingHeldKey, ShowTargetFailure) may have
  // ended and its holder still does not renew it: Pending/EtcdUnavailable.
  void CheckHeldKey(const std::string& id, uint64_t epoch);
  // The connection `reg` wants now, if it exists.
  Connection* Wanted(const Reg& reg) const;
  void RetryTargetAdoption(Connection* conn);
  // `candidate`'s credentials were rejected: are those of the other connections to the same etcd
  // still accepted? A count-only Range on each (at most every 5 s per connection); a rejection
  // there means etcd has just changed the password (etcd 3.4 leaves a keep-alive stream opened
  // before alone, so the stream does not tell): OnCredentialsRejected.
  void CheckOlderCredentials(const Connection* candidate);

  // engine_impl.cc: decide and dispatch.
  void Step(Reg& reg);
  PlanInput Describe(const Reg& reg, const absl::StatusOr<Connection*>& conn) const;

  // engine_writes.cc: the operations and their answers.
  void Grant(Reg& reg, Connection* conn);
  void PutKey(Reg& reg, const std::string& want_full);
  void KeyWritten(Reg& reg, const KeyWrite& write);
  void KeyTxnAnswered(Reg& reg, const KeyWrite& write, const absl::StatusOr<pb::TxnResponse>& r);
  void KeyTxnFailed(Reg& reg, const KeyWrite& write, const pb::TxnResponse& response);
  void FlushBatch(Connection* conn);
  void RevokeCurrent(Reg& reg);
  void RevokeOld(Reg& reg);
  void AwaitRevoke(Reg& reg);
  void HandleLeaseLost(Reg& reg, std::string_view why);
  void RetryLater(Reg& reg, Clock::Duration delay);
  void Failed(Reg& reg, const absl::Status& status, std::string_view what);
  void Forget(Reg& reg);
  void SyncWatch(Reg& reg);
  void OnKeyDeleted(Connection* conn, const std::string& key);
  // A prefix watch (re)opened and read the keys under it: queued for VerifyPrefixes, which one
  // posted closure runs for every verification queued by then.
  void OnPrefixVerified(Connection* conn, const std::string& prefix,
                        const std::set<std::string>& present);
  // For each queued verification in arrival order, every registration that believes its key is
  // under the prefix on that connection but is not among the present keys goes through
  // OnKeyDeleted. One pass over the registrations finds the candidates of all the queued
  // prefixes (by the full key's prefixes ending in '/'), so a burst of verifications costs
  // O(registrations) once instead of once per prefix: the watches of 100 prefixes opened while
  // 10 000 registrations were loading went over the map 100 times (issue 13, bench/README.md).
  void VerifyPrefixes();
  // A handler for an answer to `reg`'s operation: runs `fn(reg)` if the registration still
  // exists in the same incarnation, after marking it idle.
  template <typename Resp>
  std::function<void(absl::StatusOr<Resp>)> ForReg(
      const Reg& reg, std::function<void(Reg&, absl::StatusOr<Resp>)> fn);

  void Erase(const std::string& id);
  void SetState(Reg& reg, Phase phase, Cause cause, std::string message = "");
  void Publish(Reg& reg);
  Reg* Find(const std::string& id);
  std::vector<std::string> Ids() const;
  std::string RecordFor(const Reg& reg) const;

  const EngineOptions options_;
  Clock& clock_;
  const bool own_thread_;
  const RecordSpace records_;
  Listener listener_;  // set before Start() (Engine::SetListener), then read on the engine thread

  EventLoop loop_;
  StateBoard board_;
  ConnectionPool pool_;
  PrefixWatches watches_;
  Adoption adoption_;
  Backoff adopt_backoff_{std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};

  // Engine-thread state.
  std::map<std::string, Reg> regs_;
  Connection* default_conn_ = nullptr;
  uint64_t next_epoch_ = 1;
  uint64_t probe_epoch_ = 0;    // the readiness probe's current chain (RestartProbe)
  absl::Status adopt_failure_;  // why the last adoption attempt failed (OK: none failed)
  // MarkComplete's known ids (nullopt until then): target adoptions read later judge by them.
  std::optional<std::vector<std::string>> known_ids_;
  struct PrefixCheck {
    Connection* conn = nullptr;
    std::string prefix;
    std::set<std::string> present;
  };
  std::vector<PrefixCheck> prefix_checks_;  // verified, waiting for VerifyPrefixes
  bool draining_ = false;                   // Stop(revoke=true): no new operation starts
  // The owner's thread only: Start() and Stop() are called by the owner, never concurrently.
  bool started_ = false;
  bool stopped_ = false;
};

template <typename Resp>
std::function<void(absl::StatusOr<Resp>)> EngineImpl::ForReg(
    const Reg& reg, std::function<void(Reg&, absl::StatusOr<Resp>)> fn) {
  return
      [this, id = reg.desired.id, epoch = reg.epoch, fn = std::move(fn)](absl::StatusOr<Resp> r) {
        Reg* reg = Find(id);
        if (reg == nullptr || reg->epoch != epoch) {
          return;
        }
        reg->activity = Activity::kIdle;
        fn(*reg, std::move(r));
      };
}

}  // namespace registrar::publisher
