#include "tests/kube-test-server/object_rules.h"

#include <random>
#include <regex>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace registrar::kts {
namespace {

using json = nlohmann::json;

std::string RandomChars(size_t n, const char* alphabet) {
  static absl::Mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  absl::MutexLock lock(&mu);
  std::string out;
  size_t len = std::strlen(alphabet);
  for (size_t i = 0; i < n; ++i) out.push_back(alphabet[rng() % len]);
  return out;
}

bool ValidSubdomain(const std::string& name) {
  static const std::regex kRe("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  return name.size() <= 253 && std::regex_match(name, kRe);
}

json WithoutMetaAndStatus(const json& obj, bool drop_status) {
  json copy = obj;
  copy.erase("metadata");
  if (drop_status) copy.erase("status");
  return copy;
}

}  // namespace

std::string NowTimestamp() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
}

std::string NewUid() {
  const char* hex = "0123456789abcdef";
  std::string s = RandomChars(32, hex);
  s[12] = '4';
  s[16] = "89ab"[s[16] % 4];
  return s.substr(0, 8) + "-" + s.substr(8, 4) + "-" + s.substr(12, 4) + "-" + s.substr(16, 4) +
         "-" + s.substr(20);
}

std::optional<ApiError> CheckIdentity(const ResourceType& type, const std::string& url_ns,
                                      const std::string& url_name, json& body) {
  if (!body.is_object()) return BadRequest("the request body must be a JSON object");
  std::string api_version = body.value("apiVersion", "");
  std::string kind = body.value("kind", "");
  if (kind.empty()) {
    return BadRequest("Object 'Kind' is missing in '" + body.dump().substr(0, 200) + "'");
  }
  if (api_version != type.ApiVersion()) {
    return BadRequest("the API version in the data (" + api_version +
                      ") does not match the expected API version (" + type.ApiVersion() + ")");
  }
  if (kind != type.kind) {
    return BadRequest("the kind in the data (" + kind + ") does not match the expected kind (" +
                      type.kind + ")");
  }
  if (!body.contains("metadata") || body["metadata"].is_null()) body["metadata"] = json::object();
  json& meta = body["metadata"];
  if (!meta.is_object()) return BadRequest("metadata must be an object");
  if (type.namespaced) {
    std::string ns = meta.value("namespace", "");
    if (!ns.empty() && ns != url_ns) {
      return BadRequest(
          "the namespace of the provided object does not match the namespace sent on the request");
    }
    meta["namespace"] = url_ns;
  } else {
    meta.erase("namespace");
  }
  if (!url_name.empty()) {
    std::string name = meta.value("name", "");
    if (name.empty()) {
      meta["name"] = url_name;
    } else if (name != url_name) {
      return BadRequest("the name of the object (" + name +
                        ") does not match the name on the URL (" + url_name + ")");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> PrepareCreate(const ResourceType& type, json& object) {
  json& meta = object["metadata"];
  std::string name = meta.value("name", "");
  if (name.empty() && meta.contains("generateName") && meta["generateName"].is_string()) {
    name = meta["generateName"].get<std::string>() + RandomChars(5, "bcdfghjklmnpqrstvwxz2456789");
    meta["name"] = name;
  }
  if (name.empty()) {
    return Invalid(type.kind, type.plural, type.group, "",
                   {{"FieldValueRequired", "Required value: name or generateName is required",
                     "metadata.name"}});
  }
  if (!ValidSubdomain(name)) {
    return Invalid(type.kind, type.plural, type.group, name,
                   {{"FieldValueInvalid",
                     "Invalid value: \"" + name +
                         "\": a lowercase RFC 1123 subdomain must consist of lower case "
                         "alphanumeric characters, '-' or '.', and must start and end with an "
                         "alphanumeric character",
                     "metadata.name"}});
  }
  if (meta.contains("resourceVersion") && !meta["resourceVersion"].is_null() &&
      meta["resourceVersion"] != "") {
    return BadRequest("resourceVersion should not be set on objects to be created");
  }
  meta["uid"] = NewUid();
  meta["creationTimestamp"] = NowTimestamp();
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  meta.erase("resourceVersion");
  if (type.has_generation) {
    meta["generation"] = 1;
  } else {
    meta.erase("generation");
  }
  if (type.status_subresource) object.erase("status");
  if (type.kind == "Namespace") object["status"] = {{"phase", "Active"}};
  return std::nullopt;
}

json ApplyMainUpdate(const ResourceType& type, const json& old, const json& incoming) {
  json updated = incoming;
  json& meta = updated["metadata"];
  const json& old_meta = old["metadata"];
  for (const char* k : {"name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "generation"}) {
    if (old_meta.contains(k)) {
      meta[k] = old_meta[k];
    } else {
      meta.erase(k);
    }
  }
  if (!meta.contains("managedFields") && old_meta.contains("managedFields")) {
    meta["managedFields"] = old_meta["managedFields"];
  }
  if (type.status_subresource) {
    if (old.contains("status")) {
      updated["status"] = old["status"];
    } else {
      updated.erase("status");
    }
  }
  if (type.has_generation && WithoutMetaAndStatus(updated, type.status_subresource) !=
                                 WithoutMetaAndStatus(old, type.status_subresource)) {
    meta["generation"] = old_meta.value("generation", 0) + 1;
  }
  return updated;
}

json ApplyStatusUpdate(const json& old, const json& incoming) {
  json updated = old;
  if (incoming.contains("status")) {
    updated["status"] = incoming["status"];
  } else {
    updated.erase("status");
  }
  // The precondition travels with the request; identity and everything else stay as stored.
  if (incoming.contains("metadata") && incoming["metadata"].contains("resourceVersion")) {
    updated["metadata"]["resourceVersion"] = incoming["metadata"]["resourceVersion"];
  }
  return updated;
}

bool IsTerminating(const json& object) {
  return object.contains("metadata") && object["metadata"].contains("deletionTimestamp") &&
         !object["metadata"]["deletionTimestamp"].is_null();
}

bool HasFinalizers(const json& object) {
  return object.contains("metadata") && object["metadata"].contains("finalizers") &&
         object["metadata"]["finalizers"].is_array() && !object["metadata"]["finalizers"].empty();
}

std::optional<ApiError> CheckFinalizers(const ResourceType& type, const json& old,
                                        const json& updated) {
  if (!IsTerminating(old)) return std::nullopt;
  json old_f = old["metadata"].value("finalizers", json::array());
  json new_f = updated["metadata"].value("finalizers", json::array());
  std::vector<std::string> added;
  for (const json& f : new_f) {
    if (std::find(old_f.begin(), old_f.end(), f) == old_f.end()) added.push_back(f.dump());
  }
  if (added.empty()) return std::nullopt;
  std::string list;
  for (const std::string& a : added) list += (list.empty() ? "" : ", ") + a;
  return Invalid(type.kind, type.plural, type.group, old["metadata"].value("name", ""),
                 {{"FieldValueForbidden",
                   "Forbidden: no new finalizers can be added if the object is being deleted, "
                   "found new finalizers []string{" + list + "}",
                   "metadata.finalizers"}});
}

}  // namespace registrar::kts
