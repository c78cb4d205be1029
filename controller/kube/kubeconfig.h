// File: controller/kube/kubeconfig.h
//
// kubeconfig files as kubectl reads them, without touching the file system: parse one file's
// text, merge several in $KUBECONFIG order, pick a context and turn it into a ClusterConfig.
// config.cc does the reading; this part is pure so that it can be fuzzed and table-tested.
//
// Flow: ParseKubeconfig(text, path) reads clusters, users, contexts and current-context (other
// top-level fields, such as preferences and extensions, are ignored, as are unknown fields) and
// resolves relative file names against the file's folder. MergeKubeconfigs() applies kubectl's
// rule: for each cluster, user and context (by name) and for current-context, the first file
// that sets it wins; entries are never merged field by field. ResolveKubeconfig(config, context)
// picks `context` (or current-context), checks what that context uses, reads the files it names
// through `read_file` and returns the ClusterConfig.
//
// What is checked where: field types, names, duplicate names and base64 data are checked when a
// file is parsed (kubectl refuses such a file whole); unsupported features (proxy-url,
// auth-provider, basic auth, impersonation) and missing pieces only when the chosen context uses
// them, so an old entry elsewhere in the file does no harm. Every error is kInvalidArgument and
// starts with "kubeconfig <file>: " and the entry, e.g.
//   kubeconfig /x/config: users[1] "bob": client-key: cannot read /x/key.pem: No such file ...
// (parse errors add "line N: " after the file name).
//
// Cost: one pass over the YAML tree; resolution reads at most five files.
// Thread-safety: pure functions (read_file is called on the caller's thread). Ownership: values.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

#include "controller/kube/config.h"

namespace registrar::kube {

// A feature the chosen context may not use: its field name and what to tell the user.
struct Unsupported {
  std::string field;
  std::string message;
};

// clusters[].cluster
struct KubeconfigCluster {
  std::string where;  // "kubeconfig /x/config: clusters[0] \"name\"": the prefix of errors
  std::string server;
  std::string tls_server_name;
  bool insecure_skip_tls_verify = false;
  std::string certificate_authority;  // a path (made absolute against the file's folder)
  std::string certificate_authority_data;  // decoded
  std::vector<Unsupported> unsupported;    // proxy-url
};

// users[].user
struct KubeconfigUser {
  std::string where;
  std::string client_certificate;  // paths
  std::string client_key;
  std::string client_certificate_data;  // decoded
  std::string client_key_data;
  std::string token;
  std::string token_file;         // a path
  std::optional<ExecConfig> exec;  // command made absolute when it names a path (has a '/')
  std::vector<Unsupported> unsupported;  // auth-provider, username/password, as*
};

// contexts[].context
struct KubeconfigContext {
  std::string where;
  std::string file;  // the file that defines it (for ClusterConfig::origin)
  std::string cluster;
  std::string user;
  std::string namespace_;
};

struct Kubeconfig {
  std::vector<std::string> files;  // the files read, in order
  std::map<std::string, KubeconfigCluster> clusters;
  std::map<std::string, KubeconfigUser> users;
  std::map<std::string, KubeconfigContext> contexts;
  std::string current_context;
};

// Parses one kubeconfig file's text; `path` names it in errors and its folder anchors relative
// file names (pass an absolute path). An empty text is an empty config.
absl::StatusOr<Kubeconfig> ParseKubeconfig(std::string_view text, std::string_view path);

// `configs` merged in order: the first to set an entry or current-context wins.
Kubeconfig MergeKubeconfigs(std::vector<Kubeconfig> configs);

// A file named by a kubeconfig: its contents, or an error whose message says what went wrong,
// e.g. "cannot read /x/key.pem: No such file or directory".
using ReadFileFn = std::function<absl::StatusOr<std::string>(const std::string& path)>;

// The ClusterConfig of `context` (empty: current-context) in `config`; files are read through
// `read_file` (the token file is read once to check it, and kept as a path).
absl::StatusOr<ClusterConfig> ResolveKubeconfig(const Kubeconfig& config, std::string_view context,
                                                const ReadFileFn& read_file);

// The server URL as client-go uses it: a trailing '/' dropped; without a scheme, "https://" when
// any TLS setting is present and "http://" otherwise. kInvalidArgument for an empty URL or a
// scheme other than http/https (the message says which).
absl::StatusOr<std::string> NormalizeServer(std::string_view server, bool tls_hint);

}  // namespace registrar::kube
