// File: controller/kube/secrets.h
//
// Reading one core/v1 Secret by name (GET /api/v1/namespaces/<ns>/secrets/<name>): never a list
// or a watch, so RBAC needs only `get` on secrets. The data is base64-decoded; stringData is a
// write-only field and never appears in a read.
//
// Errors: the API's (kube::IsNotFound / IsForbidden on them; api_status.h), or kInternal when a
// value is not base64 (the message names the Secret and the key, never the value). Nothing here
// logs: a Secret's values never reach a log line.
// Thread-safety: as Api (any thread). Ownership: refers to nothing after returning.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"

#include "controller/kube/api.h"

namespace registrar::kube {

// key -> decoded value.
absl::StatusOr<std::map<std::string, std::string>> GetSecretData(Api& api, const std::string& ns,
                                                                 const std::string& name);

}  // namespace registrar::kube
