// File: controller/publisher/connection.h
//
// One etcd target of the engine (a Connection: client, lease keeper, write scheduler, the keys
// and leases of ours on it) and the pool that makes them from injected factories, so tests run
// the engine on a fake client and keeper.
//
// Flow: ConnectionPool::For(options) returns the connection for options.Identity(), making it
// (client, keeper, Start) on first use. Every write goes through Write(): it waits in the
// connection's WriteScheduler (write_scheduler.h) until its rules let it start, runs the client
// call, and the answer is posted to the engine thread, where the slot is released (the request
// hook sees method, duration and result; Events::OnAnswered runs; the scheduler is pumped) and
// then the caller's handler runs. Pump() also asks Events::SettleKey for the settle key write and
// grants + revokes a throwaway lease for the settle lease write, on connections whose server they
// help (AskVersion learns it per connection: etcd/server_version.h). Every revoke goes through
// Revoke(): one that fails (anything but "lease not found") puts the lease into the connection's
// revoke debt (revoke_debt.h), retried by PayDebt() with backoff and at once on Reconnected()
// (keep-alive stream up, probe answering again, a write answered after one failed unreachable),
// until etcd answers; Events::OnRevokeDeferred / OnRevoked tell the engine.
//
// Thread-safety: everything runs on the engine thread, except the keeper's Listener callbacks,
// which post to it (OnRenewed goes straight to Events::OnRenewed, on the keeper's thread).
// Ownership: the pool owns its connections; a Connection owns its client and keeper. Pointers to
// connections stay valid until Clear(), or until a grace period after Retire() (a target that
// no registration uses any more: closed, then destroyed once nothing can refer to it).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

#include "controller/common/backoff.h"
#include "controller/common/clock.h"
#include "controller/etcd/client.h"
#include "controller/etcd/lease_keeper.h"
#include "controller/etcd/server_version.h"
#include "controller/publisher/adoption.h"
#include "controller/publisher/event_loop.h"
#include "controller/publisher/revoke_debt.h"
#include "controller/publisher/txn.h"
#include "controller/publisher/write_scheduler.h"

namespace registrar::publisher {

using ClientFactory = std::function<absl::StatusOr<etcd::ClientPtr>(const etcd::ClientOptions&)>;
using KeeperFactory =
    std::function<etcd::LeaseKeeperPtr(etcd::Client&, Clock&, etcd::LeaseKeeper::Listener&)>;

class ConnectionPool;

// A new key waiting for the connection's next batched Txn.
struct BatchedPut {
  std::string id;
  uint64_t epoch = 0;
  KeyWrite write;
};

struct Connection final : etcd::LeaseKeeper::Listener {
  ConnectionPool* pool = nullptr;
  std::string identity;
  std::vector<std::string> endpoints;  // the etcd it reaches (several connections may share it)
  etcd::ClientPtr client;
  etcd::LeaseKeeperPtr keeper;
  WriteScheduler writes;
  std::optional<Clock::TimePoint> pump_at;  // a Pump is posted for then
  std::vector<BatchedPut> batch;            // new keys for the next batched Txn
  bool flush_posted = false;
  std::unordered_map<std::string, std::string> key_owner;  // full key -> registration id
  std::unordered_map<int64_t, std::string> lease_owner;    // lease -> registration id
  // Registrations in KeyConflict, by the full key they wait for.
  std::unordered_map<std::string, std::set<std::string>> conflict_waiters;
  bool healthy = false;            // the keep-alive stream is up
  bool down = false;               // the keeper said the stream went down (and not up again since)
  bool write_unreachable = false;  // a write failed unreachable (no OK answer since)
  RevokeDebt debt;                 // leases whose revoke failed, retried until done
  std::optional<Clock::TimePoint> debt_at;  // a PayDebt is posted for then
  int64_t regressions_seen = 0;
  // The server's version (Maintenance.Status), asked when the connection is made and whenever
  // its keep-alive stream comes up again; nullopt until answered (or unreadable).
  std::optional<etcd::ServerVersion> server_version;
  uint64_t version_asks = 0;  // Status calls made; an answer older than the latest is dropped
  uint64_t version_answers = 0;  // their answers that reached the engine thread
  // A target other than the engine's default (a registration's spec.etcd): the ownership
  // records of our owner id on it, read once when the first registration needs it and before
  // anything is written there (target_adoption.cc). nullptr: the default target (its adoption
  // is the engine's), or not read yet.
  std::unique_ptr<Adoption> adoption;
  bool adopting = false;  // its records are being read (or the read waits for a retry)
  bool adopt_in_flight = false;  // the Range of that read is under way
  uint64_t adopt_round = 0;      // a retry posted for an older round is dropped
  // etcd rejected this connection's user or password (its keep-alive stream could not
  // authenticate again: the password was changed in etcd); cleared when the stream is up again.
  absl::Status rejected;
  // When its credentials were last checked because another connection's to the same etcd were
  // rejected (engine move.cc CheckOlderCredentials).
  std::optional<Clock::TimePoint> credentials_checked_at;
  Backoff adopt_backoff{std::chrono::milliseconds(100), std::chrono::milliseconds(2000)};

