#include "controller/common/status.h"

#include "absl/strings/str_cat.h"

namespace registrar {

absl::Status FromGrpcCode(int code, absl::string_view message) {
  if (code == 0) {
    return absl::OkStatus();
  }
  if (code < 0 || code > 16) {
    return absl::UnknownError(message);
  }
  return absl::Status(static_cast<absl::StatusCode>(code), message);
}

absl::Status FromHttp(int http_code, absl::string_view message) {
  if (http_code >= 200 && http_code < 300) {
    return absl::OkStatus();
  }
  switch (http_code) {
    case 400:
    case 422:
      return absl::InvalidArgumentError(message);
    case 401:
      return absl::UnauthenticatedError(message);
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 409:
      return absl::AbortedError(message);
    case 410:
      return absl::OutOfRangeError(message);
    case 415:
      return absl::InvalidArgumentError(message);
    case 429:
      return absl::UnavailableError(message);
    case 504:
      return absl::DeadlineExceededError(message);
    default:
      if (http_code >= 500) {
        return absl::UnavailableError(message);
      }
      return absl::UnknownError(message);
  }
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) {
    return status;
  }
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace registrar
