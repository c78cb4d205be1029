// File: controller/registration/types.h
//
// The ServiceRegistration resource (group registrar.dev, version v1alpha1) as plain C++ values,
// shared by every source (Kubernetes, manifest folder), the validation and the reconciler.
// The CRD in crds/ is the schema's single source of truth; decode.h turns YAML/JSON into these
// types, encode.h turns them back into JSON, validation.h applies the same rules as the CRD
// schema, and conditions.h names the status vocabulary (phases, condition types, reasons).
// Plain values: thread-compatible, no ownership. The large optional members that are almost always
// unset (spec.etcd, spec.valueFrom) are OptionalBoxes (common/optional_box.h: used as
// std::optional, 8 bytes when empty): a store holds one of these per registration.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controller/common/optional_box.h"

namespace registrar::registration {

inline constexpr char kGroup[] = "registrar.dev";
inline constexpr char kVersion[] = "v1alpha1";
inline constexpr char kApiVersion[] = "registrar.dev/v1alpha1";
inline constexpr char kKind[] = "ServiceRegistration";
inline constexpr char kPlural[] = "serviceregistrations";
inline constexpr char kFinalizer[] = "registrar.dev/revoke";
inline constexpr int64_t kDefaultTtlSeconds = 10;
inline constexpr int64_t kMinTtlSeconds = 5;
inline constexpr int64_t kMaxTtlSeconds = 3600;

struct ObjectMeta {
  std::string name;
  std::string namespace_;  // "default" when a manifest leaves it out
  std::string uid;         // Kubernetes UID; manifest mode derives one from namespace/name
  int64_t generation = 0;
  std::string resource_version;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;
  std::optional<std::string> deletion_timestamp;  // RFC 3339, set while terminating

  bool operator==(const ObjectMeta&) const = default;
};

struct SecretRef {
  std::string name;

  bool operator==(const SecretRef&) const = default;
};

struct EtcdTarget {
  std::vector<std::string> endpoints;
  std::optional<SecretRef> credentials_secret_ref;  // Secret keys: username, password
  std::optional<SecretRef> tls_secret_ref;          // Secret keys: ca.crt, tls.crt, tls.key
  bool insecure_skip_verify = false;

  bool operator==(const EtcdTarget&) const = default;
};

struct ServiceRef {
  std::string name;
  std::string port;  // a port name or number, as written

  bool operator==(const ServiceRef&) const = default;
};

struct ValueFrom {
  ServiceRef service_ref;

  bool operator==(const ValueFrom&) const = default;
};

struct Spec {
  std::string key;
  std::optional<std::string> value;
  OptionalBox<ValueFrom> value_from;
  int64_t id = 0;  // 0 = unset: full key is key/<leaseID>
  int64_t ttl_seconds = kDefaultTtlSeconds;
  bool paused = false;
  OptionalBox<EtcdTarget> etcd;

  bool operator==(const Spec&) const = default;
};

struct Condition {
  std::string type;    // kConditionReady, kConditionReconciling, kConditionStalled
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  int64_t observed_generation = 0;
  std::string last_transition_time;  // RFC 3339

  bool operator==(const Condition&) const = default;
};

struct EndpointStatus {
  std::string address;
  std::string full_key;
  std::string lease_id;

  bool operator==(const EndpointStatus&) const = default;
};

struct Status {
  int64_t observed_generation = 0;
  std::string phase;  // one of conditions.h's kPhases
  std::string full_key;
  std::string lease_id;  // decimal string
  int64_t granted_ttl = 0;
  std::string value;
  std::vector<EndpointStatus> endpoints;
  std::vector<Condition> conditions;

  bool operator==(const Status&) const = default;
};

struct ServiceRegistration {
  ObjectMeta metadata;
  Spec spec;
  Status status;

  // "namespace/name": the identity every source and the engine use.
  std::string Identity() const { return metadata.namespace_ + "/" + metadata.name; }
  bool operator==(const ServiceRegistration&) const = default;
};

}  // namespace registrar::registration
