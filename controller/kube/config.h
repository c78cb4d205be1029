// File: controller/kube/config.h
//
// Where the Kubernetes API is and how to authenticate to it (DESIGN §3, issue 11): the result of
// reading the in-cluster service account or a kubeconfig, before any connection is made.
//
// Flow: LoadClusterConfig() picks the source in DESIGN §3's order, except that a flag is an
// explicit choice and wins, so --kubeconfig works inside a pod too: --kubeconfig, else in-cluster
// when KUBERNETES_SERVICE_HOST/PORT are set and the service-account token file exists (not with
// --context, which names a kubeconfig context), else $KUBECONFIG (a colon-separated list merged
// as kubectl merges it: the first file that sets a map entry or current-context wins; missing
// files are skipped), else ~/.kube/config (not when $KUBECONFIG is set, as kubectl); then the
// current context or --context. Nothing found: kNotFound naming every place
// looked at. Files named in a kubeconfig (certificate-authority, client-certificate,
// client-key, tokenFile) are read here, relative to the kubeconfig that names them; the token
// file is kept as a path too, because it rotates (credentials.h re-reads it).
// A bad or missing config is one error naming the file and the field (the caller exits 2).
//
// The in-cluster directory (/var/run/secrets/kubernetes.io/serviceaccount) can be replaced with
// the environment variable ER_KUBE_IN_CLUSTER_DIR — for tests only (documented as such).
//
// Plain values and pure-ish loaders (they read files and the environment): thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace registrar::kube {

inline constexpr char kInClusterDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";
inline constexpr char kInClusterDirEnv[] = "ER_KUBE_IN_CLUSTER_DIR";  // tests only

// users[].user.exec of a kubeconfig (client.authentication.k8s.io/v1 or v1beta1).
struct ExecConfig {
  std::string api_version;  // client.authentication.k8s.io/v1 (v1beta1 accepted)
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string interactive_mode;  // Never | IfAvailable | Always; we never have a terminal
  bool provide_cluster_info = false;
  std::string install_hint;
  std::string origin;  // "kubeconfig /path, user NAME" for error messages
};

struct ClusterConfig {
  std::string server;  // "https://host:port" (no trailing slash)
  std::string tls_server_name;
  std::string ca_pem;  // empty: the system's roots
  bool insecure_skip_tls_verify = false;
  std::string client_cert_pem;  // both or neither
  std::string client_key_pem;
  std::string token;       // a static bearer token
  std::string token_file;  // re-read when it changes (in-cluster, kubeconfig tokenFile)
  std::optional<ExecConfig> exec;
  std::string default_namespace;  // the context's namespace, or the in-cluster namespace file
  std::string origin;  // "in-cluster" or "kubeconfig /path, context NAME": for logs and errors
};

struct LoadOptions {
  std::string kubeconfig;  // --kubeconfig; empty: in-cluster, $KUBECONFIG, ~/.kube/config
  std::string context;     // --context; empty: current-context
};

// In-cluster if possible, else the kubeconfig chain, as described above.
absl::StatusOr<ClusterConfig> LoadClusterConfig(const LoadOptions& options);

// The in-cluster configuration from `dir` (token, ca.crt, namespace) and
// KUBERNETES_SERVICE_HOST/PORT. kNotFound when not in a cluster.
absl::StatusOr<ClusterConfig> LoadInCluster(std::string_view dir);

// The kubeconfig files `paths` (merged in order), context `context` (empty: current-context).
absl::StatusOr<ClusterConfig> LoadKubeconfig(const std::vector<std::string>& paths,
                                             const std::string& context);

}  // namespace registrar::kube
