#include "controller/kube/kubeconfig.h"

#include <filesystem>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

#include "controller/common/status.h"
#include "controller/common/yaml_json.h"
#include "nlohmann/json.hpp"

namespace registrar::kube {

namespace {

using nlohmann::json;

constexpr char kExecV1[] = "client.authentication.k8s.io/v1";
constexpr char kExecV1beta1[] = "client.authentication.k8s.io/v1beta1";

// Reads one parsed file: every error names the file and, where known, the line.
class FileReader {
 public:
  FileReader(std::string_view path, const LineMap& lines) : path_(path), lines_(lines) {
    std::filesystem::path p(path_);
    dir_ = p.parent_path().string();
  }

  const std::string& path() const { return path_; }

  // "kubeconfig F: line L: <what>: <message>"
  absl::Status Fail(std::string_view json_path, const std::string& what,
                    const std::string& message) const {
    int line = NearestLine(lines_, json_path);
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path_, ": ",
                                                   line > 0 ? absl::StrCat("line ", line, ": ") : "",
                                                   what, what.empty() ? "" : ": ", message));
  }

  // A string field (null or absent: ""); `label` names the entry in errors.
  absl::Status String(const json& object, std::string_view object_path, const std::string& label,
                      const char* key, std::string* out) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
      return absl::OkStatus();
    }
    if (!it->is_string()) {
      return Fail(JsonPathChild(object_path, key), absl::StrCat(label, ": ", key),
                  absl::StrCat("must be of type string, got ", JsonTypeName(*it)));
    }
    *out = it->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Bool(const json& object, std::string_view object_path, const std::string& label,
                    const char* key, bool* out) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
      return absl::OkStatus();
    }
    if (!it->is_boolean()) {
      return Fail(JsonPathChild(object_path, key), absl::StrCat(label, ": ", key),
                  BooleanExpected(*it));
    }
    *out = it->get<bool>();
    return absl::OkStatus();
  }

  // A file name made absolute against the kubeconfig's folder (kubectl's ResolvePaths).
  absl::Status Path(const json& object, std::string_view object_path, const std::string& label,
                    const char* key, std::string* out) const {
    RETURN_IF_ERROR(String(object, object_path, label, key, out));
    *out = Resolve(*out);
    return absl::OkStatus();
  }

  std::string Resolve(const std::string& name) const {
    if (name.empty() || name.front() == '/') {
      return name;
    }
    return (std::filesystem::path(dir_) / name).lexically_normal().string();
  }

  // base64 data (Go's encoding/json []byte: standard alphabet; newlines ignored).
  absl::Status Data(const json& object, std::string_view object_path, const std::string& label,
                    const char* key, std::string* out) const {
    std::string text;
    RETURN_IF_ERROR(String(object, object_path, label, key, &text));
    if (text.empty()) {
      return absl::OkStatus();
    }
    text = absl::StrReplaceAll(text, {{"\n", ""}, {"\r", ""}});
    if (!absl::Base64Unescape(text, out) || text.size() % 4 != 0) {
      return Fail(JsonPathChild(object_path, key), absl::StrCat(label, ": ", key),
                  "is not valid base64 (put a PEM file's contents base64-encoded here, or name "
                  "the file with the field without -data)");
    }
    return absl::OkStatus();
  }

 private:
  std::string path_;
  std::string dir_;
  const LineMap& lines_;
};

// "clusters[0] \"name\"" for errors.
std::string Label(const std::string& list, size_t index, const std::string& name) {
  return absl::StrCat(list, "[", index, "] \"", name, "\"");
}

absl::Status ParseCluster(const FileReader& r, const json& body, const std::string& path,
                          const std::string& label, KubeconfigCluster* c) {
  RETURN_IF_ERROR(r.String(body, path, label, "server", &c->server));
  RETURN_IF_ERROR(r.String(body, path, label, "tls-server-name", &c->tls_server_name));
  RETURN_IF_ERROR(
      r.Bool(body, path, label, "insecure-skip-tls-verify", &c->insecure_skip_tls_verify));
  RETURN_IF_ERROR(r.Path(body, path, label, "certificate-authority", &c->certificate_authority));
  RETURN_IF_ERROR(
      r.Data(body, path, label, "certificate-authority-data", &c->certificate_authority_data));
  std::string proxy;
  RETURN_IF_ERROR(r.String(body, path, label, "proxy-url", &proxy));
  if (!proxy.empty()) {
    c->unsupported.push_back(
        {"proxy-url", absl::StrCat("proxies are not supported (", proxy,
                                   "); remove proxy-url and reach the API server directly")});
  }
  return absl::OkStatus();
}