  void OnRenewed(int64_t lease, int64_t ttl) override;
  void OnLost(int64_t lease) override;
  void OnConnectivity(bool up) override;
  void OnRenewalsAnswered() override;
  void OnStreamClosed(const absl::Status& status) override;
};

// Whether `a` and `b` reach the same etcd (the same connection, or the same endpoints with other
// credentials or TLS material): a key held by a lease of one is seen by the other.
inline bool SameEtcd(const Connection* a, const Connection* b) {
  return a == b || (a != nullptr && b != nullptr && a->endpoints == b->endpoints);
}

struct WriteOptions {
  // Follow-up work of a registration already under way goes before new grants.
  bool first = true;
  int cost = 1;  // entries written (puts, deletes, a lease)
  bool settle = false;
};

// A revoke deletes the lease, its key and its record.
inline constexpr int kRevokeCost = 3;

class ConnectionPool {
 public:
  // What the engine hears from its connections; all on the engine thread except OnRenewed.
  class Events {
   public:
    virtual ~Events() = default;
    virtual void OnRenewed(Connection* conn, int64_t lease) = 0;
    virtual void OnLeaseLost(Connection* conn, int64_t lease) = 0;
    virtual void OnConnectivity(Connection* conn, bool up) = 0;
    // etcd rejected `conn`'s credentials (`status` names the user, never the password).
    virtual void OnCredentialsRejected(Connection* conn, const absl::Status& status) = 0;
    // A write of `conn` was answered (before its handler runs).
    virtual void OnAnswered(Connection* conn) = 0;
    // The key to rewrite for the settle key write; nullopt: none held.
    virtual std::optional<std::string> SettleKey(Connection* conn) = 0;
    // A revoke failed and its lease entered the connection's revoke debt (once per lease).
    virtual void OnRevokeDeferred(Connection* conn, const PendingRevoke& revoke) = 0;
    // etcd answered a revoke with "revoked" or "lease not found"; `from_debt`: it had failed
    // before (the lease was in the debt).
    virtual void OnRevoked(Connection* conn, const PendingRevoke& revoke, bool from_debt) = 0;
  };
  using RequestHook = std::function<void(const char*, double, const absl::Status&)>;

  ConnectionPool(ClientFactory new_client, KeeperFactory new_keeper, Clock& clock, EventLoop& loop,
                 int max_in_flight, RequestHook on_request, Events& events);

  // The connection for `options`, made on first use. Fails as the client factory does.
  absl::StatusOr<Connection*> For(const etcd::ClientOptions& options);

  // Queues the write `call(req)` on `conn`; `on_answer` runs on the engine thread after the slot
  // is released.
  template <typename Req, typename Resp>
  void Write(Connection* conn, const char* method, Req req,
             void (etcd::Client::*call)(Req, etcd::Callback<Resp>),
             std::type_identity_t<std::function<void(absl::StatusOr<Resp>)>> on_answer,
             WriteOptions options = {});

