#include "controller/registration/decode.h"

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "controller/registration/json_fields.h"

namespace registrar::registration {
namespace {

using nlohmann::json;

void ParseMetadata(JsonFields& f, ObjectMeta& meta) {
  f.String("name", meta.name);
  f.String("namespace", meta.namespace_);
  f.String("uid", meta.uid);
  f.Int("generation", meta.generation);
  f.String("resourceVersion", meta.resource_version);
  f.StringMap("labels", meta.labels);
  f.StringMap("annotations", meta.annotations);
  f.StringList("finalizers", meta.finalizers);
  f.OptionalString("deletionTimestamp", meta.deletion_timestamp);
}

std::optional<SecretRef> ParseSecretRef(JsonFields& parent, std::string_view key) {
  std::optional<JsonFields> f = parent.Object(key);
  if (!f) {
    return std::nullopt;
  }
  f->RejectUnknown({"name"});
  SecretRef ref;
  f->String("name", ref.name);
  return ref;
}

void ParseSpec(JsonFields& f, Spec& spec) {
  f.RejectUnknown({"key", "value", "valueFrom", "id", "ttlSeconds", "paused", "etcd"});
  f.String("key", spec.key);
  f.OptionalString("value", spec.value);
  if (std::optional<JsonFields> from = f.Object("valueFrom")) {
    from->RejectUnknown({"serviceRef"});
    spec.value_from.emplace();
    if (std::optional<JsonFields> ref = from->Object("serviceRef")) {
      ref->RejectUnknown({"name", "port"});
      ref->String("name", spec.value_from->service_ref.name);
      ref->StringOrInt("port", spec.value_from->service_ref.port);
    }
  }
  f.Int("id", spec.id);
  f.Int("ttlSeconds", spec.ttl_seconds);
  f.Bool("paused", spec.paused);
  if (std::optional<JsonFields> etcd = f.Object("etcd")) {
    etcd->RejectUnknown(
        {"endpoints", "credentialsSecretRef", "tlsSecretRef", "insecureSkipVerify"});
    EtcdTarget& target = spec.etcd.emplace();
    etcd->StringList("endpoints", target.endpoints);
    target.credentials_secret_ref = ParseSecretRef(*etcd, "credentialsSecretRef");
    target.tls_secret_ref = ParseSecretRef(*etcd, "tlsSecretRef");
    etcd->Bool("insecureSkipVerify", target.insecure_skip_verify);
  }
}

void ParseStatus(JsonFields& f, Status& status) {
  f.Int("observedGeneration", status.observed_generation);
  f.String("phase", status.phase);
  f.String("fullKey", status.full_key);
  f.String("leaseID", status.lease_id);
  f.Int("grantedTTL", status.granted_ttl);
  f.String("value", status.value);
  f.Array("endpoints", [&](const json& item, const std::string& path) {
    if (!item.is_object()) {
      f.TypeError(path, item, "object");
      return;
    }
    JsonFields e(item, path, f.errors());
    EndpointStatus& endpoint = status.endpoints.emplace_back();
    e.String("address", endpoint.address);
    e.String("fullKey", endpoint.full_key);
    e.String("leaseID", endpoint.lease_id);
  });
  f.Array("conditions", [&](const json& item, const std::string& path) {
    if (!item.is_object()) {
      f.TypeError(path, item, "object");
      return;
    }
    JsonFields c(item, path, f.errors());
    Condition& condition = status.conditions.emplace_back();
    c.String("type", condition.type);
    c.String("status", condition.status);
    c.String("reason", condition.reason);
    c.String("message", condition.message);
    c.Int("observedGeneration", condition.observed_generation);
    c.String("lastTransitionTime", condition.last_transition_time);
  });
}

void RequireConstant(JsonFields& root, std::string_view key, std::string_view want) {
  std::string got;
  if (root.Get(key) == nullptr) {
    root.Error(std::string(key), "Required value: must be \"" + std::string(want) + "\"");
  } else if (root.String(key, got) && got != want) {
    root.Error(std::string(key), "must be \"" + std::string(want) + "\", got \"" + got + "\"");
  }
}

}  // namespace

absl::StatusOr<ServiceRegistration> ParseJson(const json& object, std::vector<FieldError>* errors) {
  std::vector<FieldError> found;
  ServiceRegistration out;
  if (!object.is_object()) {
    found.push_back({"", absl::StrCat("must be a JSON object, got ", JsonTypeName(object))});
  } else {
    JsonFields root(object, "", found);
    root.RejectUnknown({"apiVersion", "kind", "metadata", "spec", "status"});
    RequireConstant(root, "apiVersion", kApiVersion);
    RequireConstant(root, "kind", kKind);
    if (std::optional<JsonFields> meta = root.Object("metadata")) {
      ParseMetadata(*meta, out.metadata);
    }
    if (std::optional<JsonFields> spec = root.Object("spec")) {
      ParseSpec(*spec, out.spec);
    } else if (root.Get("spec") == nullptr) {
      root.Error("spec", "Required value");
    }
    if (std::optional<JsonFields> status = root.Object("status")) {
      ParseStatus(*status, out.status);
    }
  }
  if (found.empty()) {
    return out;
  }
  absl::Status status = absl::InvalidArgumentError(FormatErrors(found));
  if (errors != nullptr) {
    errors->insert(errors->end(), found.begin(), found.end());
  }
  return status;
}

absl::StatusOr<ServiceRegistration> ParseYaml(const YamlDocument& document,
                                              std::vector<FieldError>* errors) {
  std::vector<FieldError> found;
  absl::StatusOr<ServiceRegistration> result = ParseJson(document.object, &found);
  if (result.ok()) {
    return result;
  }
  AttachLines(document.lines, found);
  if (errors != nullptr) {
    errors->insert(errors->end(), found.begin(), found.end());
  }
  return absl::InvalidArgumentError(FormatErrors(found));
}

}  // namespace registrar::registration
