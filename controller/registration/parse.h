// File: controller/registration/parse.h
//
// Turns ServiceRegistration objects written as JSON (Kubernetes API) or YAML (manifest files) into
// the structs of types.h, and back into JSON.
//
// Flow: YAML text -> LoadYamlDocuments (one JSON object per document, plus a LineMap from field
// path to source line) -> ParseJson (types, unknown fields, apiVersion/kind, defaults) ->
// validation.h Validate (value rules) -> AttachLines (file/line for every error).
// ParseYaml does the middle steps for one already-loaded yaml-cpp document.
//
// YAML scalars are resolved with the YAML 1.2 core schema (as JSON would type them): plain `10`
// is an integer, `"10"` a string, `true`/`false` booleans, `~`/`null`/empty null. Unlike the Go
// YAML 1.1 reader of kubectl, `yes`/`no`/`on`/`off` stay strings. Duplicate mapping keys are
// errors.
//
// Errors name a field path as Kubernetes does: "spec.ttlSeconds", "spec.etcd.endpoints[1]".
// Every function is pure and thread-safe; yaml-cpp and nlohmann exceptions never leave parse.cc.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "controller/registration/types.h"
#include "nlohmann/json.hpp"

namespace YAML {
class Node;
}  // namespace YAML

namespace registrar::registration {

// One problem with one field. `path` is empty for the object itself; `line` is 1-based in the
// YAML source, 0 when unknown (JSON input, or a struct that did not come from a file).
struct FieldError {
  std::string path;
  std::string message;
  int line = 0;
  bool operator==(const FieldError&) const = default;
};

// Field path ("spec.key", "spec.etcd.endpoints[0]") -> 1-based line where it is written.
using LineMap = std::map<std::string, int>;

// One document of a YAML stream as JSON, with the lines of its fields.
struct YamlDocument {
  nlohmann::json object;
  LineMap lines;
  int line = 0;  // first line of the document
};

// "spec.key: must not be empty; spec.ttlSeconds: must be between 5 and 3600" (with " (line N)"
// after the path when the line is known).
std::string FormatErrors(const std::vector<FieldError>& errors);

// Sets each error's line from `lines`, using the nearest written ancestor of its path when the
// path itself is absent (a missing spec.key points at the `spec:` line).
void AttachLines(const LineMap& lines, std::vector<FieldError>& errors);

// Splits a (multi-document) YAML text into JSON objects. Empty documents are skipped.
// Returns kInvalidArgument "line L, column C: <reason>" on a YAML syntax error, a duplicate key,
// or a non-scalar mapping key.
absl::StatusOr<std::vector<YamlDocument>> LoadYamlDocuments(std::string_view text);

// Converts one yaml-cpp node to JSON; fills *lines when non-null.
// Returns kInvalidArgument on a duplicate key or a non-scalar mapping key.
absl::StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node, LineMap* lines = nullptr);

// Parses one ServiceRegistration (apiVersion registrar.dev/v1alpha1, kind ServiceRegistration).
// Checks JSON types, rejects unknown top-level and spec fields, and applies defaults (ttlSeconds
// 10, paused false, id 0; an empty namespace is left for the caller to default). Unknown metadata
// and status fields are ignored (the API server owns many). Value rules are validation.h's job.
// On problems returns kInvalidArgument with FormatErrors() as message, and appends the problems to
// *errors when non-null.
absl::StatusOr<ServiceRegistration> ParseJson(const nlohmann::json& object,
                                              std::vector<FieldError>* errors = nullptr);

// YamlToJson + ParseJson, with lines attached to the errors; fills *lines when non-null so the
// caller can AttachLines() to Validate()'s errors too.
absl::StatusOr<ServiceRegistration> ParseYaml(const YAML::Node& document,
                                              std::vector<FieldError>* errors = nullptr,
                                              LineMap* lines = nullptr);

// The full object, status included when not empty. Integers are JSON integers; leaseID stays a
// decimal string. Empty optional fields are omitted (Kubernetes `omitempty`), so ToJson followed
// by ParseJson gives back an equal object.
nlohmann::json ToJson(const ServiceRegistration& registration);

// The status stanza alone, empty fields omitted: write it with a full update of /status (PUT),
// not a merge patch, or a cleared field would survive.
nlohmann::json StatusToJson(const Status& status);

}  // namespace registrar::registration
