#include "controller/registration/encode.h"

#include <string>
#include <utility>

namespace registrar::registration {
namespace {

using nlohmann::json;

json SecretRefToJson(const SecretRef& ref) { return json{{"name", ref.name}}; }

// A port number goes back out as a JSON integer (the CRD's string form is a port name).
json PortToJson(const std::string& port) {
  if (!port.empty() && port.size() <= 5 &&
      port.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoi(port);
  }
  return port;
}

}  // namespace

json StatusToJson(const Status& status) {
  json out = json::object();
  if (status.observed_generation != 0) {
    out["observedGeneration"] = status.observed_generation;
  }
  auto put = [&out](const char* key, const std::string& value) {
    if (!value.empty()) {
      out[key] = value;
    }
  };
  put("phase", status.phase);
  put("fullKey", status.full_key);
  put("leaseID", status.lease_id);
  if (status.granted_ttl != 0) {
    out["grantedTTL"] = status.granted_ttl;
  }
  put("value", status.value);
  if (!status.endpoints.empty()) {
    json& endpoints = out["endpoints"] = json::array();
    for (const EndpointStatus& e : status.endpoints) {
      endpoints.push_back(
          {{"address", e.address}, {"fullKey", e.full_key}, {"leaseID", e.lease_id}});
    }
  }
  if (!status.conditions.empty()) {
    json& conditions = out["conditions"] = json::array();
    for (const Condition& c : status.conditions) {
      conditions.push_back({{"type", c.type},
                            {"status", c.status},
                            {"reason", c.reason},
                            {"message", c.message},
                            {"observedGeneration", c.observed_generation},
                            {"lastTransitionTime", c.last_transition_time}});
    }
  }
  return out;
}

json ToJson(const ServiceRegistration& r) {
  const ObjectMeta& m = r.metadata;
  json meta = {{"name", m.name}};
  if (!m.namespace_.empty()) {
    meta["namespace"] = m.namespace_;
  }
  if (!m.uid.empty()) {
    meta["uid"] = m.uid;
  }
  if (m.generation != 0) {
    meta["generation"] = m.generation;
  }
  if (!m.resource_version.empty()) {
    meta["resourceVersion"] = m.resource_version;
  }
  if (!m.labels.empty()) {
    meta["labels"] = m.labels;
  }
  if (!m.annotations.empty()) {
    meta["annotations"] = m.annotations;
  }
  if (!m.finalizers.empty()) {
    meta["finalizers"] = m.finalizers;
  }
  if (m.deletion_timestamp) {
    meta["deletionTimestamp"] = *m.deletion_timestamp;
  }

  const Spec& s = r.spec;
  json spec = {{"key", s.key}, {"ttlSeconds", s.ttl_seconds}, {"paused", s.paused}};
  if (s.value) {
    spec["value"] = *s.value;
  }
  if (s.value_from) {
    spec["valueFrom"] = {{"serviceRef",
                          {{"name", s.value_from->service_ref.name},
                           {"port", PortToJson(s.value_from->service_ref.port)}}}};
  }
  if (s.id != 0) {
    spec["id"] = s.id;
  }
  if (s.etcd) {
    json etcd = {{"endpoints", s.etcd->endpoints}};
    if (s.etcd->credentials_secret_ref) {
      etcd["credentialsSecretRef"] = SecretRefToJson(*s.etcd->credentials_secret_ref);
    }
    if (s.etcd->tls_secret_ref) {
      etcd["tlsSecretRef"] = SecretRefToJson(*s.etcd->tls_secret_ref);
    }
    if (s.etcd->insecure_skip_verify) {
      etcd["insecureSkipVerify"] = true;
    }
    spec["etcd"] = std::move(etcd);
  }

  json out = {{"apiVersion", kApiVersion},
              {"kind", kKind},
              {"metadata", std::move(meta)},
              {"spec", std::move(spec)}};
  json status = StatusToJson(r.status);
  if (!status.empty()) {
    out["status"] = std::move(status);
  }
  return out;
}

}  // namespace registrar::registration
