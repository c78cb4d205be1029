#include "controller/kube/kubeconfig.h"

#include <filesystem>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

#include "controller/common/status.h"
#include "controller/common/yaml_json.h"
#include "nlohmann/json.hpp"

namespace registrar::kube {

namespace {

using nlohmann::json;

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

}  // namespace registrar::kube