  // Revokes `revoke.lease` through the write scheduler. The caller has stopped renewing it.
  // Revoked or "lease not found": the lease leaves the debt, Events::OnRevoked, then
  // `on_answer(OkStatus)`. Any other failure: the lease enters (or stays in) the connection's
  // revoke debt and is retried until etcd answers (Events::OnRevokeDeferred when it enters), then
  // `on_answer(the failure)`.
  void Revoke(Connection* conn, PendingRevoke revoke,
              std::function<void(const absl::Status&)> on_answer = nullptr);
  // etcd answers again on `conn`: every lease of its debt is retried now (revoke_debt.h, rule 2).
  void Reconnected(Connection* conn);
  // Revokes the debt's leases that are due, and plans the next look.
  void PayDebt(Connection* conn);
  // Leases in the revoke debts of every connection.
  size_t debt_size() const;

  // Starts what the scheduler allows now, settles when it asks, and plans the next look.
  void Pump(Connection* conn);
  // Asks the server's version (Maintenance.Status) for conn->server_version; the answer arrives
  // on the engine thread. Called by For() and when the keep-alive stream comes up again.
  void AskVersion(Connection* conn);
  // Whether `conn` sends settle writes now (SettleWrites and its server's version).
  bool SettlesOn(const Connection& conn) const;
  void set_settle_writes(SettleWrites mode) { settle_writes_ = mode; }

  // A random positive 62-bit lease ID (0 would ask etcd to choose).
  int64_t NewLeaseId();

  std::vector<Connection*> all() const;
  // The connection of `identity` (ClientOptions::Identity()), or nullptr; never makes one.
  Connection* Find(const std::string& identity) const;
  // Nothing of `conn` is under way or held: no lease kept alive, no write queued or in flight,
  // no revoke owed, no timer or version ask pending.
  bool Idle(const Connection& conn) const;
  // Closes `conn` (its keep-alive stream ends; no request is sent on it again) and takes it out
  // of the pool: For() makes a new one for its identity. The struct and its client are
  // destroyed `grace` later, once no timer of it is pending, so that callbacks already posted
  // with it still find it. REQUIRES: Idle(*conn), and the engine holds nothing on it.
  void Retire(Connection* conn, Clock::Duration grace);
  // Stops every keeper (no callback runs after).
  void StopKeepers();
  void Clear() {
    conns_.clear();
    retired_.clear();
  }

 private:
  friend struct Connection;
  using SlotDone = std::function<void(const absl::Status&)>;
  void Submit(Connection* conn, const char* method, std::function<void(SlotDone)> op,
              WriteOptions options);
  void Release(Connection* conn, const char* method, Clock::TimePoint started,
               const absl::Status& status);
  void Settle(Connection* conn, WriteKind kind);
  void ScheduleDebt(Connection* conn);
  void DestroyLater(Connection* conn, Clock::Duration grace);

  ClientFactory new_client_;
  KeeperFactory new_keeper_;
  Clock& clock_;
  EventLoop& loop_;
  int max_in_flight_;
  RequestHook on_request_;
  Events& events_;
  std::map<std::string, std::unique_ptr<Connection>> conns_;
  // Closed connections waiting for their grace (Retire) before they are destroyed.
  std::vector<std::unique_ptr<Connection>> retired_;
  SettleWrites settle_writes_ = SettleWrites::kAuto;
  std::mt19937_64 rng_{std::random_device{}()};
};

template <typename Req, typename Resp>
void ConnectionPool::Write(
    Connection* conn, const char* method, Req req,
    void (etcd::Client::*call)(Req, etcd::Callback<Resp>),
    std::type_identity_t<std::function<void(absl::StatusOr<Resp>)>> on_answer,
    WriteOptions options) {
  Submit(
      conn, method,
      [this, conn, call, req = std::move(req),
       on_answer = std::move(on_answer)](SlotDone release) mutable {
        ((*conn->client).*call)(std::move(req), [this, release, on_answer](absl::StatusOr<Resp> r) {
          loop_.Post([release, on_answer, r = std::move(r)]() mutable {
            release(r.status());
            if (on_answer) {
              on_answer(std::move(r));
            }
          });
        });
      },
      options);
}

}  // namespace registrar::publisher
