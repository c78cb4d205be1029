// File: controller/kube/api_status.h
//
// metav1.Status -> absl::Status, and the questions callers ask of the result (client-go's
// apierrors.IsNotFound, IsConflict, ...). The HTTP code and the Status reason travel in the
// absl::Status payload, so a caller can tell 409 AlreadyExists from 409 Conflict and read a
// 429's Retry-After without knowing HTTP.
//
// Code mapping (STYLE.md's retry meaning): 400 kInvalidArgument, 401 kUnauthenticated,
// 403 kPermissionDenied, 404 kNotFound, 409 AlreadyExists kAlreadyExists, 409 Conflict kAborted,
// 410 kOutOfRange, 415 kInvalidArgument, 422 kInvalidArgument, 429 kUnavailable,
// 5xx kUnavailable (501 kUnimplemented), anything else kUnknown.
// The message is the server's message (with 422 causes appended: "field: message"), prefixed by
// "HTTP <code> <reason>: ". A body that is not a Status gives a message from the code and the
// first 200 bytes of the body.
//
// Pure functions: thread-safe, no ownership.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace registrar::kube {

struct StatusCause {
  std::string reason;  // FieldValueInvalid, FieldManagerConflict, ...
  std::string message;
  std::string field;
};

// What the server said, as far as it said it.
struct ApiError {
  int code = 0;        // HTTP code; 0 when the status did not come from the API server
  std::string reason;  // NotFound, AlreadyExists, Conflict, Expired, Gone, Invalid, Forbidden, ...
  std::string message;
  std::vector<StatusCause> causes;
  std::optional<std::chrono::seconds> retry_after;  // details.retryAfterSeconds or Retry-After
};

// An answer that was not 2xx. `retry_after_header` is the Retry-After header, if any.
absl::Status StatusFromResponse(int http_code, std::string_view body,
                                std::string_view retry_after_header = {});

// A watch stream's ERROR event object (a Status, e.g. 410 Expired) as an absl::Status.
absl::Status StatusFromWatchError(std::string_view status_object_json);

// The server's words in a status made by the functions above; nullopt for any other status.
std::optional<ApiError> ReadApiError(const absl::Status& status);

bool IsNotFound(const absl::Status& status);       // 404
bool IsAlreadyExists(const absl::Status& status);  // 409 AlreadyExists
bool IsConflict(const absl::Status& status);       // 409 Conflict (stale resourceVersion)
bool IsGone(const absl::Status& status);           // 410 Expired / Gone (relist)
bool IsInvalid(const absl::Status& status);        // 422
bool IsForbidden(const absl::Status& status);      // 403
bool IsUnauthorized(const absl::Status& status);   // 401
// 429, 5xx, and transport failures (kUnavailable, kDeadlineExceeded): retry with backoff.
bool IsRetryable(const absl::Status& status);
// The server's requested delay (429 / 503 Retry-After), if any.
std::optional<std::chrono::seconds> RetryAfter(const absl::Status& status);

}  // namespace registrar::kube
