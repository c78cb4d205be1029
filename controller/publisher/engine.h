// File: controller/publisher/engine.h
//
// The registration engine: holds many registrations in etcd with go-zero's publisher semantics
// (DESIGN.md §2). `etcd-registrar publish` drives it with one registration and no ownership
// records; the controller drives thousands, with ownership records, adoption and orphan collection.
//
// Expected flow:
//   1. Start(): connects to the default target and, when ownership records are on, finds every
//      record of our owner id and keeps its lease alive at once (adoption), before any desired
//      state is known.
//   2. Upsert(desired) / Remove(id) as the caller's view changes (level-triggered: the latest
//      desired state of an id wins). MarkComplete(known ids) once the caller's view is complete:
//      adopted records that no desired registration claimed (orphans) are revoked only from then
//      on (see MarkComplete below).
//      With --namespace/--selector the caller learns the adopted records nobody claimed yet from
//      Unclaimed() (once adoption is done), asks its API about those outside its listing, and
//      passes the ids it confirmed as still existing in `known ids`.
//   3. The engine converges each registration on its own (grant, Txn put of key + record with the
//      lease, keep-alive, re-put on external delete, re-register on lease loss, make-before-break
//      spec changes, revoke on pause/removal) and reports each registration's State; Listener is
//      told the id after every state change.
//   4. Stop(revoke): the controller stops WITHOUT revoking (the next controller adopts); publish
//      revokes every lease before returning, owed revokes included.
// Targets: Desired::target names another etcd than the default one (spec.etcd). Registrations
// with equal ClientOptions::Identity() (endpoints, credentials, TLS material) share one
// connection. A target's own ownership records are read the first time a registration needs it
// (target_adoption.cc), before anything is written there: their leases are kept alive, taken
// over by the registrations they belong to, and the rest judged as orphans by the same rule as
// the default target's (after MarkComplete). A changed target (new endpoints or credentials) is a
// make-before-break move. A target connection nothing uses any more (no registration wants it,
// no lease, write or owed revoke left) is closed within a couple of seconds.
//
// Guarantees: a key is never written without a live lease; a registration never holds two leases
// except during a make-before-break change, and the old one is revoked once the new is live; a
// key that exists without our record is never overwritten or revoked (KeyConflict).
// Nothing relies on a lease expiring: a lease the engine decided to revoke (removal, pause, a
// replaced or intermediate lease, an unanswered grant, a settle lease, an orphan) is never
// renewed again, and when its revoke fails (etcd unreachable) it stays in its connection's revoke
// debt (publisher/revoke_debt.h), retried at once whenever etcd answers again and with backoff
// (1 s doubling to 30 s) meanwhile, until etcd says revoked or not found
// (EngineStats::pending_revokes counts them). Its ownership record stays until then, so a
// restarted engine finds it as an orphan.
// Thread-safety: every method may be called from any thread. Listener runs on the engine thread
// and must not block or call Stop().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "controller/common/clock.h"
#include "controller/common/optional_box.h"
#include "controller/etcd/client.h"
#include "controller/publisher/write_scheduler.h"

