// File: tests/kube-test-server/table.h
//
// meta.k8s.io/v1 Table responses (`Accept: application/json;as=Table;...`): column definitions from
// a CRD's additionalPrinterColumns (Name first; Name + Age for kinds without columns), cells
// evaluated with the simple JSONPath forms CRDs use (`.a.b`, `.a[0]`, `.a[?(@.k=="v")].f`), and
// `date` columns rendered as ages ("5s", "3m", "2d") the way the real server does.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/kube-test-server/resource_registry.h"

namespace registrar::kts {

// True when an Accept header asks for a Table.
bool WantsTable(const std::string& accept);

// Evaluates a simple JSONPath against `object`; null when nothing matches.
nlohmann::json EvalJsonPath(const nlohmann::json& object, const std::string& path);

// "5s", "3m10s", "2d" for a timestamp relative to now; "<unknown>" when unparseable.
std::string HumanAge(const std::string& rfc3339);

// A Table of `objects` (full objects with metadata) for `type`.
nlohmann::json RenderTable(const ResourceType& type, const std::vector<nlohmann::json>& objects,
                           const nlohmann::json& list_metadata);

}  // namespace registrar::kts
