// File: controller/registration/validation.h
//
// The value rules of a ServiceRegistration, shared by every source. The CRD in
// crds/serviceregistrations.yaml states the same rules as an OpenAPI schema (the API server checks
// them in Kubernetes mode); tests/corpus holds the examples both must agree on. The few rules a
// schema cannot state (mode-dependent fields, a configurable owner prefix) live only here.
//
// Flow: decode.h ParseJson/ParseYaml (types, defaults) -> Validate -> FormatErrors / AttachLines.
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "controller/registration/field_errors.h"
#include "controller/registration/types.h"

namespace registrar::registration {

inline constexpr char kDefaultOwnerPrefix[] = "/etcd-registrar/owners/";
inline constexpr size_t kMaxNameLength = 253;
inline constexpr size_t kMaxKeyLength = 512;
inline constexpr size_t kMaxValueLength = 4096;
inline constexpr size_t kMaxEndpointLength = 512;

// kKubernetes: resources from the API (spec.etcd and valueFrom allowed).
// kManifests: files under --manifests (no cluster: spec.etcd and valueFrom rejected).
enum class SourceMode { kKubernetes, kManifests };

// Returns every violation, each named by its field path (empty when valid):
// - metadata.name: non-empty RFC 1123 subdomain, at most 253 characters; metadata.namespace, when
//   set, an RFC 1123 label;
// - spec.key: non-empty, at most kMaxKeyLength bytes, no whitespace or control characters, no
//   trailing "/", and its subtree `key/` must not overlap `owner_prefix` (neither inside it nor
//   containing it, else go-zero subscribers would see ownership records);
// - exactly one of spec.value / spec.valueFrom; value non-empty, at most kMaxValueLength bytes,
//   no control characters;
// - valueFrom (kKubernetes only): serviceRef.name a DNS label, serviceRef.port 1..65535 or a port
//   name; spec.id must then be unset;
// - spec.id >= 1 when set (0 = unset); spec.ttlSeconds in [5, 3600];
// - spec.etcd (kKubernetes only): at least one endpoint, each host:port with port 1..65535 (at
//   most kMaxEndpointLength bytes); secret
//   ref names non-empty RFC 1123 subdomains.
std::vector<FieldError> Validate(const ServiceRegistration& registration, SourceMode mode,
                                 std::string_view owner_prefix = kDefaultOwnerPrefix);

// FormatErrors (field_errors.h) renders the result:
// "spec.key: must not be empty; spec.ttlSeconds: must be between 5 and 3600".

}  // namespace registrar::registration
