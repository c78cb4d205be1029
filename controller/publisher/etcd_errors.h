// File: controller/publisher/etcd_errors.h
//
// What an etcd answer means for one registration, as pure functions: which failures are worth a
// quick retry, which need a person (credentials, TLS), which say the lease is gone, and which
// came from a dry run. `FailureFor` is the engine's whole failure table: phase, cause and how
// to retry, from the status and what the registration was doing.
//
// Thread-safety: pure functions. Ownership: none.
#pragma once

#include "absl/status/status.h"

#include "controller/publisher/engine.h"

namespace registrar::publisher {

enum class ErrorClass {
  kTransient,      // unavailable, deadline, aborted, ...: retry with backoff
  kCredentials,    // rejected credentials or an untrusted TLS peer: a person must act
  kLeaseNotFound,  // etcd does not know the lease: it is lost
  kDryRun,         // the dry-run client refused a write (etcd/dry_run_client.h)
  kOther,          // anything else: retry with backoff, keep the cause
};

bool IsTransient(const absl::Status& status);
bool IsCredentialError(const absl::Status& status);
bool IsLeaseNotFound(const absl::Status& status);
// Credentials before dry run before lease-not-found before transient.
ErrorClass Classify(const absl::Status& status);

enum class Retry { kBackoff, kAuthRetry, kNever };

struct Failure {
  Phase phase = Phase::kPending;
  Cause cause = Cause::kRegistering;
  Retry retry = Retry::kBackoff;
};

// The state a registration takes after `status` failed its operation. `removed`: it is being
// revoked; `current`: its cause so far (kept for errors that say nothing new).
Failure FailureFor(const absl::Status& status, bool removed, Cause current);

}  // namespace registrar::publisher
