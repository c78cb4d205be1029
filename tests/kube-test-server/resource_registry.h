// File: tests/kube-test-server/resource_registry.h
//
// The resource types the test server serves, and the documents that describe them: discovery
// (aggregated v2 for /api and /apis, legacy APIVersions / APIGroupList / APIResourceList) and the
// minimal OpenAPI v3 (one PATCH operation per kind listing `fieldValidation`, KUBE-API.md A.4) that
// makes kubectl validate server-side. Built-in kinds are fixed; custom resources appear when a
// CustomResourceDefinition is registered and disappear when it is unregistered.
//
// Thread-safety: all methods are safe to call concurrently (absl::Mutex).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "tests/kube-test-server/api_error.h"

namespace registrar::kts {

struct ResourceType {
  std::string group;  // "" for core
  std::string version;
  std::string kind;
  std::string list_kind;
  std::string plural;
  std::string singular;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool namespaced = true;
  bool status_subresource = false;
  bool has_generation = false;
  bool custom = false;                     // defined by a CRD: schema, 415 for SMP, RV on PUT
  std::string crd_name;                    // custom only
  nlohmann::json schema;                   // custom only: openAPIV3Schema (may be null)
  nlohmann::json printer_columns = nlohmann::json::array();  // additionalPrinterColumns

  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  // etcd prefix of the whole collection: "/registry/<group|core>/<plural>/".
  std::string CollectionPrefix() const;
  // Prefix of one namespace's objects ("" ns = all namespaces / cluster-scoped).
  std::string NamespacePrefix(const std::string& ns) const;
  std::string Key(const std::string& ns, const std::string& name) const;
};

class ResourceRegistry {
 public:
  ResourceRegistry();

  std::optional<ResourceType> Find(const std::string& group, const std::string& version,
                                   const std::string& plural) const;
  // Every served version of the resource a CRD named `crd_name` defines.
  std::vector<ResourceType> FindByCrd(const std::string& crd_name) const;

  // Checks a CRD object (names, scope, versions); causes name the offending fields.
  static std::vector<Cause> ValidateCrd(const nlohmann::json& crd);
  // Adds (or replaces) the resources of a valid CRD.
  void RegisterCrd(const nlohmann::json& crd);
  void UnregisterCrd(const std::string& crd_name);

  nlohmann::json AggregatedDiscovery(bool core) const;  // /api (core) or /apis
  nlohmann::json ApiVersions() const;                    // legacy /api
  nlohmann::json GroupList() const;                      // legacy /apis
  std::optional<nlohmann::json> ResourceList(const std::string& group,
                                             const std::string& version) const;
  nlohmann::json OpenApiRoot() const;
  std::optional<nlohmann::json> OpenApiGroupVersion(const std::string& group,
                                                    const std::string& version) const;

 private:
  std::vector<ResourceType> Snapshot() const;

  mutable absl::Mutex mu_;
  std::vector<ResourceType> types_ ABSL_GUARDED_BY(mu_);
};

}  // namespace registrar::kts
