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
// Thread-safety: Reconcile may run on several workers at once (for different identities, as the
// work queue guarantees); refusal() may be called from any thread.
// Ownership: refers to the engine and the policy it is given; both must outlive it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "controller/config/policy.h"
#include "controller/publisher/engine.h"
#include "controller/registration/status.h"
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
  // How often a live registration is looked at again without a change (eventual consistency).
  std::chrono::seconds resync{300};
};

class RegistrationReconciler final : public runtime::Reconciler {
 public:
  // `engine` and `policy` must outlive the reconciler.
  RegistrationReconciler(DesiredView view, publisher::Engine& engine, const config::Policy& policy,
                         ReconcilerOptions options);

  absl::StatusOr<Result> Reconcile(const std::string& identity) override;

  std::optional<Refusal> refusal(const std::string& identity) const;

  // The engine's desired form of an object (manifest or Kubernetes).
  static publisher::Desired ToDesired(const ServiceRegistration& object);

 private:
  const DesiredView view_;
  publisher::Engine& engine_;
  const config::Policy& policy_;
  const ReconcilerOptions options_;

  mutable absl::Mutex mu_;
  std::map<std::string, Refusal> refusals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace registrar::registration
