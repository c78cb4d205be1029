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

publisher::Desired RegistrationReconciler::ToDesired(const ServiceRegistration& object,
                                                     std::optional<etcd::ClientOptions> target) {
  publisher::Desired d;
  d.target = std::move(target);
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

absl::StatusOr<RegistrationReconciler::Decision> RegistrationReconciler::Decide(
    const ServiceRegistration& object) const {
  auto refuse = [](const char* reason, std::string message) {
    return Decision{.refusal = Refusal{reason, std::move(message)}, .target = std::nullopt};
  };
  if (auto errors = Validate(object, options_.mode, options_.owner_prefix); !errors.empty()) {
    return refuse(kReasonInvalidSpec, FormatErrors(errors));
  }
  if (object.spec.etcd && !options_.secrets) {  // valid only in Kubernetes mode
    return refuse(kReasonEtcdTargetUnsupported,
                  "spec.etcd (a per-registration etcd target) is not supported here; remove "
                  "spec.etcd to register on the controller's own etcd (--etcd-endpoints)");
  }
  if (object.spec.value_from) {  // valid only in Kubernetes mode; not implemented yet
    return refuse(kReasonValueFromUnsupported,
                  "spec.valueFrom (publishing the endpoints of a Service) is not supported by "
                  "this controller version; set spec.value to the address to publish instead");
  }
  if (PolicyDecision decision = DecidePolicy(policy_, object); !decision.allowed) {
    return Decision{.refusal = Refusal{std::move(decision.reason), std::move(decision.message)},
                    .target = std::nullopt};
  }
  if (!object.spec.etcd) {
    return Decision{};
  }
  // Allowed by policy: only now are its Secrets read.
  auto resolved = ResolveTarget(*object.spec.etcd, object.metadata.namespace_, options_.secrets,
                                options_.target_base);
  if (!resolved.ok()) {
    return resolved.status();
  }
  if (resolved->refusal) {
    return Decision{.refusal = std::move(resolved->refusal), .target = std::nullopt};
  }
  return Decision{.refusal = std::nullopt, .target = std::move(resolved->options)};
}

std::optional<Clock::Duration> RegistrationReconciler::TargetRecheck(
    const std::string& identity, const Decision& decision) const {
  RecheckInput in;
  in.secret_missing = decision.refusal && decision.refusal->reason == kReasonSecretNotFound;
  if (decision.target) {
    if (std::optional<publisher::State> state = engine_.Get(identity)) {
      in.auth_failed = state->cause == publisher::Cause::kAuthFailed;
      in.lease_held = state->lease_id != 0;
      in.move_waits = state->moving && !state->warning.empty();
    }
  }
  if (std::optional<std::chrono::milliseconds> after =
          SecretRecheck(in, options_.secret_recheck, options_.live_auth_recheck)) {
    return *after;
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
    return ReconcileKube(identity, object);
  }
  if (object == nullptr || object->metadata.deletion_timestamp) {
    KeepRefusal(identity, std::nullopt);
    engine_.Remove(identity);
    return Result{};
  }

  absl::StatusOr<Decision> decision = Decide(*object);
  if (!decision.ok()) {
    return decision.status();
  }
  const std::optional<Refusal>& refusal = decision->refusal;
  KeepRefusal(identity, refusal);
  if (refusal) {
    engine_.Remove(identity);
    // A person must act: terminal, not retried until the object changes.
    return absl::FailedPreconditionError(refusal->reason + ": " + refusal->message);
  }
  engine_.Upsert(ToDesired(*object, decision->target));
  return Result{Resync()};
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
