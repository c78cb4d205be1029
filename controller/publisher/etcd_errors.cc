#include "controller/publisher/etcd_errors.h"

#include "absl/strings/match.h"

#include "controller/etcd/dry_run_client.h"

namespace registrar::publisher {

bool IsTransient(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsAborted(s) ||
         absl::IsCancelled(s) || absl::IsResourceExhausted(s) || absl::IsUnknown(s) ||
         absl::IsInternal(s);
}

bool IsCredentialError(const absl::Status& s) {
  if (absl::IsUnauthenticated(s) || absl::IsPermissionDenied(s)) {
    return true;
  }
  for (const char* tls : {"CERTIFICATE_VERIFY_FAILED", "certificate verify failed",
                          "Ssl handshake failed", "WRONG_VERSION_NUMBER"}) {
    if (absl::StrContains(s.message(), tls)) {
      return true;
    }
  }
  return false;
}

bool IsLeaseNotFound(const absl::Status& s) {
  return absl::IsNotFound(s) && absl::StrContains(s.message(), "lease not found");
}

ErrorClass Classify(const absl::Status& s) {
  if (IsCredentialError(s)) {
    return ErrorClass::kCredentials;
  }
  if (etcd::IsDryRun(s)) {
    return ErrorClass::kDryRun;
  }
  if (IsLeaseNotFound(s)) {
    return ErrorClass::kLeaseNotFound;
  }
  if (IsTransient(s)) {
    return ErrorClass::kTransient;
  }
  return ErrorClass::kOther;
}

Failure FailureFor(const absl::Status& status, bool removed, Cause current) {
  switch (Classify(status)) {
    case ErrorClass::kCredentials:
      return {Phase::kFailed, Cause::kAuthFailed, Retry::kAuthRetry};
    case ErrorClass::kDryRun:
      return {Phase::kPending, Cause::kDryRun, Retry::kNever};
    case ErrorClass::kTransient:
      if (removed) {
        return {Phase::kTerminating, Cause::kRevoking, Retry::kBackoff};
      }
      return {Phase::kPending, Cause::kEtcdUnavailable, Retry::kBackoff};
    case ErrorClass::kLeaseNotFound:
    case ErrorClass::kOther:
      break;
  }
  if (removed) {
    return {Phase::kTerminating, Cause::kRevoking, Retry::kBackoff};
  }
  return {Phase::kPending, current, Retry::kBackoff};
}

}  // namespace registrar::publisher
