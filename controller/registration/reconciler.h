// File: controller/registration/reconciler.h
//
// Turns the desired ServiceRegistrations of a source into engine actions (DESIGN.md §1–§3).
//
// Expected flow: a source's change handler enqueues identities ("namespace/name"); workers call
// Reconcile(identity), which re-reads the object from the source (level-triggered) and:
//   - object gone: Engine::Remove (the lease is revoked), but only once the source has synced;
//     before that, absent is not deleted and nothing happens;
//   - object terminating (deletionTimestamp set): Engine::Remove; the caller learns that the
//     engine let it go when Engine::Get(identity) returns nullopt;
//   - spec refused (validation.h, then policy_rules.h): the registration is NOT handed to the
//     engine (Engine::Remove: one that was live is revoked, as it is no longer allowed), the
//     refusal is kept for status (Failed with InvalidSpec, KeyNotAllowed or EndpointNotAllowed)
//     and Reconcile returns kFailedPrecondition: not retried until the object changes;
//   - otherwise Engine::Upsert with the desired state, and a requeue after `resync`; the engine
//     converges on its own.
// refusal(identity) gives the kept refusal; status.h ComputeStatus turns it and the engine's
// state into the object's status.
//
// Kubernetes mode (ReconcilerOptions::writer set; kube_reconcile.cc), in this order:
//   - terminating with our finalizer: Engine::Remove; while Engine::Get still has a state, the
//     status says Terminating/Revoking (written once) and the identity is requeued after
//     `revoke_poll`; once the engine let it go (revoked, or one TTL without etcd answering),
//     event Revoked and RemoveFinalizer. Terminating without our finalizer: Engine::Remove only,
//     no API write.
//   - refused (validation, policy, spec.etcd without a SecretReader: EtcdTargetUnsupported, a
//     missing Secret or key: SecretNotFound): Engine::Remove, status Failed/Stalled with the
//     reason, a Warning event on entering it; kFailedPrecondition, except SecretNotFound, looked
//     at again after `secret_recheck` (a Secret's creation changes nothing we watch).
//   - spec.etcd: its Secrets are read (GET) on every reconcile (target_resolver.h) and the engine
//     is given the target; a changed Secret is a new target, which the engine moves to make
//     before break. While the engine says AuthFailed, or that the move to new credentials waits
//     (moving with a warning), the identity is requeued after `secret_recheck`, so a rotated
//     Secret is picked up; after `live_auth_recheck` while AuthFailed with a lease still held
//     (the password was changed in etcd: the key lasts until the lease ends). A Secret the API
//     cannot serve now is an error (retried with backoff), and the registration keeps its last
//     target.
//   - otherwise: AddFinalizer first when ours is missing (never on an object being deleted),
//     then Engine::Upsert, then the status.
//   - status: ComputeStatus from the object, Engine::Get and the refusal; written (WriteStatus)
//     only when it differs from the status the object has. Pending/Registering (the engine has
//     not registered the key yet, or has not even looked at it) is not written during the
//     first `registering_grace` after the reconcile that first saw it: the engine's listener
//     re-queues the identity when the key goes live, and that reconcile writes Registered
//     directly (one status write for a new object instead of two; none for a restart that
//     adopts a registration whose status already says Registered: no Ready flicker). Still
//     registering after the grace: Pending is written then. A lease renewal changes nothing in
//     it, so it never writes. A 409 re-reads the object: same generation -> recompute and retry;
//     a newer generation -> nothing written (kAborted: the newer spec gets its own reconcile).
//   - events (status_events.h) from the status transition and the engine's counters.
//   Our own writes are remembered per identity (the object each write returned), so a reconcile
//   that reads a cache still behind them works from what was written rather than writing it
//   again. Cost: per identity a uid, two counters and at most 8 resource versions, plus one copy
//   of the object until the cache has caught up with our last write; forgotten when the object
//   is gone.
// WHAT THE CALLER MUST DO in Kubernetes mode: wire publisher::Engine::SetListener to re-queue the
// identity it names (WorkQueue::Add), so status and events follow the engine's state changes
// (registered, lease lost, key re-put, revoked) instead of waiting for `resync`; and feed
// DesiredView from the watch cache, whose object must carry metadata.resourceVersion,
// finalizers, deletionTimestamp and status (decode.h ParseJson of the API object does).
//
// Thread-safety: Reconcile may run on several workers at once (for different identities, as the
// work queue guarantees); refusal() may be called from any thread.
// Ownership: refers to the engine, the policy, and the writer and clock of the options; all must
// outlive it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "controller/common/clock.h"
#include "controller/common/optional_box.h"
#include "controller/config/policy.h"
#include "controller/publisher/engine.h"
#include "controller/registration/object_writer.h"
#include "controller/registration/status.h"
#include "controller/registration/status_events.h"
#include "controller/registration/target_resolver.h"
#include "controller/registration/validation.h"
#include "controller/runtime/controller_loop.h"

