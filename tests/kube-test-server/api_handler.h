// File: tests/kube-test-server/api_handler.h
//
// The Kubernetes resource endpoints: list (pagination over an etcd snapshot, selectors, Table),
// watch, get, create, update (PUT), patch (merge / json / apply; 415 for strategic merge on custom
// resources), delete (finalizers, deletionTimestamp), for the main endpoint and /status, with the
// real API's resourceVersion, generation, status-subresource and finalizer rules (KUBE-API.md §2).
// CustomResourceDefinition writes register / unregister their resources.
//
// Flow: the router resolves the URL to an ApiTarget and calls Handle() on the connection thread.
// Writes read the stored object, compute the new one with object_rules + schema_check, and commit
// it with a Txn on the old mod_revision, retrying on a lost race unless the client sent a
// resourceVersion precondition (then 409). No-op writes commit nothing.
//
// Thread-safety: Handle() is called concurrently; all shared state lives in the collaborators.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "tests/kube-test-server/api_error.h"
#include "tests/kube-test-server/controls.h"
#include "tests/kube-test-server/http_server.h"
#include "tests/kube-test-server/resource_registry.h"
#include "tests/kube-test-server/storage.h"
#include "tests/kube-test-server/watch.h"

namespace registrar::kts {

struct ApiTarget {
  ResourceType type;
  std::string ns;           // "" for cluster-scoped kinds or all-namespaces collections
  std::string name;         // "" for the collection
  std::string subresource;  // "" or "status"
};

struct ApiOptions {
  std::chrono::milliseconds bookmark_interval{60000};
  std::chrono::seconds default_watch_timeout{1800};
  size_t watch_queue_limit = 10000;  // events a watcher may fall behind before it is cut
};

class ApiHandler {
 public:
  ApiHandler(Storage& storage, ResourceRegistry& registry, WatchHub& hub, TestControls& controls,
             ApiOptions options)
      : storage_(storage), registry_(registry), hub_(hub), controls_(controls), options_(options) {}

  // Pre-creates namespaces default, kube-system, kube-public and registers stored CRDs.
  absl::Status Bootstrap();

  void Handle(const HttpRequest& req, const ApiTarget& target, ResponseWriter& out);

 private:
  struct Outcome {
    int code = 200;
    nlohmann::json body;
    std::optional<ApiError> error;
    HttpHeaders headers;
  };
  static Outcome Fail(ApiError e) {
    Outcome o;
    o.error = std::move(e);
    return o;
  }

  Outcome List(const HttpRequest& req, const ApiTarget& t);
  void Watch(const HttpRequest& req, const ApiTarget& t, ResponseWriter& out);
  Outcome Get(const ApiTarget& t);
  Outcome Create(const HttpRequest& req, const ApiTarget& t);
  Outcome Put(const HttpRequest& req, const ApiTarget& t);
  Outcome Patch(const HttpRequest& req, const ApiTarget& t);
  Outcome Delete(const HttpRequest& req, const ApiTarget& t);

  // Creates `object` (already identity-checked) in t's collection.
  Outcome CreateObject(const HttpRequest& req, const ApiTarget& t, nlohmann::json object);
  // The read-modify-write loop shared by PUT and PATCH. `mutate` turns the stored object into the
  // requested one (or an error).
  using Mutate = std::function<std::optional<ApiError>(const StoredObject& old,
                                                       nlohmann::json* incoming)>;
  Outcome UpdateLoop(const HttpRequest& req, const ApiTarget& t, const Mutate& mutate);

  ApiError FromStorage(const absl::Status& st, const ApiTarget& t, const std::string& name);
  std::optional<ApiError> CheckNamespace(const ApiTarget& t);
  // Strict/Warn handling of unknown fields, for an incoming object.
  std::optional<ApiError> CheckUnknownFields(const HttpRequest& req, const ApiTarget& t,
                                             nlohmann::json incoming, HttpHeaders* headers);
  std::optional<ApiError> Validate(const ApiTarget& t, nlohmann::json& object);
  void AfterWrite(const ApiTarget& t, const nlohmann::json& object, bool deleted);

  Storage& storage_;
  ResourceRegistry& registry_;
  WatchHub& hub_;
  TestControls& controls_;
  const ApiOptions options_;
};

}  // namespace registrar::kts
