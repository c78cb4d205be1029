// File: tests/schema/openapi_validator.h
//
// A structural OpenAPI v3 schema checker for CustomResourceDefinitions, as the Kubernetes API
// server applies one to custom resources: pruning of unknown fields, defaulting, then validation
// with Kubernetes-style causes (field, reason, message). Used by the shared corpus test (the CRD
// must agree with controller/registration/validation.h) and by the Kubernetes API test server.
//
// Flow on a write, as the API server does it: UnknownFields() (fieldValidation=Strict -> 400
// `strict decoding error: unknown field "spec.x"`) or Prune(), then ApplyDefaults(), then
// Validate() (non-empty -> 422 Invalid with the causes).
//
// Keywords: type (object, array, string, integer, number, boolean; integral floats count as
// integers, as in go-openapi), nullable, properties, additionalProperties, required, enum,
// minimum/maximum (+ exclusive*), multipleOf, minLength/maxLength (in Unicode code points),
// pattern (unanchored search, like Go's regexp.MatchString), minItems/maxItems, uniqueItems,
// items, minProperties/maxProperties, allOf, anyOf, oneOf, not, default,
// x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields. Not checked: format (the real
// server checks a few, e.g. date-time), CEL rules (x-kubernetes-validations), list-type/map-keys.
//
// Patterns: compiled with RE2, the engine whose syntax Go's regexp (the API server's) implements,
// and matched as an unanchored search in linear time, so a pattern that loads here loads in a
// real cluster (no lookarounds, no backreferences) and a 10 MB string cannot blow the stack.
//
// Messages follow kube-openapi + apimachinery field.Error shapes, e.g.
// "Invalid value: 3: spec.ttlSeconds in body should be greater than or equal to 5". Exact texts
// of composite keywords (oneOf, anyOf, not) and of TooLong differ between Kubernetes versions.
//
// Thread-safety: a CrdSchema is immutable after creation; const methods may run concurrently.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "nlohmann/json.hpp"

namespace re2 {
class RE2;
}  // namespace re2

namespace registrar::schema {

// One entry of a 422 Status's details.causes.
struct Cause {
  std::string field;    // "spec.ttlSeconds", "spec.etcd.endpoints[0]"
  std::string reason;   // FieldValueInvalid | FieldValueRequired | FieldValueNotSupported |
                        // FieldValueTypeInvalid | FieldValueTooLong | FieldValueTooMany
  std::string message;  // "Invalid value: 3: spec.ttlSeconds in body should be ..."
  bool operator==(const Cause&) const = default;
};

// {"reason": ..., "message": ..., "field": ...} as in a Kubernetes Status.
nlohmann::json CauseToJson(const Cause& cause);

// One additionalPrinterColumns entry of a CRD version.
struct PrinterColumn {
  std::string name;
  std::string type;  // string | integer | number | boolean | date
  std::string format;
  std::string description;
  std::string json_path;  // ".spec.key"
  int priority = 0;
};

class CrdSchema {
 public:
  // The openAPIV3Schema and printer columns of `version` in a CustomResourceDefinition object.
  // Returns kInvalidArgument when the version or its schema is missing, or a pattern does not
  // compile with RE2.
  static absl::StatusOr<CrdSchema> FromCrd(const nlohmann::json& crd, std::string_view version);

  // FromCrd on the first CustomResourceDefinition document of a YAML/JSON file.
  // Returns kNotFound when the file cannot be read, kInvalidArgument as FromCrd.
  static absl::StatusOr<CrdSchema> FromFile(const std::string& path, std::string_view version);

  // A bare schema (tests of single keywords).
  static absl::StatusOr<CrdSchema> FromSchema(nlohmann::json openapi_schema);

  // Every violation of the schema by `object` (empty when valid). Unknown fields are not causes
  // here: see UnknownFields/Prune.
  std::vector<Cause> Validate(const nlohmann::json& object) const;

  // Paths of fields the schema does not declare ("spec.x", "status.endpoints[0].y"), in document
  // order. apiVersion, kind and metadata at the root are never unknown (the server owns them).
  std::vector<std::string> UnknownFields(const nlohmann::json& object) const;

  // Removes what UnknownFields() reports.
  void Prune(nlohmann::json& object) const;

  // Sets `default:` values of absent properties inside present objects, replaces null by the
  // default (or drops the null) where the property is not nullable, as the API server does.
  void ApplyDefaults(nlohmann::json& object) const;

  const std::vector<PrinterColumn>& printer_columns() const { return columns_; }
  const nlohmann::json& openapi_schema() const { return schema_; }

 private:
  CrdSchema() = default;
  absl::Status CompilePatterns(const nlohmann::json& schema);
  void Check(const nlohmann::json& s, const nlohmann::json& v, const std::string& path,
             std::vector<Cause>& out) const;
  void Walk(const nlohmann::json& s, nlohmann::json& v, const std::string& path, bool remove,
            std::vector<std::string>& unknown) const;
  void Default(const nlohmann::json& s, nlohmann::json& v) const;

  nlohmann::json schema_;
  std::vector<PrinterColumn> columns_;
  std::map<std::string, std::shared_ptr<const re2::RE2>> patterns_;
};

// Evaluates a simple JSONPath as used by additionalPrinterColumns: ".spec.key",
// "{.status.phase}", ".status.endpoints[0].address", ".metadata.labels['app']".
// Returns nullopt when a step is missing (or the path is not of this simple form).
std::optional<nlohmann::json> EvaluateJsonPath(const nlohmann::json& object, std::string_view path);

}  // namespace registrar::schema
