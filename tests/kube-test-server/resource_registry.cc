#include "tests/kube-test-server/resource_registry.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace registrar::kts {
namespace {

using json = nlohmann::json;

const json kVerbs = {"create", "delete", "get", "list", "patch", "update", "watch"};

ResourceType Builtin(std::string group, std::string version, std::string kind, std::string plural,
                     std::vector<std::string> short_names, bool namespaced, bool status) {
  ResourceType t;
  t.group = std::move(group);
  t.version = std::move(version);
  t.list_kind = kind + "List";
  t.singular = kind;
  std::transform(t.singular.begin(), t.singular.end(), t.singular.begin(), ::tolower);
  t.kind = std::move(kind);
  t.plural = std::move(plural);
  t.short_names = std::move(short_names);
  t.namespaced = namespaced;
  t.status_subresource = status;
  return t;
}

std::string GvKey(const ResourceType& t) {
  return t.group.empty() ? "api/" + t.version : "apis/" + t.group + "/" + t.version;
}

json AggregatedResource(const ResourceType& t) {
  json kind = {{"group", t.group}, {"version", t.version}, {"kind", t.kind}};
  json r = {{"resource", t.plural},
            {"responseKind", kind},
            {"scope", t.namespaced ? "Namespaced" : "Cluster"},
            {"singularResource", t.singular},
            {"verbs", kVerbs}};
  if (!t.short_names.empty()) r["shortNames"] = t.short_names;
  if (!t.categories.empty()) r["categories"] = t.categories;
  if (t.status_subresource) {
    r["subresources"] = json::array(
        {{{"subresource", "status"}, {"responseKind", kind}, {"verbs", {"get", "patch", "update"}}}});
  }
  return r;
}

}  // namespace

std::string ResourceType::CollectionPrefix() const {
  return "/registry/" + (group.empty() ? std::string("core") : group) + "/" + plural + "/";
}

std::string ResourceType::NamespacePrefix(const std::string& ns) const {
  if (!namespaced || ns.empty()) return CollectionPrefix();
  return CollectionPrefix() + ns + "/";
}

std::string ResourceType::Key(const std::string& ns, const std::string& name) const {
  return namespaced ? CollectionPrefix() + ns + "/" + name : CollectionPrefix() + name;
}

ResourceRegistry::ResourceRegistry() {
  absl::MutexLock lock(&mu_);
  types_.push_back(Builtin("", "v1", "Namespace", "namespaces", {"ns"}, false, true));
  types_.push_back(Builtin("", "v1", "Secret", "secrets", {}, true, false));
  types_.push_back(Builtin("", "v1", "Event", "events", {"ev"}, true, false));
  types_.push_back(Builtin("", "v1", "Service", "services", {"svc"}, true, true));
  types_.push_back(Builtin("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", {}, true,
                           false));
  types_.push_back(Builtin("coordination.k8s.io", "v1", "Lease", "leases", {}, true, false));
  ResourceType crd = Builtin("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                             "customresourcedefinitions", {"crd", "crds"}, false, true);
  crd.has_generation = true;
  types_.push_back(crd);
}

std::optional<ResourceType> ResourceRegistry::Find(const std::string& group,
                                                   const std::string& version,
                                                   const std::string& plural) const {
  absl::MutexLock lock(&mu_);
  for (const ResourceType& t : types_) {
    if (t.group == group && t.version == version && t.plural == plural) return t;
  }
  return std::nullopt;
}

std::vector<ResourceType> ResourceRegistry::FindByCrd(const std::string& crd_name) const {
  absl::MutexLock lock(&mu_);
  std::vector<ResourceType> out;
  for (const ResourceType& t : types_) {
    if (t.custom && t.crd_name == crd_name) out.push_back(t);
  }
  return out;
}

std::vector<Cause> ResourceRegistry::ValidateCrd(const json& crd) {
  std::vector<Cause> causes;
  auto required = [&](const json& parent, const std::string& key, const std::string& field) {
    if (!parent.is_object() || !parent.contains(key) || !parent[key].is_string() ||
        parent[key].get<std::string>().empty()) {
      causes.push_back({"FieldValueRequired", "Required value", field});
      return false;
    }
    return true;
  };
  json spec = crd.value("spec", json::object());
  json names = spec.value("names", json::object());
  bool ok = required(spec, "group", "spec.group");
  ok = required(names, "plural", "spec.names.plural") && ok;
  required(names, "kind", "spec.names.kind");
  std::string scope = spec.value("scope", "");
  if (scope != "Namespaced" && scope != "Cluster") {
    causes.push_back({"FieldValueNotSupported",
                      "Unsupported value: \"" + scope +
                          "\": supported values: \"Cluster\", \"Namespaced\"",
                      "spec.scope"});
  }
  if (!spec.contains("versions") || !spec["versions"].is_array() || spec["versions"].empty()) {
    causes.push_back({"FieldValueRequired", "Required value", "spec.versions"});
  } else {
    for (size_t i = 0; i < spec["versions"].size(); ++i) {
      required(spec["versions"][i], "name", "spec.versions[" + std::to_string(i) + "].name");
    }
  }
  if (ok) {
    std::string want = names["plural"].get<std::string>() + "." + spec["group"].get<std::string>();
    std::string name = crd.value("metadata", json::object()).value("name", "");
    if (name != want) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: \"" + name + "\": must be spec.names.plural+\".\"+spec.group",
                        "metadata.name"});
    }
  }
  return causes;
}