namespace registrar::registration {

// Where the reconciler reads desired objects: a source's store (source/ depends on this module,
// not the other way round, so the source is seen through two functions).
struct DesiredView {
  // The object with this identity, or nullptr.
  std::function<std::shared_ptr<const ServiceRegistration>(const std::string& identity)> get;
  // True once the source's first complete listing is in: before, absent is not deleted.
  std::function<bool()> synced;
};

struct ReconcilerOptions {
  SourceMode mode = SourceMode::kManifests;
  std::string owner_prefix = kDefaultOwnerPrefix;
  // How often a live registration is looked at again without a change (eventual consistency);
  // 0: never (--resync-period 0), only on a change or when a grace or recheck is due.
  std::chrono::seconds resync{300};
  // Kubernetes mode: finalizer, status and events through it (object_writer.h). nullptr:
  // manifest mode (no API writes; status is served on /registrations).
  ObjectWriter* writer = nullptr;
  // Timestamps of status conditions (Kubernetes mode). nullptr: RealClock.
  Clock* clock = nullptr;
  // How often a terminating object is looked at while the engine revokes its lease.
  std::chrono::milliseconds revoke_poll{1000};
  // How long a Pending/Registering status waits before it is written (above); 0: at once.
  std::chrono::milliseconds registering_grace{5000};
  // spec.etcd targets (target_resolver.h): how Secrets are read. Unset: spec.etcd is refused
  // with EtcdTargetUnsupported.
  SecretReader secrets;
  // Timeouts and backoff of a target's connection (never its credentials or TLS material).
  etcd::ClientOptions target_base;
  // A registration with a target whose Secret is missing (SecretNotFound), or whose credentials
  // etcd rejects (AuthFailed), is looked at again this often: its Secrets are read anew.
  std::chrono::milliseconds secret_recheck{5000};
  // A registration whose key is still live on a connection whose credentials etcd rejects now
  // (the password was changed in etcd before the Secret) is looked at this often: the key lasts
  // only until its lease ends, so the new password is picked up as soon as the Secret has it.
  // Cost: one GET per Secret of the registration each time, for at most one TTL (then its lease
  // is gone and `secret_recheck` applies).
  std::chrono::milliseconds live_auth_recheck{500};
};

class RegistrationReconciler final : public runtime::Reconciler {
 public:
  // `engine` and `policy` must outlive the reconciler.
  RegistrationReconciler(DesiredView view, publisher::Engine& engine, const config::Policy& policy,
                         ReconcilerOptions options);

  absl::StatusOr<Result> Reconcile(const std::string& identity) override;

  std::optional<Refusal> refusal(const std::string& identity) const;

  // The engine's desired form of an object (manifest or Kubernetes), on `target` (nullopt: the
  // engine's default target).
  static publisher::Desired ToDesired(const ServiceRegistration& object,
                                      std::optional<etcd::ClientOptions> target = std::nullopt);

 private:
  // What the reconciler knows of an identity beyond the cache (Kubernetes mode).
  struct Memo {
    std::string uid;
    // The object as our last write returned it, and the versions it superseded: a cached
    // object at one of those is older than `latest`. Boxed: empty once the cache caught up,
    // which is nearly always, and a memo is kept per object (792 -> ~200 B a map node).
    OptionalBox<ServiceRegistration> latest;
    std::vector<std::string> superseded;
    EngineCounters counters;        // the engine's counters last seen
    std::string last_revoke_error;  // the engine's message while revoking
    // When a reconcile first found the status to write was Pending/Registering (unwritten).
    std::optional<Clock::TimePoint> registering_since;
  };

  // What the reconciler makes of an object: refused, or allowed on a target (nullopt: the
  // default one).
  struct Decision {
    std::optional<Refusal> refusal;
    std::optional<etcd::ClientOptions> target;
  };
  // An error: a Secret could not be read for now (retried; the engine keeps what it has).
  absl::StatusOr<Decision> Decide(const ServiceRegistration& object) const;
  // The periodic requeue of a live registration: options_.resync, none when it is 0.
  std::optional<Clock::Duration> Resync() const {
    if (options_.resync <= std::chrono::seconds::zero()) {
      return std::nullopt;
    }
    return options_.resync;
  }
  // When to look at a registration on a target again sooner than `resync` (AuthFailed).
  std::optional<Clock::Duration> TargetRecheck(const std::string& identity,
                                               const Decision& decision) const;
  void KeepRefusal(const std::string& identity, const std::optional<Refusal>& refusal);
  absl::StatusOr<Result> ReconcileKube(const std::string& identity,
                                       const std::shared_ptr<const ServiceRegistration>& object);
  absl::StatusOr<Result> Finalize(const std::string& identity, const ServiceRegistration& object);
  // Writes the status when it changed and records the events; `object` is the newest view.
  // With `deferred` set, a Pending/Registering status within its grace is not written and
  // *deferred is the rest of the grace (zero otherwise).
  absl::Status PublishStatus(const std::string& identity, const ServiceRegistration& object,
                             const std::optional<Refusal>& refusal,
                             Clock::Duration* deferred = nullptr);
  // The rest of the Registering grace of `identity` (starting it now when it has not started).
  Clock::Duration RegisteringGrace(const std::string& identity, const std::string& uid,
                                   Clock::TimePoint now);
  // The newest of the cached object and our own last write of it.
  ServiceRegistration Newest(const std::string& identity, const ServiceRegistration& cached);
  void Wrote(const std::string& identity, const std::string& superseded_rv,
             const ServiceRegistration& written);
  Memo MemoOf(const std::string& identity);
  void Forget(const std::string& identity);

  const DesiredView view_;
  publisher::Engine& engine_;
  const config::Policy& policy_;
  const ReconcilerOptions options_;

  mutable absl::Mutex mu_;
  std::map<std::string, Refusal> refusals_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Memo> memos_ ABSL_GUARDED_BY(mu_);
};

}  // namespace registrar::registration
