#include "controller/http/registrations_view.h"

#include <utility>

#include "nlohmann/json.hpp"

namespace registrar::http {

std::vector<RegistrationView> CollectViews(const std::vector<DeclaredObject>& declared,
                                           const std::vector<publisher::State>& states,
                                           const RefusalLookup& refusal,
                                           std::chrono::system_clock::time_point now) {
  std::map<std::string, publisher::State> by_id;
  for (const auto& s : states) {
    by_id.emplace(s.id, s);
  }
  std::vector<RegistrationView> views;
  views.reserve(declared.size() + by_id.size());
  for (const auto& object : declared) {
    RegistrationView v;
    v.id = object->Identity();
    v.object = object;
    if (auto it = by_id.find(v.id); it != by_id.end()) {
      v.state = std::move(it->second);
      by_id.erase(it);
    }
    if (refusal) {
      v.refusal = refusal(v.id);
    }
    v.status = registration::ComputeStatus(*object, v.state, v.refusal, {}, now);
    views.push_back(std::move(v));
  }
  for (auto& [id, state] : by_id) {
    RegistrationView v;
    v.id = id;
    v.status.phase = registration::FromEngine(state).phase;
    v.status.full_key = state.full_key;
    v.status.lease_id = state.lease_id != 0 ? std::to_string(state.lease_id) : "";
    v.status.granted_ttl = state.granted_ttl;
    v.state = std::move(state);
    views.push_back(std::move(v));
  }
  return views;
}

std::string RegistrationsJson(const std::vector<RegistrationView>& views,
                              const std::map<std::string, std::string>& source_errors) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& v : views) {
    nlohmann::ordered_json j;
    auto slash = v.id.find('/');
    j["namespace"] = v.id.substr(0, slash);
    j["name"] = slash == std::string::npos ? "" : v.id.substr(slash + 1);
    j["key"] = v.object ? v.object->spec.key : "";
    j["fullKey"] = v.status.full_key;
    j["leaseID"] = v.status.lease_id;
    j["value"] = v.state && v.state->lease_id != 0
                     ? v.state->value
                     : (v.object ? v.object->spec.value.value_or("") : "");
    j["grantedTTL"] = v.status.granted_ttl;
    j["paused"] = v.object ? v.object->spec.paused : false;
    j["phase"] = v.status.phase;
    std::string reason = v.state ? registration::FromEngine(*v.state).reason : "";
    if (!v.status.conditions.empty()) {
      reason = v.status.conditions[0].reason;
    }
    j["reason"] = reason;
    j["lastError"] = v.refusal ? v.refusal->message : (v.state ? v.state->message : "");
    j["lastRenewal"] = nullptr;
    if (v.state && v.state->last_renewal) {
      j["lastRenewal"] = registration::FormatTime(*v.state->last_renewal);
    }
    out.push_back(std::move(j));
  }
  nlohmann::ordered_json doc;
  doc["registrations"] = std::move(out);
  doc["sourceErrors"] = source_errors;
  return doc.dump(2) + "\n";
}

void RegistrationMetrics::Refresh(const std::vector<RegistrationView>& views,
                                  const publisher::EngineStats& now) {
  std::map<std::string, double> phases;
  for (const char* phase : registration::kPhases) {
    phases[phase] = 0;
  }
  for (const auto& v : views) {
    phases[v.status.phase] += 1;
  }
  for (const auto& [phase, n] : phases) {
    metrics_.registrations.Set({phase}, n);
  }
  absl::MutexLock lock(&mu_);
  metrics_.lease_losses_total.Inc({}, static_cast<double>(now.lease_losses - last_.lease_losses));
  metrics_.reregistrations_total.Inc(
      {}, static_cast<double>(now.reregistrations - last_.reregistrations));
  metrics_.key_reputs_total.Inc({}, static_cast<double>(now.key_reputs - last_.key_reputs));
  metrics_.pending_revokes.Set({}, static_cast<double>(now.pending_revokes));
  metrics_.etcd_connections.Set({}, static_cast<double>(now.connections));
  for (const auto& [reason, n] : now.revokes) {
    auto before = last_.revokes.find(reason);
    metrics_.lease_revokes_total.Inc(
        {reason}, static_cast<double>(n - (before == last_.revokes.end() ? 0 : before->second)));
  }
  last_ = now;
}

}  // namespace registrar::http