absl::Status ParseExec(const FileReader& r, const json& exec, const std::string& path,
                       const std::string& label, ExecConfig* e) {
  const std::string exec_label = absl::StrCat(label, ": exec");
  if (!exec.is_object()) {
    return r.Fail(path, exec_label,
                  absl::StrCat("must be of type object, got ", JsonTypeName(exec)));
  }
  RETURN_IF_ERROR(r.String(exec, path, exec_label, "apiVersion", &e->api_version));
  RETURN_IF_ERROR(r.String(exec, path, exec_label, "command", &e->command));
  if (e->command.find('/') != std::string::npos) {
    e->command = r.Resolve(e->command);  // a path, not a name looked up in PATH
  }
  RETURN_IF_ERROR(r.String(exec, path, exec_label, "interactiveMode", &e->interactive_mode));
  RETURN_IF_ERROR(r.String(exec, path, exec_label, "installHint", &e->install_hint));
  RETURN_IF_ERROR(
      r.Bool(exec, path, exec_label, "provideClusterInfo", &e->provide_cluster_info));
  if (auto it = exec.find("args"); it != exec.end() && !it->is_null()) {
    const std::string args_path = JsonPathChild(path, "args");
    if (!it->is_array()) {
      return r.Fail(args_path, exec_label + ": args",
                    absl::StrCat("must be of type array, got ", JsonTypeName(*it)));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& arg = (*it)[i];
      if (!arg.is_string()) {
        return r.Fail(JsonPathIndex(args_path, i), absl::StrCat(exec_label, ": args[", i, "]"),
                      absl::StrCat("must be of type string, got ", JsonTypeName(arg)));
      }
      e->args.push_back(arg.get<std::string>());
    }
  }
  if (auto it = exec.find("env"); it != exec.end() && !it->is_null()) {
    const std::string env_path = JsonPathChild(path, "env");
    if (!it->is_array()) {
      return r.Fail(env_path, exec_label + ": env",
                    absl::StrCat("must be of type array, got ", JsonTypeName(*it)));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& var = (*it)[i];
      const std::string var_path = JsonPathIndex(env_path, i);
      const std::string var_label = absl::StrCat(exec_label, ": env[", i, "]");
      if (!var.is_object()) {
        return r.Fail(var_path, var_label,
                      absl::StrCat("must be of type object, got ", JsonTypeName(var)));
      }
      std::string name;
      std::string value;
      RETURN_IF_ERROR(r.String(var, var_path, var_label, "name", &name));
      RETURN_IF_ERROR(r.String(var, var_path, var_label, "value", &value));
      if (name.empty() || name.find('=') != std::string::npos) {
        return r.Fail(var_path, var_label + ": name",
                      name.empty() ? "must be set" : "must not contain '='");
      }
      e->env.emplace_back(std::move(name), std::move(value));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseUser(const FileReader& r, const json& body, const std::string& path,
                       const std::string& label, const std::string& name, KubeconfigUser* u) {
  RETURN_IF_ERROR(r.Path(body, path, label, "client-certificate", &u->client_certificate));
  RETURN_IF_ERROR(r.Path(body, path, label, "client-key", &u->client_key));
  RETURN_IF_ERROR(
      r.Data(body, path, label, "client-certificate-data", &u->client_certificate_data));
  RETURN_IF_ERROR(r.Data(body, path, label, "client-key-data", &u->client_key_data));
  RETURN_IF_ERROR(r.String(body, path, label, "token", &u->token));
  RETURN_IF_ERROR(r.Path(body, path, label, "tokenFile", &u->token_file));
  if (auto it = body.find("exec"); it != body.end() && !it->is_null()) {
    ExecConfig exec;
    RETURN_IF_ERROR(ParseExec(r, *it, JsonPathChild(path, "exec"), label, &exec));
    exec.origin = absl::StrCat("kubeconfig ", r.path(), ", user ", name);
    u->exec = std::move(exec);
  }
  if (auto it = body.find("auth-provider"); it != body.end() && !it->is_null()) {
    std::string provider = it->is_object() && it->contains("name") && (*it)["name"].is_string()
                               ? (*it)["name"].get<std::string>()
                               : std::string("?");
    u->unsupported.push_back(
        {"auth-provider",
         absl::StrCat("auth provider \"", provider,
                      "\" is not supported (kubectl dropped the built-in providers too); use an "
                      "exec credential plugin instead, e.g. gke-gcloud-auth-plugin or kubelogin")});
  }
  for (const char* key : {"username", "password"}) {
    if (auto it = body.find(key); it != body.end() && !it->is_null()) {
      u->unsupported.push_back(
          {key, "basic authentication is not supported; use a token, a client certificate or an "
                "exec plugin"});
    }
  }
  for (const char* key : {"as", "as-uid", "as-groups", "as-user-extra"}) {
    if (auto it = body.find(key); it != body.end() && !it->is_null()) {
      u->unsupported.push_back({key, "impersonation is not supported"});
    }
  }
  return absl::OkStatus();
}

absl::Status ParseContext(const FileReader& r, const json& body, const std::string& path,
                          const std::string& label, KubeconfigContext* c) {
  RETURN_IF_ERROR(r.String(body, path, label, "cluster", &c->cluster));
  RETURN_IF_ERROR(r.String(body, path, label, "user", &c->user));
  RETURN_IF_ERROR(r.String(body, path, label, "namespace", &c->namespace_));
  return absl::OkStatus();
}

// One of the named lists (clusters, users, contexts): [{name: N, <body_key>: {...}}].
template <typename Entry, typename ParseFn>
absl::Status ParseList(const FileReader& r, const json& doc, const char* list,
                       const char* body_key, std::map<std::string, Entry>* out, ParseFn parse) {
  auto it = doc.find(list);
  if (it == doc.end() || it->is_null()) {
    return absl::OkStatus();
  }
  if (!it->is_array()) {
    return r.Fail(list, list, absl::StrCat("must be of type array, got ", JsonTypeName(*it)));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    const std::string item_path = JsonPathIndex(list, i);
    const std::string index_label = absl::StrCat(list, "[", i, "]");
    if (!item.is_object()) {
      return r.Fail(item_path, index_label,
                    absl::StrCat("must be of type object, got ", JsonTypeName(item)));
    }
    std::string name;
    RETURN_IF_ERROR(r.String(item, item_path, index_label, "name", &name));
    if (name.empty()) {
      return r.Fail(item_path, index_label + ": name", "must be set");
    }
    const std::string label = Label(list, i, name);
    if (out->count(name) > 0) {
      return r.Fail(item_path, label, "duplicate name (each name may appear once in a file)");
    }
    const std::string body_path = JsonPathChild(item_path, body_key);
    json body = json::object();
    if (auto b = item.find(body_key); b != item.end() && !b->is_null()) {
      if (!b->is_object()) {
        return r.Fail(body_path, label + ": " + body_key,
                      absl::StrCat("must be of type object, got ", JsonTypeName(*b)));
      }
      body = *b;
    }
    Entry entry;
    entry.where = absl::StrCat("kubeconfig ", r.path(), ": ", label);
    RETURN_IF_ERROR(parse(body, body_path, label, name, &entry));
    out->emplace(name, std::move(entry));
  }
  return absl::OkStatus();
}

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

absl::StatusOr<Kubeconfig> ParseKubeconfig(std::string_view text, std::string_view path) {
  Kubeconfig config;
  config.files.emplace_back(path);
  absl::StatusOr<std::vector<YamlDocument>> docs = LoadYamlDocuments(text);
  if (!docs.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", std::string(path), ": ", docs.status().message()));
  }
  if (docs->empty()) {
    return config;
  }
  const YamlDocument& doc = docs->front();
  FileReader r(path, doc.lines);
  if (docs->size() > 1) {
    return r.Fail(JsonPathIndex("", 1), "", "has more than one YAML document");
  }
  if (!doc.object.is_object()) {
    return r.Fail("", "", absl::StrCat("must be a mapping (apiVersion, clusters, users, "
                                       "contexts, current-context), got ",
                                       JsonTypeName(doc.object)));
  }
  RETURN_IF_ERROR(r.String(doc.object, "", "", "current-context", &config.current_context));
  RETURN_IF_ERROR(ParseList(r, doc.object, "clusters", "cluster", &config.clusters,
                            [&](const json& body, const std::string& p, const std::string& label,
                                const std::string&, KubeconfigCluster* c) {
                              return ParseCluster(r, body, p, label, c);
                            }));
  RETURN_IF_ERROR(ParseList(r, doc.object, "users", "user", &config.users,
                            [&](const json& body, const std::string& p, const std::string& label,
                                const std::string& name, KubeconfigUser* u) {
                              return ParseUser(r, body, p, label, name, u);
                            }));
  RETURN_IF_ERROR(ParseList(r, doc.object, "contexts", "context", &config.contexts,
                            [&](const json& body, const std::string& p, const std::string& label,
                                const std::string&, KubeconfigContext* c) {
                              c->file = r.path();
                              return ParseContext(r, body, p, label, c);
                            }));
  return config;
}

Kubeconfig MergeKubeconfigs(std::vector<Kubeconfig> configs) {
  Kubeconfig merged;
  for (Kubeconfig& c : configs) {
    merged.files.insert(merged.files.end(), c.files.begin(), c.files.end());
    // map::insert keeps an existing key: the first file wins.
    merged.clusters.insert(std::make_move_iterator(c.clusters.begin()),
                           std::make_move_iterator(c.clusters.end()));
    merged.users.insert(std::make_move_iterator(c.users.begin()),
                        std::make_move_iterator(c.users.end()));
    merged.contexts.insert(std::make_move_iterator(c.contexts.begin()),
                           std::make_move_iterator(c.contexts.end()));
    if (merged.current_context.empty()) {
      merged.current_context = std::move(c.current_context);
    }
  }
  return merged;
}

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
