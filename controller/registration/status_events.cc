#include "controller/registration/status_events.h"

#include "absl/strings/str_cat.h"

#include "controller/registration/conditions.h"

namespace registrar::registration {

namespace {

const Condition* Find(const Status& s, const char* type) {
  for (const Condition& c : s.conditions) {
    if (c.type == type) {
      return &c;
    }
  }
  return nullptr;
}

std::string ReasonOf(const Status& s) {
  const Condition* ready = Find(s, kConditionReady);
  return ready != nullptr ? ready->reason : "";
}

// The message a person reads: the condition that is True says most; Ready carries the
// message otherwise.
std::string MessageOf(const Status& s) {
  for (const char* type : {kConditionStalled, kConditionReconciling}) {
    const Condition* c = Find(s, type);
    if (c != nullptr && c->status == kConditionTrue && !c->message.empty()) {
      return c->message;
    }
  }
  const Condition* ready = Find(s, kConditionReady);
  return ready != nullptr ? ready->message : "";
}

std::string LeaseText(const Status& s) {
  if (s.lease_id.empty()) {
    return "";
  }
  return absl::StrCat(" with lease ", s.lease_id, " (TTL ", s.granted_ttl, "s)");
}

}  // namespace

bool IsFailureReason(const std::string& reason) {
  for (const char* r : {kReasonInvalidSpec, kReasonKeyConflict, kReasonKeyNotAllowed,
                        kReasonEndpointNotAllowed, kReasonAuthFailed, kReasonEtcdUnavailable,
                        kReasonEtcdTargetUnsupported, kReasonValueFromUnsupported,
                        kReasonSecretNotFound}) {
    if (reason == r) {
      return true;
    }
  }
  return false;
}

std::vector<EventSpec> StatusEvents(const Status& before, const Status& after,
                                    const EngineCounters& seen, const EngineCounters& now) {
  std::vector<EventSpec> out;
  const std::string before_reason = ReasonOf(before);
  const std::string after_reason = ReasonOf(after);
  const bool moved = before.phase != after.phase || before_reason != after_reason;
  if (before.phase == kPhasePaused &&
      (after.phase == kPhasePending || after.phase == kPhaseRegistered)) {
    out.push_back({EventType::kNormal, kEventResumed,
                   "spec.paused is false: registering in etcd again"});
  }
  if (after.phase == kPhaseRegistered && before.phase != kPhaseRegistered) {
    out.push_back({EventType::kNormal, kReasonRegistered,
                   absl::StrCat("key ", after.full_key, " is live in etcd", LeaseText(after))});
  }
  if (after.phase == kPhasePaused && before.phase != kPhasePaused) {
    out.push_back({EventType::kNormal, kReasonPaused,
                   "spec.paused is true: the lease is revoked and the key removed from etcd; "
                   "set spec.paused to false to register again"});
  }
  if (moved && IsFailureReason(after_reason)) {
    out.push_back({EventType::kWarning, after_reason, MessageOf(after)});
  }
  const Condition* reconciling_before = Find(before, kConditionReconciling);
  const Condition* reconciling_after = Find(after, kConditionReconciling);
  if (reconciling_after != nullptr && reconciling_after->status == kConditionTrue &&
      reconciling_after->reason == kReasonCredentialsRejected &&
      (reconciling_before == nullptr || reconciling_before->status != kConditionTrue ||
       reconciling_before->reason != kReasonCredentialsRejected)) {
    // Still Registered: the key is live with the previous credentials.
    out.push_back({EventType::kWarning, kReasonCredentialsRejected, reconciling_after->message});
  }
  const bool lost_counted = now.reregistrations > seen.reregistrations;
  if (lost_counted || (after_reason == kReasonLeaseLost && before_reason != kReasonLeaseLost)) {
    std::string message =
        after.phase == kPhaseRegistered
            ? absl::StrCat("the lease was lost (expired or unknown to etcd); registered again: ",
                           after.full_key, LeaseText(after))
            : "the lease was lost (expired or unknown to etcd); registering again";
    out.push_back({EventType::kWarning, kReasonLeaseLost, std::move(message)});
  }
  if (now.key_reputs > seen.key_reputs) {
    int64_t times = now.key_reputs - seen.key_reputs;
    std::string key = after.full_key.empty() ? before.full_key : after.full_key;
    out.push_back(
        {EventType::kWarning, kEventKeyRePut,
         absl::StrCat("key ", key, " was deleted from etcd by someone else and put back with the "
                      "same lease", times > 1 ? absl::StrCat(" (", times, " times)") : "")});
  }
  return out;
}

}  // namespace registrar::registration