void ResourceRegistry::RegisterCrd(const json& crd) {
  std::string crd_name = crd["metadata"]["name"].get<std::string>();
  const json& spec = crd["spec"];
  const json& names = spec["names"];
  std::vector<ResourceType> added;
  for (const json& v : spec["versions"]) {
    if (!v.value("served", true)) continue;
    ResourceType t;
    t.group = spec["group"].get<std::string>();
    t.version = v["name"].get<std::string>();
    t.kind = names["kind"].get<std::string>();
    t.list_kind = names.value("listKind", t.kind + "List");
    t.plural = names["plural"].get<std::string>();
    t.singular = names.value("singular", "");
    if (t.singular.empty()) {
      t.singular = t.kind;
      std::transform(t.singular.begin(), t.singular.end(), t.singular.begin(), ::tolower);
    }
    t.short_names = names.value("shortNames", std::vector<std::string>{});
    t.categories = names.value("categories", std::vector<std::string>{});
    t.namespaced = spec["scope"] == "Namespaced";
    t.status_subresource = v.contains("subresources") && v["subresources"].contains("status");
    t.has_generation = true;
    t.custom = true;
    t.crd_name = crd_name;
    if (v.contains("schema") && v["schema"].contains("openAPIV3Schema")) {
      t.schema = v["schema"]["openAPIV3Schema"];
    }
    if (v.contains("additionalPrinterColumns")) t.printer_columns = v["additionalPrinterColumns"];
    added.push_back(std::move(t));
  }
  absl::MutexLock lock(&mu_);
  std::erase_if(types_, [&](const ResourceType& t) { return t.custom && t.crd_name == crd_name; });
  for (ResourceType& t : added) types_.push_back(std::move(t));
}

void ResourceRegistry::UnregisterCrd(const std::string& crd_name) {
  absl::MutexLock lock(&mu_);
  std::erase_if(types_, [&](const ResourceType& t) { return t.custom && t.crd_name == crd_name; });
}

std::vector<ResourceType> ResourceRegistry::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return types_;
}

json ResourceRegistry::AggregatedDiscovery(bool core) const {
  // group -> version -> resources, in registration order of groups.
  std::vector<std::string> group_order;
  std::map<std::string, std::map<std::string, json>> groups;
  for (const ResourceType& t : Snapshot()) {
    if (t.group.empty() != core) continue;
    if (!groups.count(t.group)) group_order.push_back(t.group);
    json& list = groups[t.group][t.version];
    if (list.is_null()) list = json::array();
    list.push_back(AggregatedResource(t));
  }
  json items = json::array();
  for (const std::string& g : group_order) {
    json versions = json::array();
    for (auto& [v, resources] : groups[g]) {
      versions.push_back({{"version", v}, {"freshness", "Current"}, {"resources", resources}});
    }
    json meta = json::object();
    if (!g.empty()) meta["name"] = g;
    items.push_back({{"metadata", meta}, {"versions", versions}});
  }
  return {{"kind", "APIGroupDiscoveryList"},
          {"apiVersion", "apidiscovery.k8s.io/v2"},
          {"metadata", json::object()},
          {"items", items}};
}

