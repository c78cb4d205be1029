#include "controller/kube/api.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace registrar::kube {

namespace {

constexpr char kFieldManager[] = "etcd-registrar";

std::string ResourceLabel(const Resource& resource, std::string_view subresource) {
  return subresource.empty() ? resource.plural : absl::StrCat(resource.plural, "/", std::string(subresource));
}

std::string StringAt(const nlohmann::json& object, const char* field) {
  auto it = object.find(field);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Our objects may carry bytes that are not UTF-8 (an error message quoting a server's answer):
// they become U+FFFD instead of a type_error thrown by dump().
std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string CollectionPath(const Resource& resource, std::string_view ns) {
  std::string path = resource.group.empty()
                         ? absl::StrCat("/api/", resource.version)
                         : absl::StrCat("/apis/", resource.group, "/", resource.version);
  if (resource.namespaced && !ns.empty()) {
    absl::StrAppend(&path, "/namespaces/", std::string(ns));
  }
  absl::StrAppend(&path, "/", resource.plural);
  return path;
}

std::string ObjectPath(const Resource& resource, std::string_view ns, std::string_view name,
                       std::string_view subresource) {
  std::string path = absl::StrCat(CollectionPath(resource, ns), "/", std::string(name));
  if (!subresource.empty()) {
    absl::StrAppend(&path, "/", std::string(subresource));
  }
  return path;
}

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded: return "ADDED";
    case EventType::kModified: return "MODIFIED";
    case EventType::kDeleted: return "DELETED";
    case EventType::kBookmark: return "BOOKMARK";
    case EventType::kError: return "ERROR";
  }
  return "?";
}

absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("watch event is not a JSON object: ", std::string(line.substr(0, 120))));
  }
  auto type = j.find("type");
  if (type == j.end() || !type->is_string()) {
    return absl::InvalidArgumentError("watch event has no string \"type\"");
  }
  WatchEvent event;
  const std::string& t = type->get_ref<const std::string&>();
  if (t == "ADDED") {
    event.type = EventType::kAdded;
  } else if (t == "MODIFIED") {
    event.type = EventType::kModified;
  } else if (t == "DELETED") {
    event.type = EventType::kDeleted;
  } else if (t == "BOOKMARK") {
    event.type = EventType::kBookmark;
  } else if (t == "ERROR") {
    event.type = EventType::kError;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("watch event of unknown type \"", t, "\""));
  }
  auto object = j.find("object");
  if (object == j.end() || !object->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(t, " watch event has no \"object\""));
  }
  event.object = std::move(*object);
  return event;
}

void StripManagedFields(nlohmann::json& object) {
  if (!object.is_object()) {
    return;
  }
  auto meta = object.find("metadata");
  if (meta != object.end() && meta->is_object()) {
    meta->erase("managedFields");
  }
}

absl::StatusOr<ObjectRef> RefOf(const nlohmann::json& object) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError("object is not a JSON object");
  }
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return absl::InvalidArgumentError("object has no metadata");
  }
  for (const char* field : {"name", "namespace", "uid", "resourceVersion"}) {
    auto it = meta->find(field);
    if (it != meta->end() && !it->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("metadata.", field, " is not a string"));
    }
  }
  ObjectRef ref{StringAt(*meta, "namespace"), StringAt(*meta, "name"), StringAt(*meta, "uid"),
                StringAt(*meta, "resourceVersion")};
  if (ref.name.empty()) {
    return absl::InvalidArgumentError("object has no metadata.name");
  }
  return ref;
}

absl::StatusOr<nlohmann::json> Api::CallJson(const Request& request) {
  absl::StatusOr<std::string> body = client_.Call(request);
  if (!body.ok()) {
    return body.status();
  }
  nlohmann::json j = nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InternalError(absl::StrCat(request.method, " ", request.path,
                                            ": the answer is not JSON: ", body->substr(0, 120)));
  }
  return j;
}

