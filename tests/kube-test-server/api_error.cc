#include "tests/kube-test-server/api_error.h"

#include <utility>

namespace registrar::kts {

nlohmann::json ApiError::ToStatusJson() const {
  nlohmann::json s = {{"kind", "Status"},     {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                      {"status", "Failure"},  {"message", message}, {"reason", reason},
                      {"code", code}};
  nlohmann::json details = nlohmann::json::object();
  if (!name.empty()) details["name"] = name;
  if (!group.empty()) details["group"] = group;
  if (!kind.empty()) details["kind"] = kind;
  if (!causes.empty()) {
    details["causes"] = nlohmann::json::array();
    for (const Cause& c : causes) {
      details["causes"].push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
    }
  }
  if (retry_after_seconds > 0) details["retryAfterSeconds"] = retry_after_seconds;
  if (!details.empty()) s["details"] = details;
  return s;
}

std::string QualifiedResource(const std::string& plural, const std::string& group) {
  return group.empty() ? plural : plural + "." + group;
}

ApiError BadRequest(std::string message) {
  return ApiError{.code = 400, .reason = "BadRequest", .message = std::move(message)};
}

ApiError NotFound(const std::string& plural, const std::string& group, const std::string& name) {
  return ApiError{.code = 404, .reason = "NotFound",
                  .message = QualifiedResource(plural, group) + " \"" + name + "\" not found",
                  .name = name, .group = group, .kind = plural};
}

ApiError AlreadyExists(const std::string& plural, const std::string& group,
                       const std::string& name) {
  return ApiError{.code = 409, .reason = "AlreadyExists",
                  .message = QualifiedResource(plural, group) + " \"" + name + "\" already exists",
                  .name = name, .group = group, .kind = plural};
}

ApiError Conflict(const std::string& plural, const std::string& group, const std::string& name) {
  return ApiError{.code = 409, .reason = "Conflict",
                  .message = "Operation cannot be fulfilled on " + QualifiedResource(plural, group) +
                             " \"" + name +
                             "\": the object has been modified; please apply your changes to the "
                             "latest version and try again",
                  .name = name, .group = group, .kind = plural};
}

ApiError Invalid(const std::string& kind, const std::string& plural, const std::string& group,
                 const std::string& name, std::vector<Cause> causes) {
  std::string message = kind + " \"" + name + "\" is invalid: ";
  if (causes.size() > 1) message += "[";
  for (size_t i = 0; i < causes.size(); ++i) {
    if (i > 0) message += ", ";
    message += causes[i].field + ": " + causes[i].message;
  }
  if (causes.size() > 1) message += "]";
  (void)plural;  // the real server names the Kind in details of an Invalid error
  return ApiError{.code = 422, .reason = "Invalid", .message = std::move(message), .name = name,
                  .group = group, .kind = kind, .causes = std::move(causes)};
}

ApiError Expired(std::string message) {
  return ApiError{.code = 410, .reason = "Expired", .message = std::move(message)};
}

ApiError InternalError(std::string message) {
  return ApiError{.code = 500, .reason = "InternalError",
                  .message = "Internal error occurred: " + std::move(message)};
}

ApiError MethodNotAllowed(std::string message) {
  return ApiError{.code = 405, .reason = "MethodNotAllowed", .message = std::move(message)};
}

ApiError UnsupportedMediaType(std::string message) {
  return ApiError{.code = 415, .reason = "UnsupportedMediaType", .message = std::move(message)};
}

ApiError FromCode(int code, std::string message, int retry_after_seconds) {
  std::string reason = "InternalError";
  switch (code) {
    case 400: reason = "BadRequest"; break;
    case 403: reason = "Forbidden"; break;
    case 404: reason = "NotFound"; break;
    case 409: reason = "Conflict"; break;
    case 410: reason = "Expired"; break;
    case 422: reason = "Invalid"; break;
    case 429: reason = "TooManyRequests"; break;
    case 503: reason = "ServiceUnavailable"; break;
    case 504: reason = "Timeout"; break;
    default: break;
  }
  return ApiError{.code = code, .reason = reason, .message = std::move(message),
                  .retry_after_seconds = retry_after_seconds};
}

}  // namespace registrar::kts
