// File: controller/registration/json_fields.h
//
// A typed reader for the fields of one JSON object, recording every problem as a FieldError
// instead of stopping at the first: decode.h reads a whole ServiceRegistration with it and reports
// all wrong types and unknown fields at once, as the API server does.
//
// Rules, the API server's (Go encoding/json + OpenAPI):
//   - a field set to null counts as absent, as in Go's JSON decoding;
//   - an integer is a JSON integer in the int64 range, or a float with no fraction and a
//     magnitude below 9e15, where doubles are exact (10.0 is an integer to the API server:
//     go-openapi IsFloat64AJSONInteger);
//   - a wrong type is "must be of type <want>, got <JsonTypeName>" at the field's path;
//   - RejectUnknown names each field not in the list: "unknown field".
// A reader that finds a problem leaves its output untouched, so defaults survive.
//
// Cost: each read is one lookup in the object (nlohmann's std::map); nothing is copied but the
// values read. Thread-safety: none needed (one reader per decoding call). Ownership: the reader
// refers to the object and the error list it was given; both must outlive it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/common/yaml_json.h"
#include "controller/registration/field_errors.h"
#include "nlohmann/json.hpp"

namespace registrar::registration {

// True and *out set when `value` is an integer by the rules above.
bool JsonInteger(const nlohmann::json& value, int64_t& out);

class JsonFields {
 public:
  // `path` is the object's own field path ("" for the document, "spec", ...).
  JsonFields(const nlohmann::json& object, std::string path, std::vector<FieldError>& errors)
      : object_(object), path_(std::move(path)), errors_(errors) {}

  const std::string& path() const { return path_; }

  // The field's value, or nullptr when absent or null.
  const nlohmann::json* Get(std::string_view key) const;

  // An "unknown field" error for every field not in `known`.
  void RejectUnknown(std::initializer_list<std::string_view> known);

  // A reader for the nested object, or nullopt (with an error when present with another type).
  std::optional<JsonFields> Object(std::string_view key);

  // Each returns true / sets `out` only when the field is present with the right type.
  bool String(std::string_view key, std::string& out);
  void OptionalString(std::string_view key, std::optional<std::string>& out);
  // A port name or number as written: a string, or an integer turned into its decimal text.
  void StringOrInt(std::string_view key, std::string& out);
  void Int(std::string_view key, int64_t& out);
  void Bool(std::string_view key, bool& out);
  // An object of strings (labels, annotations).
  void StringMap(std::string_view key, std::map<std::string, std::string>& out);
  void StringList(std::string_view key, std::vector<std::string>& out);

  // Calls `each(item, path)` for every element of the array field.
  template <typename F>
  void Array(std::string_view key, F each) {
    const nlohmann::json* value = Get(key);
    if (value == nullptr || !CheckType(key, *value, value->is_array(), "array")) {
      return;
    }
    std::string path = JsonPathChild(path_, key);
    for (size_t i = 0; i < value->size(); ++i) {
      each((*value)[i], JsonPathIndex(path, i));
    }
  }

  void Error(std::string path, std::string message);
  // "must be of type <want>, got <type of value>".
  void TypeError(std::string path, const nlohmann::json& value, std::string_view want);

  std::vector<FieldError>& errors() { return errors_; }

 private:
  bool CheckType(std::string_view key, const nlohmann::json& value, bool ok, std::string_view want);

  const nlohmann::json& object_;
  std::string path_;
  std::vector<FieldError>& errors_;
};

}  // namespace registrar::registration
