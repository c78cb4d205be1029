#include "controller/registration/status.h"

#include <ctime>

#include "absl/strings/str_format.h"

namespace registrar::registration {

namespace {

Condition Make(const char* type, bool on, const std::string& reason, const std::string& message,
               int64_t generation) {
  Condition c;
  c.type = type;
  c.status = on ? "True" : "False";
  c.reason = reason;
  c.message = message;
  c.observed_generation = generation;
  return c;
}

}  // namespace

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
    phase = "Terminating";
    reason = publisher::CauseName(publisher::Cause::kRevoking);
    message = state ? state->message : "";
  } else if (refusal) {
    phase = "Failed";
    reason = refusal->reason;
    message = refusal->message;
  } else if (!state) {
    phase = "Pending";
    reason = publisher::CauseName(publisher::Cause::kRegistering);
  } else {
    phase = publisher::PhaseName(state->phase);
    reason = publisher::CauseName(state->cause);
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
  bool ready = phase == "Registered";
  bool reconciling = phase == "Pending" || phase == "Terminating";
  bool stalled = phase == "Failed";
  std::string ready_message = ready ? "key " + s.full_key + " is live in etcd" : message;
  s.conditions.push_back(Make("Ready", ready, reason, ready_message, gen));
  s.conditions.push_back(Make("Reconciling", reconciling, reason, reconciling ? message : "", gen));
  s.conditions.push_back(Make("Stalled", stalled, reason, stalled ? message : "", gen));
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
