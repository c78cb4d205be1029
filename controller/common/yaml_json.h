// File: controller/common/yaml_json.h
//
// The one YAML reader of the binary: YAML text -> JSON values, with the source line of every
// field. Manifest files, the `--config` file and the `--policy` file all go through it, so a
// scalar means the same thing in all three.
//
// Flow: LoadYamlDocuments(text) checks the text is UTF-8 (InvalidUtf8Offset), then parses it once
// with yaml-cpp's event parser (yaml_json_builder.h): each non-empty document is built as JSON
// straight from the events, recording in a LineMap the 1-based line of every mapping key and
// sequence item under its field path, and the same pass refuses text on which yaml-cpp 0.7 would
// stop making progress (a ',' outside [...] or {...}, or a '?' after a top-level scalar: LoadAll
// would add empty documents forever). Callers read the JSON (registration decode.h, config/) and
// name errors by field path; the LineMap turns a path into a line.
//
// Scalars follow the YAML 1.2 core schema, as JSON would type them:
//   - quoted ('x', "x") or tagged !!str / !: always a string;
//   - plain `true`/`True`/`TRUE`, `false`/...: booleans; `yes`, `no`, `on`, `off`, `y`, `n` are
//     strings (YAML 1.1 made them booleans; yaml-cpp's own converters still do);
//   - plain `~`, `null`/`Null`/`NULL` or empty: null;
//   - plain `10`, `-3`, `0x1F`, `0o17`: integers (int64; out of range stays a string); `1.5`,
//     `1e3`, `.5`: floats; everything else, and any plain scalar over 256 bytes, a string.
// Duplicate mapping keys and non-scalar mapping keys are errors (YAML 1.2 forbids the first; JSON
// cannot hold the second).
//
// Field paths: JsonPathChild("spec", "key") = "spec.key", JsonPathIndex("a", 1) = "a[1]"; the
// document itself is "". Kubernetes names fields the same way in its errors.
//
// Cost: one pass over the text for UTF-8 and one yaml-cpp parse (no YAML::Node tree); a plain
// scalar up to 256 bytes that starts like a number, boolean or null is tried against a few RE2
// patterns.
// Thread-safety: pure functions. Ownership: everything is returned by value; yaml-cpp and
// nlohmann exceptions never leave yaml_json*.cc.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "nlohmann/json.hpp"

namespace registrar {

// Field path ("spec.key", "spec.etcd.endpoints[0]") -> 1-based line where it is written.
using LineMap = std::map<std::string, int>;

// One document of a YAML stream as JSON, with the lines of its fields.
// (clang-tidy: nlohmann::json's destructor may allocate, so the implicit noexcept members "may
// throw"; bad_alloc there ends the process either way.)
struct YamlDocument {  // NOLINT(bugprone-exception-escape)
  nlohmann::json object;
  LineMap lines;  // "" is the document's first line
  int line = 0;   // first line of the document
};

// "parent.key", or "key" when parent is "" (the document).
std::string JsonPathChild(std::string_view parent, std::string_view key);
// "parent[i]".
std::string JsonPathIndex(std::string_view parent, size_t i);

// The line of `path` in `lines`, or of its nearest written ancestor when the path itself is not
// written (a missing "spec.key" is on the `spec:` line); 0 when none is.
int NearestLine(const LineMap& lines, std::string_view path);

// Offset of the first byte of `text` that does not start a well-formed UTF-8 sequence (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or std::string_view::npos.
size_t InvalidUtf8Offset(std::string_view text);

// Splits a (multi-document) YAML text into JSON values. Empty documents are skipped.
// Errors, all kInvalidArgument and starting with "line L, column C: " where known:
//   "not UTF-8 text (invalid byte at offset N)", a yaml-cpp syntax error (an escape that is not a
//   Unicode scalar value, "\uD800", is one: "invalid unicode"), "unexpected ',' outside [...] or
//   {...}" (where yaml-cpp 0.7 would loop), "duplicate key \"k\"", "mapping keys must be
//   strings", "too many values after expanding aliases" (aliases may expand the text to at most
//   10 000 + 2 x its size in bytes values in all: no "billion laughs").
absl::StatusOr<std::vector<YamlDocument>> LoadYamlDocuments(std::string_view text);

// "string", "integer", "number", "boolean", "null", "array" or "object": the JSON type of a value
// as error messages name it ("must be of type integer, got string").
const char* JsonTypeName(const nlohmann::json& value);

// What to tell someone who wrote `value` where a boolean belongs: "must be true or false, got
// string \"yes\"", with " (YAML 1.2 reads yes/no/on/off as strings)" when the string is one
// YAML 1.1 would have taken for a boolean.
std::string BooleanExpected(const nlohmann::json& value);

}  // namespace registrar
