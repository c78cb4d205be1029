#include "controller/registration/reconciler.h"

#include <utility>

#include "controller/registration/conditions.h"
#include "controller/registration/policy_rules.h"
#include "spdlog/spdlog.h"

namespace registrar::registration {

RegistrationReconciler::RegistrationReconciler(DesiredView view, publisher::Engine& engine,
                                               const config::Policy& policy,
                                               ReconcilerOptions options)
    : view_(std::move(view)), engine_(engine), policy_(policy), options_(std::move(options)) {}

publisher::Desired RegistrationReconciler::ToDesired(const ServiceRegistration& object) {
  publisher::Desired d;
  d.id = object.Identity();
  d.key = object.spec.key;
  d.value = object.spec.value.value_or("");
  d.key_id = object.spec.id;
  d.ttl = object.spec.ttl_seconds;
  d.paused = object.spec.paused;
  d.uid = object.metadata.uid;
  d.namespace_ = object.metadata.namespace_;
  d.name = object.metadata.name;
  return d;
}

std::optional<Refusal> RegistrationReconciler::Decide(const ServiceRegistration& object) const {
  if (auto errors = Validate(object, options_.mode, options_.owner_prefix); !errors.empty()) {
    return Refusal{kReasonInvalidSpec, FormatErrors(errors)};
  }
  if (object.spec.etcd) {  // valid only in Kubernetes mode; not implemented yet
    return Refusal{kReasonEtcdTargetUnsupported,
                   "spec.etcd (a per-registration etcd target) is not supported by this "
                   "controller version; remove spec.etcd to register on the controller's own "
                   "etcd (--etcd-endpoints)"};
  }
  if (PolicyDecision decision = DecidePolicy(policy_, object); !decision.allowed) {
    return Refusal{std::move(decision.reason), std::move(decision.message)};
  }
  return std::nullopt;
}

void RegistrationReconciler::KeepRefusal(const std::string& identity,
                                         const std::optional<Refusal>& refusal) {
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    if (!refusal) {
      refusals_.erase(identity);
      return;
    }
    auto it = refusals_.find(identity);
    changed = it == refusals_.end() || it->second.message != refusal->message;
    refusals_[identity] = *refusal;
  }
  if (changed) {
    spdlog::warn("{}: {}: {}", identity, refusal->reason, refusal->message);
  }
}

absl::StatusOr<runtime::Reconciler::Result> RegistrationReconciler::Reconcile(
    const std::string& identity) {
  std::shared_ptr<const ServiceRegistration> object = view_.get(identity);
  if (object == nullptr && !view_.synced()) {
    return Result{};  // not known yet is not deleted
  }
  if (options_.writer != nullptr) {
    return ReconcileKube(identity, std::move(object));
  }
  if (object == nullptr || object->metadata.deletion_timestamp) {
    KeepRefusal(identity, std::nullopt);
    engine_.Remove(identity);
    return Result{};
  }

  std::optional<Refusal> refusal = Decide(*object);
  KeepRefusal(identity, refusal);
  if (refusal) {
    engine_.Remove(identity);
    // A person must act: terminal, not retried until the object changes.
    return absl::FailedPreconditionError(refusal->reason + ": " + refusal->message);
  }
  engine_.Upsert(ToDesired(*object));
  return Result{options_.resync};
}

std::optional<Refusal> RegistrationReconciler::refusal(const std::string& identity) const {
  absl::MutexLock lock(&mu_);
  auto it = refusals_.find(identity);
  if (it == refusals_.end()) {
    return std::nullopt;
  }
  return it->second;
}

}  // namespace registrar::registration