absl::StatusOr<nlohmann::json> Api::Get(const Resource& resource, std::string_view ns,
                                        std::string_view name, std::string_view subresource) {
  Request r;
  r.method = "GET";
  r.path = ObjectPath(resource, ns, name, subresource);
  r.verb = "get";
  r.resource = ResourceLabel(resource, subresource);
  return CallJson(r);
}

absl::StatusOr<ListPage> Api::List(const Resource& resource, std::string_view ns,
                                   const ListOptions& options) {
  Request r;
  r.method = "GET";
  r.path = CollectionPath(resource, ns);
  r.verb = "list";
  r.resource = resource.plural;
  if (options.limit > 0) {
    r.query.emplace_back("limit", std::to_string(options.limit));
  }
  if (!options.continue_token.empty()) {
    r.query.emplace_back("continue", options.continue_token);
  }
  if (!options.label_selector.empty()) {
    r.query.emplace_back("labelSelector", options.label_selector);
  }
  if (!options.field_selector.empty()) {
    r.query.emplace_back("fieldSelector", options.field_selector);
  }
  if (!options.resource_version.empty()) {
    r.query.emplace_back("resourceVersion", options.resource_version);
  }
  absl::StatusOr<nlohmann::json> j = CallJson(r);
  if (!j.ok()) {
    return j.status();
  }
  ListPage page;
  auto meta = j->find("metadata");
  if (meta != j->end() && meta->is_object()) {
    page.resource_version = StringAt(*meta, "resourceVersion");
    page.continue_token = StringAt(*meta, "continue");
  }
  auto items = j->find("items");
  if (items != j->end() && !items->is_null()) {
    if (!items->is_array()) {
      return absl::InternalError(absl::StrCat("GET ", r.path, ": \"items\" is not an array"));
    }
    page.items.reserve(items->size());
    for (auto& item : *items) {
      page.items.push_back(std::move(item));
    }
  }
  return page;
}

absl::StatusOr<std::unique_ptr<WatchStream>> Api::Watch(const Resource& resource,
                                                        std::string_view ns,
                                                        const WatchOptions& options) {
  Request r;
  r.method = "GET";
  r.path = CollectionPath(resource, ns);
  r.verb = "watch";
  r.resource = resource.plural;
  r.query.emplace_back("watch", "true");
  if (!options.resource_version.empty()) {
    r.query.emplace_back("resourceVersion", options.resource_version);
  }
  if (options.allow_bookmarks) {
    r.query.emplace_back("allowWatchBookmarks", "true");
  }
  if (!options.label_selector.empty()) {
    r.query.emplace_back("labelSelector", options.label_selector);
  }
  if (!options.field_selector.empty()) {
    r.query.emplace_back("fieldSelector", options.field_selector);
  }
  r.query.emplace_back("timeoutSeconds", std::to_string(options.timeout_seconds));
  // The stream's headers come at once; the body may be silent until the first change or
  // bookmark (about a minute), and the server ends it at timeoutSeconds.
  r.timeout = std::chrono::seconds(30);
  return client_.Watch(r, std::chrono::seconds(options.timeout_seconds + 60));
}

absl::StatusOr<nlohmann::json> Api::Create(const Resource& resource, std::string_view ns,
                                           const nlohmann::json& object) {
  Request r;
  r.method = "POST";
  r.path = CollectionPath(resource, ns);
  r.verb = "create";
  r.resource = resource.plural;
  r.query.emplace_back("fieldManager", kFieldManager);
  r.body = Dump(object);
  r.content_type = "application/json";
  return CallJson(r);
}

absl::StatusOr<nlohmann::json> Api::Patch(const Resource& resource, std::string_view ns,
                                          std::string_view name, PatchType type,
                                          const nlohmann::json& patch,
                                          std::string_view subresource) {
  Request r;
  r.method = "PATCH";
  r.path = ObjectPath(resource, ns, name, subresource);
  r.verb = "patch";
  r.resource = ResourceLabel(resource, subresource);
  r.query.emplace_back("fieldManager", kFieldManager);
  r.body = Dump(patch);
  r.content_type =
      type == PatchType::kJson ? "application/json-patch+json" : "application/merge-patch+json";
  return CallJson(r);
}

}  // namespace registrar::kube
