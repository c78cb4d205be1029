// File: tests/kube-test-server/schema_check.h
//
// Structural-schema handling for custom resources, on top of the project's OpenAPI validator
// (tests/schema/openapi_validator.h): unknown fields are found (for fieldValidation Strict/Warn)
// and pruned, `default:` values applied, and the object validated into Kubernetes-style causes
// (422 upstream). Objects of types without a schema pass unchanged.
//
// Thread-safety: pure functions over the type's schema.
#pragma once

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/kube-test-server/api_error.h"
#include "tests/kube-test-server/resource_registry.h"

namespace registrar::kts {

struct SchemaResult {
  std::vector<std::string> unknown_fields;  // "spec.x", as the strict decoder names them
  std::vector<Cause> causes;                // validation failures after pruning and defaulting
};

// Prunes, defaults and validates `object` in place for `type`.
SchemaResult CheckAgainstSchema(const ResourceType& type, nlohmann::json& object);

}  // namespace registrar::kts
