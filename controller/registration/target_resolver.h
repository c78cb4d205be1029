// File: controller/registration/target_resolver.h
//
// A registration's own etcd target (DESIGN.md §1 `spec.etcd`) as the engine's ClientOptions: the
// endpoints of the spec, username/password from `credentialsSecretRef` (keys `username`,
// `password`), CA, client certificate and key from `tlsSecretRef` (keys `ca.crt`, `tls.crt`,
// `tls.key`), and insecureSkipVerify. Secrets are read through a SecretReader (the Kubernetes
// side GETs them, kube/secrets.h) in the resource's namespace, at every resolution: the reconciler
// resolves on every reconcile, so a changed Secret gives a new ClientOptions::Identity() and the
// engine moves the registration to the new connection (make before break).
//
// Rules:
//   - the target starts from `base` (timeouts and backoff only): the controller's own username,
//     password and TLS material are never copied into a target a resource chose;
//   - a Secret that does not exist, or lacks a key the target needs (username and password
//     together; tls.crt and tls.key together; ca.crt unless insecureSkipVerify), is a refusal
//     SecretNotFound naming the Secret and the key; a Secret the controller may not read (403) is
//     SecretNotFound too, with the API's message;
//   - any other failure to read a Secret (API unreachable) is returned as an error: the caller
//     retries and keeps what it had;
//   - no message names a Secret's value, only its namespace, name and keys.
//
// Thread-safety: a pure function of its arguments and what the reader returns.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

#include "controller/etcd/client_options.h"
#include "controller/registration/status.h"
#include "controller/registration/types.h"

namespace registrar::registration {

// A Secret's data, base64-decoded: key -> value.
using SecretData = std::map<std::string, std::string>;
// Reads Secret `name` in namespace `ns`; kNotFound when it does not exist, kPermissionDenied
// when the controller may not read it.
using SecretReader =
    std::function<absl::StatusOr<SecretData>(const std::string& ns, const std::string& name)>;

// What a target resolves to: its ClientOptions, or (refusal set) what a person must fix.
struct ResolvedTarget {
  etcd::ClientOptions options;
  std::optional<Refusal> refusal;  // SecretNotFound
};

// The ClientOptions of `target` for a resource in `namespace_name`, or the refusal
// (SecretNotFound) a person must fix; an error when a Secret could not be read for now.
absl::StatusOr<ResolvedTarget> ResolveTarget(const EtcdTarget& target,
                                             const std::string& namespace_name,
                                             const SecretReader& read,
                                             const etcd::ClientOptions& base);

// When a registration with its own target reads its Secrets again, besides its periodic requeue
// (a pure rule, table-tested): a Secret missing -> `recheck`; the engine says AuthFailed ->
// `live_recheck` while a lease is still held (the password was changed in etcd first: the key
// lasts until that lease ends, so the Secret's new password must be seen quickly), `recheck`
// otherwise; moving with a warning (the Secret's new credentials were rejected while the key is
// live with the previous ones) -> `recheck`; otherwise nullopt.
struct RecheckInput {
  bool secret_missing = false;
  bool auth_failed = false;
  bool lease_held = false;
  bool move_waits = false;  // moving, with a warning
};
std::optional<std::chrono::milliseconds> SecretRecheck(const RecheckInput& in,
                                                       std::chrono::milliseconds recheck,
                                                       std::chrono::milliseconds live_recheck);

}  // namespace registrar::registration
