// File: controller/registration/decode.h
//
// JSON (Kubernetes API) or YAML (manifest files, already turned into JSON by common/yaml_json.h)
// -> the ServiceRegistration of types.h.
//
// Flow: LoadYamlDocuments (YAML 1.2 scalars, a LineMap per document) -> ParseJson (JSON types,
// unknown fields, apiVersion/kind, defaults) -> validation.h Validate (value rules) ->
// AttachLines (file line for every error). ParseYaml does the middle steps for one document.
//
// Pure functions, thread-safe.
#pragma once

#include <vector>

#include "absl/status/statusor.h"

#include "controller/common/yaml_json.h"
#include "controller/registration/field_errors.h"
#include "controller/registration/types.h"
#include "nlohmann/json.hpp"

namespace registrar::registration {

// Parses one ServiceRegistration (apiVersion registrar.dev/v1alpha1, kind ServiceRegistration).
// Checks JSON types (json_fields.h), rejects unknown top-level and spec fields, and applies
// defaults (ttlSeconds 10, paused false, id 0; an empty namespace is left for the caller to
// default). Unknown metadata and status fields are ignored (the API server owns many). Value
// rules are validation.h's job. On problems returns kInvalidArgument with FormatErrors() as
// message, and appends the problems to *errors when non-null.
absl::StatusOr<ServiceRegistration> ParseJson(const nlohmann::json& object,
                                              std::vector<FieldError>* errors = nullptr);

// ParseJson of a loaded YAML document, with the document's lines attached to the errors.
absl::StatusOr<ServiceRegistration> ParseYaml(const YamlDocument& document,
                                              std::vector<FieldError>* errors = nullptr);

}  // namespace registrar::registration
