// File: tests/kube-test-server/patch.h
//
// The PATCH content types: JSON merge patch (RFC 7386), JSON patch (RFC 6902, with `test`), and
// strategic merge patch for built-in kinds (approximated as a merge patch: lists are replaced, not
// merged by key). Apply patches are handled by the request handler (create-or-update).
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace registrar::kts {

enum class PatchType { kMerge, kJson, kStrategic, kApply, kUnsupported };

PatchType PatchTypeFromContentType(const std::string& content_type);

// Applies a merge/json/strategic patch body to `target`. kInvalidArgument: the body is not JSON
// or has the wrong shape (400); kFailedPrecondition: a json-patch op failed, e.g. a `test` (422).
absl::StatusOr<nlohmann::json> ApplyPatch(PatchType type, const nlohmann::json& target,
                                          const std::string& body);

}  // namespace registrar::kts
