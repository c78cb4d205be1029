// File: controller/kube/api.h
//
// Typed access to the few resources the controller uses, over a Client: the resource paths,
// list pages, watch streams and their events, get, create and patch (JSON patch, merge patch,
// on the object or a subresource such as /status). Objects stay nlohmann::json: this module knows
// URLs and metadata, not what a ServiceRegistration means (registration/ decodes it).
//
// Flow: Api builds a Request (path, query, content type, verb and resource for metrics) and
// hands it to the Client; answers are parsed as JSON (a body that is not JSON is kInternal,
// naming the request). ParseWatchEvent reads one line of a watch stream (pure; fuzzed).
// Thread-safety: Api is stateless besides its Client reference: any thread.
// Ownership: refers to the Client, which must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "controller/kube/client.h"

namespace registrar::kube {

struct Resource {
  std::string group;  // "" for the core group
  std::string version;
  std::string plural;
  bool namespaced = true;
  std::string kind;
};

inline const Resource kServiceRegistrations{"registrar.dev", "v1alpha1", "serviceregistrations",
                                            true, "ServiceRegistration"};
inline const Resource kSecrets{"", "v1", "secrets", true, "Secret"};
inline const Resource kEvents{"", "v1", "events", true, "Event"};
inline const Resource kNamespaces{"", "v1", "namespaces", false, "Namespace"};

// "/apis/<group>/<version>[/namespaces/<ns>]/<plural>" ("/api/v1/..." for the core group);
// `ns` empty: every namespace (or a cluster-scoped resource).
std::string CollectionPath(const Resource& resource, std::string_view ns);
// CollectionPath + "/<name>[/<subresource>]".
std::string ObjectPath(const Resource& resource, std::string_view ns, std::string_view name,
                       std::string_view subresource = {});

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 500;  // 0: no limit
  std::string continue_token;
  std::string resource_version;  // empty: most recent (a consistent read)
};

struct ListPage {
  std::vector<nlohmann::json> items;
  std::string resource_version;  // the list's
  std::string continue_token;    // empty: last page
};

struct WatchOptions {
  std::string resource_version;  // resume after this version
  std::string label_selector;
  std::string field_selector;
  int timeout_seconds = 300;  // the server ends the watch cleanly after this long
  bool allow_bookmarks = true;
};

enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };
const char* EventTypeName(EventType type);

struct WatchEvent {  // NOLINT(bugprone-exception-escape): as YamlDocument (common/yaml_json.h)
  EventType type = EventType::kAdded;
  nlohmann::json object;  // the object; for kError a metav1.Status
};

// One line of a watch stream. kInvalidArgument (naming what is wrong) for anything that is not
// {"type": <known type>, "object": {...}}.
absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line);

// metadata of an object, as far as the controller needs it.
struct ObjectRef {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string resource_version;
  // "namespace/name" (or "name" for a cluster-scoped object).
  std::string Key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }
};
// kInvalidArgument when metadata.name is missing or a field has the wrong type.
absl::StatusOr<ObjectRef> RefOf(const nlohmann::json& object);

// Drops metadata.managedFields (server-side apply's field ownership, which the controller never
// reads) from an object: about half of a listed ServiceRegistration's parsed JSON
// (bench/README.md, Kubernetes mode). controller-runtime's TransformStripManagedFields.
void StripManagedFields(nlohmann::json& object);

enum class PatchType { kJson, kMerge };

class Api {
 public:
  explicit Api(Client& client) : client_(client) {}

  absl::StatusOr<nlohmann::json> Get(const Resource& resource, std::string_view ns,
                                     std::string_view name, std::string_view subresource = {});
  absl::StatusOr<ListPage> List(const Resource& resource, std::string_view ns,
                                const ListOptions& options);
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const Resource& resource,
                                                     std::string_view ns,
                                                     const WatchOptions& options);
  absl::StatusOr<nlohmann::json> Create(const Resource& resource, std::string_view ns,
                                        const nlohmann::json& object);
  absl::StatusOr<nlohmann::json> Patch(const Resource& resource, std::string_view ns,
                                       std::string_view name, PatchType type,
                                       const nlohmann::json& patch,
                                       std::string_view subresource = {});

  Client& client() { return client_; }

 private:
  absl::StatusOr<nlohmann::json> CallJson(const Request& request);

  Client& client_;
};

}  // namespace registrar::kube
