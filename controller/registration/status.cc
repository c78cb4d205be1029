#include "controller/registration/status.h"

#include <ctime>
#include <utility>

#include "absl/strings/str_format.h"

namespace registrar::registration {

namespace {

Condition Make(const char* type, bool on, const std::string& reason, const std::string& message,
               int64_t generation) {
  Condition c;
  c.type = type;
  c.status = on ? kConditionTrue : kConditionFalse;
  c.reason = reason;
  c.message = message;
  c.observed_generation = generation;
  return c;
}

}  // namespace

PhaseAndReason FromEngine(const publisher::State& state) {
  PhaseAndReason out;
  switch (state.phase) {
    case publisher::Phase::kPending:
      out.phase = kPhasePending;
      break;
    case publisher::Phase::kRegistered:
      out.phase = kPhaseRegistered;
      break;
    case publisher::Phase::kPaused:
      out.phase = kPhasePaused;
      break;
    case publisher::Phase::kFailed:
      out.phase = kPhaseFailed;
      break;
    case publisher::Phase::kTerminating:
      out.phase = kPhaseTerminating;
      break;
  }
  switch (state.cause) {
    case publisher::Cause::kRegistering:
      out.reason = kReasonRegistering;
      break;
    case publisher::Cause::kRegistered:
      out.reason = kReasonRegistered;
      break;
    case publisher::Cause::kPaused:
      out.reason = kReasonPaused;
      break;
    case publisher::Cause::kDryRun:
      out.reason = kReasonDryRun;
      break;
    case publisher::Cause::kEtcdUnavailable:
      out.reason = kReasonEtcdUnavailable;
      break;
    case publisher::Cause::kLeaseLost:
      out.reason = kReasonLeaseLost;
      break;
    case publisher::Cause::kKeyConflict:
      out.reason = kReasonKeyConflict;
      break;
    case publisher::Cause::kAuthFailed:
      out.reason = kReasonAuthFailed;
      break;
    case publisher::Cause::kRevoking:
      out.reason = kReasonRevoking;
      break;
  }
  return out;
}

std::string FormatTime(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

Status ComputeStatus(const ServiceRegistration& object,
                     const std::optional<publisher::State>& state,
                     const std::optional<Refusal>& refusal, const Status& previous,
                     std::chrono::system_clock::time_point now) {
  Status s;
  s.observed_generation = object.metadata.generation;
  std::string phase;
  std::string reason;
  std::string message;
  if (object.metadata.deletion_timestamp) {
    phase = kPhaseTerminating;
    reason = kReasonRevoking;
    message = state ? state->message : "";
  } else if (refusal) {
    phase = kPhaseFailed;
    reason = refusal->reason;
    message = refusal->message;
  } else if (!state) {
    phase = kPhasePending;
    reason = kReasonRegistering;
  } else {
    PhaseAndReason engine = FromEngine(*state);
    phase = std::move(engine.phase);
    reason = std::move(engine.reason);
    message = state->message;
  }
  if (state && !refusal) {
    s.full_key = state->full_key;
    s.lease_id = state->lease_id != 0 ? std::to_string(state->lease_id) : "";
    s.granted_ttl = state->granted_ttl;
    s.value = state->lease_id != 0 ? state->value : "";
  }
  s.phase = phase;

  int64_t gen = object.metadata.generation;
  bool ready = phase == kPhaseRegistered;
  bool reconciling = phase == kPhasePending || phase == kPhaseTerminating;
  bool stalled = phase == kPhaseFailed;
  std::string ready_message = ready ? "key " + s.full_key + " is live in etcd" : message;
  std::string reconciling_reason = reason;
  std::string reconciling_message = reconciling ? message : "";
  if (ready && state && state->moving && !refusal && !object.metadata.deletion_timestamp) {
    // Live on its current etcd connection, moving to another (make before break).
    reconciling = true;
    std::string secret;
    if (object.spec.etcd && object.spec.etcd->credentials_secret_ref) {
      secret = " (credentialsSecretRef: Secret " + object.metadata.namespace_ + "/" +
               object.spec.etcd->credentials_secret_ref->name + ")";
    }
    if (state->warning.empty()) {
      reconciling_reason = kReasonMoving;
      reconciling_message = state->message.empty()
                                ? "moving key " + s.full_key +
                                      " to another etcd target or credentials (make before "
                                      "break); it stays live on the current one until then"
                                : "moving key " + s.full_key + ": " + state->message;
    } else {
      reconciling_reason = kReasonCredentialsRejected;
      reconciling_message = state->warning + secret;
      ready_message += "; " + reconciling_message;
    }
  }
  s.conditions.push_back(Make(kConditionReady, ready, reason, ready_message, gen));
  s.conditions.push_back(
      Make(kConditionReconciling, reconciling, reconciling_reason, reconciling_message, gen));
  s.conditions.push_back(Make(kConditionStalled, stalled, reason, stalled ? message : "", gen));
  std::string stamp = FormatTime(now);
  for (auto& c : s.conditions) {
    c.last_transition_time = stamp;
    for (const auto& old : previous.conditions) {
      if (old.type == c.type && old.status == c.status && !old.last_transition_time.empty()) {
        c.last_transition_time = old.last_transition_time;
      }
    }
  }
  return s;
}

}  // namespace registrar::registration
