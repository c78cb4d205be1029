// File: controller/common/yaml_json_builder.h
//
// The parsing half of yaml_json.h, for yaml_json.cc only: YAML text (already checked to be
// UTF-8) -> one YamlDocument per non-empty document, in a single yaml-cpp parse.
//
// Flow: yaml-cpp's Parser hands its events to a handler that builds the JSON values in place
// (no YAML::Node tree), records the line of every mapping key and sequence item, and in the same
// pass stops a text on which yaml-cpp 0.7 would start empty documents forever. Aliases are
// copies of the anchored value, counted against the alias budget at every use, so the result is
// what converting a YAML::Node tree in pre-order gave, errors and their positions included.
//
// Cost: one yaml-cpp parse; per value one json node and, for mapping keys and sequence items,
// one path string and one LineMap entry; from a document's first collection anchor on, one Mark
// and one (path, line) pair more per value, so an alias can replay them.
// Thread-safety: pure function. Ownership: returned by value; yaml-cpp exceptions stay inside.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "controller/common/yaml_json.h"

namespace registrar::yaml_json_internal {

// The documents of `text`, which must be UTF-8. Errors as LoadYamlDocuments documents them.
absl::StatusOr<std::vector<YamlDocument>> ParseYamlToJson(std::string_view text);

}  // namespace registrar::yaml_json_internal
