#include "controller/registration/validation.h"

#include <string>

#include "absl/strings/str_cat.h"

#include "re2/re2.h"

namespace registrar::registration {
namespace {

// The same patterns as crds/serviceregistrations.yaml, matched with RE2 (the syntax of the API
// server's Go regexp) against the whole string.
const re2::RE2& Subdomain() {
  static const re2::RE2 kPattern(
      "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return kPattern;
}
const re2::RE2& Label() {
  static const re2::RE2 kPattern("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return kPattern;
}
const re2::RE2& ServiceName() {
  static const re2::RE2 kPattern("[a-z]([-a-z0-9]*[a-z0-9])?");
  return kPattern;
}
const re2::RE2& Endpoint() {
  static const re2::RE2 kPattern(
      "(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):"
      "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])");
  return kPattern;
}

bool HasControlChar(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

bool HasSpaceOrControl(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

class Checker {
 public:
  void Add(std::string path, std::string message) {
    errors_.push_back(FieldError{std::move(path), std::move(message)});
  }

  void Subdomain(const std::string& path, const std::string& value) {
    if (value.empty()) {
      Add(path, "must not be empty");
    } else if (value.size() > kMaxNameLength) {
      Add(path, absl::StrCat("must be no more than ", kMaxNameLength, " characters"));
    } else if (!re2::RE2::FullMatch(value, registration::Subdomain())) {
      Add(path, absl::StrCat("\"", value,
                             "\" is not a lowercase RFC 1123 subdomain (lower case alphanumeric "
                             "characters, '-' or '.', starting and ending with an alphanumeric)"));
    }
  }

  std::vector<FieldError> Take() { return std::move(errors_); }

 private:
  std::vector<FieldError> errors_;
};

void CheckKey(Checker& c, const std::string& key, std::string_view owner_prefix) {
  const std::string path = "spec.key";
  if (key.empty()) {
    c.Add(path, "must not be empty");
    return;
  }
  if (key.size() > kMaxKeyLength) {
    c.Add(path, absl::StrCat("must be at most ", kMaxKeyLength, " bytes"));
  }
  if (HasSpaceOrControl(key)) {
    c.Add(path, "must not contain whitespace or control characters");
  }
  if (key.back() == '/') {
    c.Add(path, "must not end with \"/\" (the full key is <key>/<id or lease ID>)");
  }
  const std::string subtree = key + "/";
  if (!owner_prefix.empty() &&
      (subtree.starts_with(owner_prefix) || owner_prefix.starts_with(subtree))) {
    c.Add(path, absl::StrCat("must not overlap the owner prefix \"", std::string(owner_prefix),
                             "\" where the controller keeps its ownership records"));
  }
}

void CheckValueFrom(Checker& c, const Spec& spec, SourceMode mode) {
  if (mode == SourceMode::kManifests) {
    c.Add("spec.valueFrom",
          "not supported with --manifests: publishing a Service's endpoints needs a cluster");
    return;
  }
  const ServiceRef& ref = spec.value_from->service_ref;
  if (ref.name.empty()) {
    c.Add("spec.valueFrom.serviceRef.name", "must not be empty");
  } else if (ref.name.size() > 63 || !re2::RE2::FullMatch(ref.name, ServiceName())) {
    c.Add("spec.valueFrom.serviceRef.name",
          absl::StrCat("\"", ref.name, "\" is not a Service name (RFC 1035 label)"));
  }
  const std::string& port = ref.port;
  bool numeric = !port.empty() && port.size() <= 5 &&
                 port.find_first_not_of("0123456789") == std::string::npos;
  if (port.empty()) {
    c.Add("spec.valueFrom.serviceRef.port", "must not be empty");
  } else if (numeric ? (std::stoi(port) < 1 || std::stoi(port) > 65535)
                     : (port.size() > 15 || !re2::RE2::FullMatch(port, ServiceName()))) {
    c.Add("spec.valueFrom.serviceRef.port",
          absl::StrCat("\"", port, "\" must be a port number 1..65535 or a port name"));
  }
  if (spec.id != 0) {
    c.Add("spec.id",
          "must not be set with spec.valueFrom: every endpoint gets its own key "
          "<key>/<leaseID>");
  }
}

void CheckEtcd(Checker& c, const EtcdTarget& etcd, SourceMode mode) {
  if (mode == SourceMode::kManifests) {
    c.Add("spec.etcd",
          "not supported with --manifests: manifest mode uses the controller's own --etcd-* "
          "settings");
    return;
  }
  if (etcd.endpoints.empty()) {
    c.Add("spec.etcd.endpoints", "must list at least one host:port");
  }
  for (size_t i = 0; i < etcd.endpoints.size(); ++i) {
    if (etcd.endpoints[i].size() > kMaxEndpointLength ||
        !re2::RE2::FullMatch(etcd.endpoints[i], Endpoint())) {
      c.Add(
          absl::StrCat("spec.etcd.endpoints[", i, "]"),
          absl::StrCat("must be host:port with a port 1..65535, got \"", etcd.endpoints[i], "\""));
    }
  }
  if (etcd.credentials_secret_ref) {
    c.Subdomain("spec.etcd.credentialsSecretRef.name", etcd.credentials_secret_ref->name);
  }
  if (etcd.tls_secret_ref) {
    c.Subdomain("spec.etcd.tlsSecretRef.name", etcd.tls_secret_ref->name);
  }
}

}  // namespace

std::vector<FieldError> Validate(const ServiceRegistration& registration, SourceMode mode,
                                 std::string_view owner_prefix) {
  Checker c;
  const ObjectMeta& meta = registration.metadata;
  c.Subdomain("metadata.name", meta.name);
  if (!meta.namespace_.empty() &&
      (meta.namespace_.size() > 63 || !re2::RE2::FullMatch(meta.namespace_, Label()))) {
    c.Add("metadata.namespace",
          absl::StrCat("\"", meta.namespace_, "\" is not a lowercase RFC 1123 label"));
  }

  const Spec& spec = registration.spec;
  CheckKey(c, spec.key, owner_prefix);
  if (spec.value && spec.value_from) {
    c.Add("spec", "exactly one of spec.value and spec.valueFrom must be set, not both");
  } else if (!spec.value && !spec.value_from) {
    c.Add("spec.value", "Required value: exactly one of spec.value and spec.valueFrom must be set");
  }
  if (spec.value) {
    if (spec.value->empty()) {
      c.Add("spec.value", "must not be empty");
    } else if (spec.value->size() > kMaxValueLength) {
      c.Add("spec.value", absl::StrCat("must be at most ", kMaxValueLength, " bytes"));
    } else if (HasControlChar(*spec.value)) {
      c.Add("spec.value", "must not contain control characters");
    }
  }
  if (spec.value_from) {
    CheckValueFrom(c, spec, mode);
  }
  if (spec.id < 0) {
    c.Add("spec.id",
          "must be at least 1 when set (0 or absent: the full key ends in the lease ID)");
  }
  if (spec.ttl_seconds < kMinTtlSeconds || spec.ttl_seconds > kMaxTtlSeconds) {
    c.Add("spec.ttlSeconds", absl::StrCat("must be between ", kMinTtlSeconds, " and ",
                                          kMaxTtlSeconds, ", got ", spec.ttl_seconds));
  }
  if (spec.etcd) {
    CheckEtcd(c, *spec.etcd, mode);
  }
  return c.Take();
}

}  // namespace registrar::registration
