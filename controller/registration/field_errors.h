// File: controller/registration/field_errors.h
//
// The error model of a ServiceRegistration: one FieldError per problem, named by its field path
// as Kubernetes names fields ("spec.ttlSeconds", "spec.etcd.endpoints[1]"), with the YAML line
// when the object came from a file. decode.h (types, unknown fields) and validation.h (value
// rules) produce them; the manifest source and the reconciler render them with FormatErrors.
//
// Flow: decode/validate -> AttachLines(lines of the YAML document) -> FormatErrors.
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <vector>

#include "controller/common/yaml_json.h"

namespace registrar::registration {

// One problem with one field. `path` is empty for the object itself; `line` is 1-based in the
// YAML source, 0 when unknown (JSON input, or a struct that did not come from a file).
struct FieldError {
  std::string path;
  std::string message;
  int line = 0;
  bool operator==(const FieldError&) const = default;
};

// "spec.key: must not be empty; spec.ttlSeconds (line 9): must be between 5 and 3600".
std::string FormatErrors(const std::vector<FieldError>& errors);

// Sets each error's line from `lines`, using the nearest written ancestor of its path when the
// path itself is absent (a missing spec.key points at the `spec:` line).
void AttachLines(const LineMap& lines, std::vector<FieldError>& errors);

}  // namespace registrar::registration
