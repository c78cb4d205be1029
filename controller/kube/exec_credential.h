// File: controller/kube/exec_credential.h
//
// exec credential plugins (client.authentication.k8s.io/v1 and v1beta1), run as kubectl runs
// them: how EKS (aws eks get-token), GKE (gke-gcloud-auth-plugin) and AKS (kubelogin) users
// authenticate.
//
// Flow: ExecInfoJson() builds the ExecCredential request the plugin finds in the environment
// variable KUBERNETES_EXEC_INFO ({"spec":{"interactive":false}} plus "cluster" when the kubeconfig
// sets provideClusterInfo). RunExecPlugin() starts the command (posix_spawnp: looked up in our
// PATH unless it names a path) with our environment plus the kubeconfig's `env` (which wins) plus
// KUBERNETES_EXEC_INFO, stdin from /dev/null (we never have a terminal), stdout captured, stderr
// logged line by line (and the last lines kept for an error), and kills it by PID at the deadline.
// ParseExecCredential() reads its answer (pure; fuzzed). NewExecCredentials() wraps the three in
// a Credentials that caches the token until its expirationTimestamp (forever without one) or
// until Invalidate(), and runs the plugin once for any number of concurrent Token() calls.
//
// Errors name the plugin and the kubeconfig entry ("exec plugin \"aws\" (kubeconfig /x, user
// u): ..."), and a missing command adds the kubeconfig's installHint. Tokens never appear in
// errors or logs.
// Thread-safety: the functions are pure or self-contained (RunExecPlugin may run on several
// threads at once); the Credentials is safe for concurrent use.
// Ownership: everything by value; the Credentials refers to the Clock, which must outlive it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "controller/common/clock.h"
#include "controller/kube/config.h"
#include "controller/kube/credentials.h"

namespace registrar::kube {

inline constexpr std::chrono::seconds kExecPluginTimeout{30};

// What a plugin answered.
struct ExecCredential {
  std::string token;
  std::optional<std::chrono::system_clock::time_point> expiration;  // none: valid until a 401
};

// Reads the plugin's stdout: an ExecCredential of `api_version` with status.token and an optional
// status.expirationTimestamp (RFC 3339). kInvalidArgument naming what is wrong: not JSON, another
// apiVersion or kind, no status, no token ("only tokens are supported" when the answer is a client
// certificate), a bad timestamp. The message never quotes the output (it may hold a secret).
absl::StatusOr<ExecCredential> ParseExecCredential(std::string_view text,
                                                   std::string_view api_version);

// The KUBERNETES_EXEC_INFO value for `exec`; the cluster part comes from `cluster` when
// exec.provide_cluster_info is set.
std::string ExecInfoJson(const ExecConfig& exec, const ClusterConfig& cluster);

// Runs the plugin and returns its stdout. Errors: kFailedPrecondition when the command cannot be
// started (not found: with the install hint), kUnavailable when it exits non-zero or is killed
// (with the end of its stderr), kDeadlineExceeded when it runs past `timeout` (it is killed).
// `clock` measures the deadline.
absl::StatusOr<std::string> RunExecPlugin(const ExecConfig& exec, std::string_view exec_info,
                                          std::chrono::milliseconds timeout, Clock& clock);

// The Credentials of an exec plugin (NewCredentials uses it with kExecPluginTimeout).
std::unique_ptr<Credentials> NewExecCredentials(const ExecConfig& exec,
                                                const ClusterConfig& cluster, Clock& clock,
                                                std::chrono::milliseconds timeout);

}  // namespace registrar::kube
