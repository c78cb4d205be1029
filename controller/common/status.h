// File: controller/common/status.h
//
// absl::Status helpers used at every module boundary: RETURN_IF_ERROR / ASSIGN_OR_RETURN
// (Debian's absl 20220623 has no status_macros.h) and conversions from gRPC and HTTP codes.
// gRPC and absl share the google.rpc.Code integers, so FromGrpcCode is lossless.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace registrar {

#define ER_STATUS_CONCAT_INNER_(a, b) a##b
#define ER_STATUS_CONCAT_(a, b) ER_STATUS_CONCAT_INNER_(a, b)

// Returns from the current function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)           \
  do {                                  \
    ::absl::Status er_status_ = (expr); \
    if (!er_status_.ok())               \
      return er_status_;                \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates the absl::StatusOr `expr`; on error returns its status,
// otherwise move-assigns the value to `lhs` (which may be a declaration: `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  ER_ASSIGN_OR_RETURN_IMPL_(ER_STATUS_CONCAT_(er_statusor_, __LINE__), lhs, expr)
#define ER_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok())                                  \
    return std::move(tmp).status();               \
  lhs = std::move(tmp).value()

// A gRPC status code (same integers as absl::StatusCode) and message as an absl::Status.
absl::Status FromGrpcCode(int code, absl::string_view message);

// An HTTP status code as an absl::Status with the retry meaning of STYLE.md:
// 409 -> kAborted, 410 -> kOutOfRange, 404 -> kNotFound, 429/5xx -> kUnavailable, ...
absl::Status FromHttp(int http_code, absl::string_view message);

// Adds context in front of a status message, keeping the code: "context: message".
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace registrar
