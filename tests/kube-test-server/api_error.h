// File: tests/kube-test-server/api_error.h
//
// Kubernetes `metav1.Status` error bodies. Every failing API request of the test server ends as an
// ApiError, rendered by ToStatusJson into the wire shape client-go decodes (reason, code, details
// with name/group/kind/causes/retryAfterSeconds). Helpers build the errors the real API returns,
// with the real message wording (KUBE-API.md Appendix A.2).
//
// Thread-safety: plain values.
#pragma once

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace registrar::kts {

struct Cause {
  std::string reason;  // FieldValueInvalid, FieldValueRequired, FieldValueForbidden, ...
  std::string message;
  std::string field;
};

struct ApiError {
  int code = 500;
  std::string reason;  // NotFound, AlreadyExists, Conflict, Invalid, BadRequest, ...
  std::string message;
  std::string name;    // details.name
  std::string group;   // details.group
  std::string kind;    // details.kind (the plural, as the real server sends)
  std::vector<Cause> causes;
  int retry_after_seconds = 0;

  nlohmann::json ToStatusJson() const;
};

// "serviceregistrations.registrar.dev" or "secrets" for the core group.
std::string QualifiedResource(const std::string& plural, const std::string& group);

ApiError BadRequest(std::string message);
ApiError NotFound(const std::string& plural, const std::string& group, const std::string& name);
ApiError AlreadyExists(const std::string& plural, const std::string& group,
                       const std::string& name);
ApiError Conflict(const std::string& plural, const std::string& group, const std::string& name);
// 422 Invalid: message "<Kind> \"<name>\" is invalid: <field>: <message>; ...".
ApiError Invalid(const std::string& kind, const std::string& plural, const std::string& group,
                 const std::string& name, std::vector<Cause> causes);
ApiError Expired(std::string message);
ApiError InternalError(std::string message);
ApiError MethodNotAllowed(std::string message);
ApiError UnsupportedMediaType(std::string message);
// An injected or generic error for an HTTP code: reason chosen from the code.
ApiError FromCode(int code, std::string message, int retry_after_seconds);

}  // namespace registrar::kts