namespace registrar::publisher {

// What the caller wants published. Equal ids are the same registration.
struct Desired {
  std::string id;  // "namespace/name" in the controller, "publish" for the CLI
  std::string key;
  std::string value;
  int64_t key_id = 0;  // >= 1: full key is key/<key_id>; 0: key/<leaseID>
  int64_t ttl = 10;
  bool paused = false;
  // etcd to publish in; empty = the engine's default target. Boxed: 8 bytes, not 376, in each
  // of the engine's registrations (almost all on the default target).
  OptionalBox<etcd::ClientOptions> target;
  // Ownership record content (controller mode).
  std::string uid;
  std::string namespace_;
  std::string name;
};

enum class Phase { kPending, kRegistered, kPaused, kFailed, kTerminating };
const char* PhaseName(Phase phase);

// Why a registration is in its phase: the engine's own vocabulary. The controller maps it to
// its resource's condition reasons (registration/); CauseName() is the engine's name for logs.
enum class Cause {
  kRegistering,      // no key written yet (or a new lease is on its way)
  kRegistered,       // key written and its lease kept alive
  kPaused,           // desired paused: no lease held
  kDryRun,           // --dry-run: nothing is written
  kEtcdUnavailable,  // etcd did not answer, or the keep-alive stream is down
  kLeaseLost,        // the lease vanished; registering anew
  kKeyConflict,      // the key is held by someone else
  kAuthFailed,       // credentials rejected, or a TLS peer not trusted
  kRevoking,         // removed: revoking the lease
};
// "Registering", "Registered", "Paused", "DryRun", "EtcdUnavailable", "LeaseLost",
// "KeyConflict", "AuthFailed", "Revoking".
const char* CauseName(Cause cause);

// The observable state of one registration.
struct State {
  std::string id;
  Phase phase = Phase::kPending;
  Cause cause = Cause::kRegistering;
  std::string message;  // last error, empty when healthy
  // Registered on one connection while it moves to another (new endpoints or credentials):
  // the key stays live on the current one until it is written through the new one.
  bool moving = false;
  // While moving: etcd rejected the new connection's credentials (why, naming the user, never a
  // password); empty otherwise. (A new target not reachable yet is said in `message`.)
  std::string warning;
  std::string full_key;
  int64_t lease_id = 0;
  int64_t granted_ttl = 0;
  std::string value;
  std::optional<std::chrono::system_clock::time_point> last_renewal;
  int64_t reregistrations = 0;  // new leases after a loss
  int64_t key_reputs = 0;       // keys put back after an external delete
};

struct EngineOptions {
  etcd::ClientOptions default_target;
  // Ownership records `<owner_prefix><owner_id>/<fullKey>` (controller mode). Off for publish.
  bool ownership_records = true;
  std::string owner_prefix = "/etcd-registrar/owners/";
  std::string owner_id;
  std::string cluster;  // written into records; a record of another cluster is never adopted
  // Writes (grants, txns, revokes) in flight per connection; keep-alives are not counted.
  int max_in_flight = 256;
  // Log the etcd writes instead of doing them (etcd/dry_run_client.h; no connection is made).
  bool dry_run = false;
  // The settle writes after a burst (write_scheduler.h, rule 4); kAuto: on servers they help.
  SettleWrites settle_writes = SettleWrites::kAuto;
  // Called on the engine thread after each etcd write (for metrics): method, seconds, result.
  std::function<void(const char* method, double seconds, const absl::Status& status)> on_request;
};

// Counters for metrics.
struct EngineStats {
  int64_t lease_losses = 0;
  int64_t reregistrations = 0;
  int64_t key_reputs = 0;
  int64_t adopted = 0;
  int64_t orphans_revoked = 0;
  int64_t data_losses = 0;
  // Leases revoked (etcd said revoked or not found) by reason: "removed", "paused", "replaced",
  // "intermediate", "grant not answered", "granted for nobody", "settle" (the throwaway lease
  // of a settle write, publisher/write_scheduler.h: no registration's), "orphan".
  std::map<std::string, int64_t> revokes;
  // Leases whose revoke failed and is retried until etcd answers (the revoke debts of every
  // connection): a gauge.
  int64_t pending_revokes = 0;
  // etcd connections open (the default target's and one per other target in use): a gauge.
  int64_t connections = 0;
  // The default target answered the last probe (Maintenance.Status every 2 s; no call while its
  // keep-alive stream holds leases and answers, and a stream going down restarts the probe) and its
  // keep-alive stream is not known to be down.
  bool etcd_reachable = false;
  // Adoption finished: the ownership records were read (with etcd unreachable at start this
  // waits for etcd), or there are none to read (ownership records off). Unclaimed() answers from
  // then on.
  bool adoption_done = false;
};

// An ownership record of our owner id and cluster, found at start, that no registration has
// claimed (Engine::Unclaimed).
struct AdoptedRecord {
  std::string id;  // "namespace/name" of the record's resource
  std::string uid;
  std::string namespace_;
  std::string name;
  std::string full_key;  // the registration key it holds
  int64_t lease = 0;
};

class Engine {
 public:
  using Listener = std::function<void(const std::string& id)>;

  virtual ~Engine() = default;

  // Connects and adopts. Fails only on a bad default target (unreadable TLS files); an
  // unreachable etcd is retried in the background.
  virtual absl::Status Start() = 0;
  virtual void Stop(bool revoke) = 0;

  virtual void Upsert(Desired desired) = 0;
  // Revokes the registration; Get(id) returns nullopt once revoked, or once one TTL (the larger
  // of the granted and desired TTL) passed without etcd answering: deletion never hangs. The lease
  // is not renewed from Remove on; a revoke that failed stays in the revoke debt and is retried
  // until etcd answers (see Guarantees). A paused registration whose revoke failed shows
  // Pending/EtcdUnavailable (the key is still in etcd) until the debt is paid, then Paused.
  virtual void Remove(const std::string& id) = 0;
  // The caller's first listing is complete and holds `known_ids`. Adopted records of an id
  // outside it are orphans and revoked now; a record of a known id waits until that id has been
  // handed over (Upsert, or Remove when the caller refused or dropped it), and is revoked then if
  // the registration did not claim it. The caller needs no lock-step with its workers: nothing
  // is revoked only because a worker had not reached an object yet.
  // A known id that is never handed over keeps its record alive (held, not judged): that is
  // how a record the caller's GET confirmed as existing outside its scope is kept.
  virtual void MarkComplete(std::vector<std::string> known_ids) = 0;

  // The adopted records of our owner id and cluster that no registration has claimed and that
  // are not judged orphans (yet), in full-key order. nullopt until adoption is done
  // (EngineStats::adoption_done). A record claimed by an Upsert the engine thread has not handled
  // yet may still be listed: the caller looks only at the ids outside its own listing. After
  // MarkComplete only the records waiting for a known id remain. Safe from any thread (a
  // snapshot); never blocks on etcd, but waits up to `wait` for adoption to be done (woken the
  // moment it is). The default (an engine without adoption): an empty list.
  virtual std::optional<std::vector<AdoptedRecord>> Unclaimed(
      std::chrono::milliseconds /*wait*/ = std::chrono::milliseconds(0)) const {
    return std::vector<AdoptedRecord>{};
  }

  virtual std::optional<State> Get(const std::string& id) const = 0;
  virtual std::vector<State> List() const = 0;
  virtual EngineStats stats() const = 0;
  // Set before Start().
  virtual void SetListener(Listener listener) = 0;
};
using EnginePtr = std::unique_ptr<Engine>;

EnginePtr NewEngine(EngineOptions options, Clock& clock);

}  // namespace registrar::publisher
