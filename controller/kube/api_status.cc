#include "controller/kube/api_status.h"

#include <charconv>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace registrar::kube {

namespace {

constexpr char kPayloadUrl[] = "registrar.dev/kube-api-error";

absl::StatusCode CodeFor(int http, std::string_view reason) {
  switch (http) {
    case 400:
    case 415:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 429:
      return absl::StatusCode::kUnavailable;
    case 501:
      return absl::StatusCode::kUnimplemented;
    default:
      return http >= 500 && http < 600 ? absl::StatusCode::kUnavailable
                                       : absl::StatusCode::kUnknown;
  }
}

std::string StringField(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The reason client-go assumes when the body says none.
std::string DefaultReason(int http) {
  switch (http) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
  }
}

absl::Status Make(ApiError error) {
  std::string message = absl::StrCat("HTTP ", error.code, " ", error.reason, ": ", error.message);
  for (const StatusCause& cause : error.causes) {
    absl::StrAppend(&message, "; ", cause.field.empty() ? "" : cause.field + ": ", cause.message);
  }
  absl::Status status(CodeFor(error.code, error.reason), message);
  nlohmann::json payload = {{"code", error.code}, {"reason", error.reason},
                            {"message", error.message}};
  if (error.retry_after) {
    payload["retryAfter"] = error.retry_after->count();
  }
  nlohmann::json causes = nlohmann::json::array();
  for (const StatusCause& c : error.causes) {
    causes.push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
  }
  payload["causes"] = std::move(causes);
  // A body that is not JSON may be any bytes (a proxy's Latin-1 page, or valid UTF-8 cut at 200
  // bytes): bytes that are not UTF-8 become U+FFFD instead of a type_error thrown by dump().
  status.SetPayload(kPayloadUrl, absl::Cord(payload.dump(-1, ' ', false,
                                                         nlohmann::json::error_handler_t::replace)));
  return status;
}

// Reads a metav1.Status object into `error` (fields it lacks stay as they are).
void ReadStatusObject(const nlohmann::json& j, ApiError& error) {
  if (!j.is_object()) {
    return;
  }
  if (std::string reason = StringField(j, "reason"); !reason.empty()) {
    error.reason = reason;
  }
  if (std::string message = StringField(j, "message"); !message.empty()) {
    error.message = message;
  }
  if (auto code = j.find("code"); code != j.end() && code->is_number_integer() && error.code == 0) {
    error.code = code->get<int>();
  }
  auto details = j.find("details");
  if (details == j.end() || !details->is_object()) {
    return;
  }
  if (auto ra = details->find("retryAfterSeconds");
      ra != details->end() && ra->is_number_integer() && ra->get<int64_t>() > 0) {
    error.retry_after = std::chrono::seconds(ra->get<int64_t>());
  }
  if (auto causes = details->find("causes"); causes != details->end() && causes->is_array()) {
    for (const auto& c : *causes) {
      if (c.is_object()) {
        error.causes.push_back(
            {StringField(c, "reason"), StringField(c, "message"), StringField(c, "field")});
      }
    }
  }
}

}  // namespace

absl::Status StatusFromResponse(int http_code, std::string_view body,
                                std::string_view retry_after_header) {
  ApiError error;
  error.code = http_code;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && StringField(j, "kind") == "Status") {
    ReadStatusObject(j, error);
    error.code = http_code;  // the HTTP code is what happened
  } else {
    error.message = std::string(body.substr(0, 200));
  }
  if (error.reason.empty()) {
    error.reason = DefaultReason(http_code);
  }
  if (error.message.empty()) {
    error.message = "(no message)";
  }
  int seconds = 0;
  if (!error.retry_after && !retry_after_header.empty() &&
      std::from_chars(retry_after_header.data(),
                      retry_after_header.data() + retry_after_header.size(), seconds)
              .ec == std::errc() &&
      seconds > 0) {
    error.retry_after = std::chrono::seconds(seconds);
  }
  return Make(std::move(error));
}

absl::Status StatusFromWatchError(std::string_view status_object_json) {
  ApiError error;
  nlohmann::json j = nlohmann::json::parse(status_object_json, nullptr, false);
  ReadStatusObject(j, error);
  if (error.code == 0) {
    error.code = 500;
  }
  if (error.reason.empty()) {
    error.reason = DefaultReason(error.code);
  }
  if (error.message.empty()) {
    error.message = "watch ERROR event: " + std::string(status_object_json.substr(0, 200));
  }
  return Make(std::move(error));
}

std::optional<ApiError> ReadApiError(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kPayloadUrl);
  if (!payload) {
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(std::string(*payload), nullptr, false);
  if (!j.is_object()) {
    return std::nullopt;
  }
  ApiError error;
  error.code = j.value("code", 0);
  error.reason = j.value("reason", "");
  error.message = j.value("message", "");
  if (j.contains("retryAfter")) {
    error.retry_after = std::chrono::seconds(j.value("retryAfter", int64_t{0}));
  }
  for (const auto& c : j.value("causes", nlohmann::json::array())) {
    error.causes.push_back({c.value("reason", ""), c.value("message", ""), c.value("field", "")});
  }
  return error;
}

namespace {
int CodeOf(const absl::Status& status) {
  auto e = ReadApiError(status);
  return e ? e->code : 0;
}
std::string ReasonOf(const absl::Status& status) {
  auto e = ReadApiError(status);
  return e ? e->reason : std::string();
}
}  // namespace

bool IsNotFound(const absl::Status& s) { return CodeOf(s) == 404; }
bool IsAlreadyExists(const absl::Status& s) {
  return CodeOf(s) == 409 && ReasonOf(s) == "AlreadyExists";
}
bool IsConflict(const absl::Status& s) { return CodeOf(s) == 409 && ReasonOf(s) != "AlreadyExists"; }
bool IsGone(const absl::Status& s) { return CodeOf(s) == 410; }
bool IsInvalid(const absl::Status& s) { return CodeOf(s) == 422; }
bool IsForbidden(const absl::Status& s) { return CodeOf(s) == 403; }
bool IsUnauthorized(const absl::Status& s) { return CodeOf(s) == 401; }

bool IsRetryable(const absl::Status& s) {
  int code = CodeOf(s);
  if (code != 0) {
    return code == 429 || (code >= 500 && code != 501);
  }
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

std::optional<std::chrono::seconds> RetryAfter(const absl::Status& s) {
  auto e = ReadApiError(s);
  return e ? e->retry_after : std::nullopt;
}

}  // namespace registrar::kube
