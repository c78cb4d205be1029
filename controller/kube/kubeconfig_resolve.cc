#include "controller/kube/kubeconfig.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "controller/common/status.h"

// ResolveKubeconfig and NormalizeServer (kubeconfig.h): the chosen context -> ClusterConfig.
namespace registrar::kube {

namespace {

constexpr char kExecV1[] = "client.authentication.k8s.io/v1";
constexpr char kExecV1beta1[] = "client.authentication.k8s.io/v1beta1";

std::string Names(const std::map<std::string, KubeconfigContext>& contexts) {
  std::vector<std::string> names;
  for (const auto& [name, unused] : contexts) {
    names.push_back(absl::StrCat("\"", name, "\""));
  }
  return names.empty() ? "there are none" : absl::StrCat("known: ", absl::StrJoin(names, ", "));
}

absl::Status FirstUnsupported(const std::string& where, const std::vector<Unsupported>& list) {
  if (list.empty()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", list.front().field, ": ", list.front().message));
}

// A file-or-data pair: the data, or the named file's contents.
absl::StatusOr<std::string> FileOrData(const std::string& where, const char* field,
                                       const std::string& file, const std::string& data,
                                       const ReadFileFn& read_file) {
  if (!file.empty() && !data.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", field, " and ", field,
                                                   "-data are both set; set one"));
  }
  if (file.empty()) {
    return data;
  }
  absl::StatusOr<std::string> contents = read_file(file);
  if (!contents.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", field, ": ", contents.status().message()));
  }
  if (contents->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", field, ": ", file, " is empty"));
  }
  return contents;
}

absl::Status CheckExec(const std::string& where, const ExecConfig& exec) {
  if (exec.api_version != kExecV1 && exec.api_version != kExecV1beta1) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": exec: apiVersion: ",
        exec.api_version.empty() ? std::string("must be set")
                                 : absl::StrCat("\"", exec.api_version, "\" is not supported"),
        " (use ", kExecV1, " or ", kExecV1beta1, ")"));
  }
  if (exec.command.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": exec: command: must be set"));
  }
  if (exec.interactive_mode == "Always") {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": exec: interactiveMode: Always needs a terminal and a controller has none; "
               "use Never or IfAvailable"));
  }
  if (!exec.interactive_mode.empty() && exec.interactive_mode != "Never" &&
      exec.interactive_mode != "IfAvailable") {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": exec: interactiveMode: \"", exec.interactive_mode,
                     "\" is not one of Never, IfAvailable, Always"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> NormalizeServer(std::string_view server, bool tls_hint) {
  std::string url(server);
  size_t scheme_end = url.find("://");
  if (scheme_end != std::string::npos) {
    std::string scheme = url.substr(0, scheme_end);
    if (scheme != "https" && scheme != "http") {
      return absl::InvalidArgumentError(
          absl::StrCat("scheme \"", scheme, "\" is not supported (use https:// or http://)"));
    }
  }
  while (!url.empty() && url.back() == '/' &&
         (scheme_end == std::string::npos || url.size() > scheme_end + 3)) {
    url.pop_back();
  }
  if (url.empty()) {
    return absl::InvalidArgumentError("must be set (the API server's URL, e.g. https://host:6443)");
  }
  if (scheme_end == std::string::npos) {
    return absl::StrCat(tls_hint ? "https://" : "http://", url);
  }
  if (url.size() == scheme_end + 3) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\" has no host"));
  }
  return url;
}

absl::StatusOr<ClusterConfig> ResolveKubeconfig(const Kubeconfig& config, std::string_view context,
                                                const ReadFileFn& read_file) {
  const std::string files = absl::StrCat("kubeconfig ", absl::StrJoin(config.files, ", "));
  std::string name(context);
  if (name.empty()) {
    if (config.current_context.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          files, ": current-context is not set; set it (kubectl config use-context NAME) or pass "
                 "--context (", Names(config.contexts), ")"));
    }
    name = config.current_context;
  }
  auto ctx_it = config.contexts.find(name);
  if (ctx_it == config.contexts.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(files, ": ", context.empty() ? "current-context" : "context", " \"", name,
                     "\" not found (", Names(config.contexts), ")"));
  }
  const KubeconfigContext& ctx = ctx_it->second;
  if (ctx.cluster.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.where, ": cluster: must be set"));
  }
  auto cluster_it = config.clusters.find(ctx.cluster);
  if (cluster_it == config.clusters.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.where, ": cluster \"", ctx.cluster, "\" not found in ", files));
  }
  const KubeconfigCluster& cluster = cluster_it->second;
  RETURN_IF_ERROR(FirstUnsupported(cluster.where, cluster.unsupported));

  ClusterConfig out;
  out.origin = absl::StrCat("kubeconfig ", ctx.file, ", context ", name);
  out.default_namespace = ctx.namespace_.empty() ? "default" : ctx.namespace_;
  out.tls_server_name = cluster.tls_server_name;
  out.insecure_skip_tls_verify = cluster.insecure_skip_tls_verify;
  ASSIGN_OR_RETURN(out.ca_pem, FileOrData(cluster.where, "certificate-authority",
                                          cluster.certificate_authority,
                                          cluster.certificate_authority_data, read_file));
  if (out.insecure_skip_tls_verify && !out.ca_pem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        cluster.where, ": insecure-skip-tls-verify and a certificate authority are both set; "
                       "set one (kubectl refuses this too)"));
  }

  if (!ctx.user.empty()) {
    auto user_it = config.users.find(ctx.user);
    if (user_it == config.users.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.where, ": user \"", ctx.user, "\" not found in ", files));
    }
    const KubeconfigUser& user = user_it->second;
    RETURN_IF_ERROR(FirstUnsupported(user.where, user.unsupported));
    ASSIGN_OR_RETURN(out.client_cert_pem,
                     FileOrData(user.where, "client-certificate", user.client_certificate,
                                user.client_certificate_data, read_file));
    ASSIGN_OR_RETURN(out.client_key_pem, FileOrData(user.where, "client-key", user.client_key,
                                                    user.client_key_data, read_file));
    if (out.client_cert_pem.empty() != out.client_key_pem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          user.where, ": ", out.client_cert_pem.empty() ? "client-key" : "client-certificate",
          " is set without ", out.client_cert_pem.empty() ? "client-certificate" : "client-key",
          "; a client certificate needs both"));
    }
    out.token = user.token;
    out.token_file = user.token_file;
    if (!user.token_file.empty()) {
      absl::StatusOr<std::string> token = read_file(user.token_file);
      if (!token.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(user.where, ": tokenFile: ", token.status().message()));
      }
    }
    if (user.exec) {
      if (!user.token.empty() || !user.token_file.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            user.where, ": exec and ", user.token.empty() ? "tokenFile" : "token",
            " are both set; a bearer token comes from one of them"));
      }
      RETURN_IF_ERROR(CheckExec(user.where, *user.exec));
      out.exec = user.exec;
    }
  }
  const bool tls_hint = !out.ca_pem.empty() || !out.client_cert_pem.empty() ||
                        out.insecure_skip_tls_verify || !out.tls_server_name.empty();
  absl::StatusOr<std::string> server = NormalizeServer(cluster.server, tls_hint);
  if (!server.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(cluster.where, ": server: ", server.status().message()));
  }
  out.server = *std::move(server);
  return out;
}

}  // namespace registrar::kube
