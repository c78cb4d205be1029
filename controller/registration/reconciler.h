// File: controller/registration/reconciler.h
//
// Turns the desired ServiceRegistrations of a source into engine actions (DESIGN.md §1–§3).
//
// Expected flow: a source's change handler enqueues identities ("namespace/name"); workers call
// Reconcile(identity), which re-reads the object from the store (level-triggered) and:
//   - object gone (and the source has synced): Engine::Remove — the lease is revoked;
//   - object terminating: Engine::Remove, and Done(identity) tells the caller when the finalizer
//     may go (the engine let it go);
//   - spec refused (validation, policy): the registration is NOT handed to the engine, and the
//     refusal is kept for status (Failed/InvalidSpec, KeyNotAllowed, EndpointNotAllowed); a
//     registration that was live is revoked, as the policy now forbids it;
//   - otherwise Engine::Upsert with the desired state; the engine converges on its own.
// Status(identity) computes the status from the engine's state and the refusal (status.h).
//
// Thread-safety: Reconcile may run on several workers at once (for different identities, as the
// work queue guarantees); Status/Refusal may be called from any thread.
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