json ResourceRegistry::ApiVersions() const {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1"}}}}};
}

json ResourceRegistry::GroupList() const {
  std::vector<std::string> order;
  std::map<std::string, std::set<std::string>> versions;
  for (const ResourceType& t : Snapshot()) {
    if (t.group.empty()) continue;
    if (!versions.count(t.group)) order.push_back(t.group);
    versions[t.group].insert(t.version);
  }
  json groups = json::array();
  for (const std::string& g : order) {
    json vs = json::array();
    for (const std::string& v : versions[g]) {
      vs.push_back({{"groupVersion", g + "/" + v}, {"version", v}});
    }
    groups.push_back({{"name", g}, {"versions", vs}, {"preferredVersion", vs[0]}});
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

std::optional<json> ResourceRegistry::ResourceList(const std::string& group,
                                                   const std::string& version) const {
  json resources = json::array();
  for (const ResourceType& t : Snapshot()) {
    if (t.group != group || t.version != version) continue;
    json r = {{"name", t.plural},        {"singularName", t.singular}, {"namespaced", t.namespaced},
              {"kind", t.kind},          {"verbs", kVerbs}};
    if (!t.short_names.empty()) r["shortNames"] = t.short_names;
    if (!t.categories.empty()) r["categories"] = t.categories;
    resources.push_back(r);
    if (t.status_subresource) {
      resources.push_back({{"name", t.plural + "/status"}, {"singularName", ""},
                           {"namespaced", t.namespaced}, {"kind", t.kind},
                           {"verbs", {"get", "patch", "update"}}});
    }
  }
  if (resources.empty()) return std::nullopt;
  std::string gv = group.empty() ? version : group + "/" + version;
  return json{{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", gv},
              {"resources", resources}};
}

json ResourceRegistry::OpenApiRoot() const {
  json paths = json::object();
  std::set<std::string> seen;
  for (const ResourceType& t : Snapshot()) {
    std::string key = GvKey(t);
    if (!seen.insert(key).second) continue;
    std::string doc = OpenApiGroupVersion(t.group, t.version).value_or(json()).dump();
    char hash[17];
    snprintf(hash, sizeof(hash), "%016zX", std::hash<std::string>{}(doc));
    paths[key] = {{"serverRelativeURL", "/openapi/v3/" + key + "?hash=" + hash}};
  }
  return {{"paths", paths}};
}

std::optional<json> ResourceRegistry::OpenApiGroupVersion(const std::string& group,
                                                          const std::string& version) const {
  json paths = json::object();
  for (const ResourceType& t : Snapshot()) {
    if (t.group != group || t.version != version) continue;
    std::string base = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
    std::string path = base + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural + "/{name}";
    json content = {{"application/json-patch+json", {{"schema", {{"type", "object"}}}}},
                    {"application/merge-patch+json", {{"schema", {{"type", "object"}}}}},
                    {"application/apply-patch+yaml", {{"schema", {{"type", "object"}}}}}};
    if (!t.custom) {
      content["application/strategic-merge-patch+json"] = {{"schema", {{"type", "object"}}}};
    }
    json params = json::array();
    for (const char* p : {"dryRun", "fieldManager", "fieldValidation", "force"}) {
      params.push_back({{"name", p}, {"in", "query"}, {"schema", {{"type", "string"}}}});
    }
    paths[path] = {{"patch",
                    {{"operationId", "patch" + t.kind},
                     {"parameters", params},
                     {"requestBody", {{"required", true}, {"content", content}}},
                     {"responses", {{"200", {{"description", "OK"}}}}},
                     {"x-kubernetes-action", "patch"},
                     {"x-kubernetes-group-version-kind",
                      {{"group", t.group}, {"version", t.version}, {"kind", t.kind}}}}}};
  }
  if (paths.empty()) return std::nullopt;
  return json{{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", "v1.33.0"}}},
              {"components", {{"schemas", json::object()}}},
              {"paths", paths}};
}

}  // namespace registrar::kts
