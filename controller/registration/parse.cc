#include "controller/registration/parse.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "re2/re2.h"
#include "yaml-cpp/yaml.h"

namespace registrar::registration {
namespace {

using nlohmann::json;

// absl here is built with its own string_view, so std::string_view goes through std::string.
std::string Child(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
}

std::string Index(std::string_view parent, size_t i) {
  return absl::StrCat(std::string(parent), "[", i, "]");
}

const char* TypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    default:
      return "object";
  }
}

// Reads the fields of one JSON object, recording type problems and unknown fields in `errors`.
// A null field counts as absent, as in Go's JSON decoding.
class Fields {
 public:
  Fields(const json& object, std::string path, std::vector<FieldError>& errors)
      : object_(object), path_(std::move(path)), errors_(errors) {}

  const std::string& path() const { return path_; }

  const json* Get(std::string_view key) const {
    auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  void RejectUnknown(std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : object_.items()) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        Error(Child(path_, key), "unknown field");
      }
    }
  }

  // Returns the nested object, or nullptr (with an error if present with another type).
  std::optional<Fields> Object(std::string_view key) {
    const json* value = Get(key);
    if (value == nullptr || !CheckType(key, *value, value->is_object(), "object")) {
      return std::nullopt;
    }
    return Fields(*value, Child(path_, key), errors_);
  }

  bool String(std::string_view key, std::string& out) {
    const json* value = Get(key);
    if (value == nullptr || !CheckType(key, *value, value->is_string(), "string")) {
      return false;
    }
    out = value->get<std::string>();
    return true;
  }

  void OptionalString(std::string_view key, std::optional<std::string>& out) {
    std::string value;
    if (String(key, value)) {
      out = std::move(value);
    }
  }

  // A port name or number as written: string or integer.
  void StringOrInt(std::string_view key, std::string& out) {
    const json* value = Get(key);
    if (value == nullptr) {
      return;
    }
    if (value->is_string()) {
      out = value->get<std::string>();
    } else if (int64_t number = 0; IsInteger(*value, number)) {
      out = std::to_string(number);
    } else {
      TypeError(Child(path_, key), *value, "string or integer");
    }
  }

  void Int(std::string_view key, int64_t& out) {
    const json* value = Get(key);
    if (value == nullptr) {
      return;
    }
    int64_t number = 0;
    if (IsInteger(*value, number)) {
      out = number;
    } else if (value->is_number()) {
      Error(Child(path_, key),
            absl::StrCat("must be an integer in the int64 range, got ", value->dump()));
    } else {
      TypeError(Child(path_, key), *value, "integer");
    }
  }

  void Bool(std::string_view key, bool& out) {
    const json* value = Get(key);
    if (value != nullptr && CheckType(key, *value, value->is_boolean(), "boolean")) {
      out = value->get<bool>();
    }
  }

  void StringMap(std::string_view key, std::map<std::string, std::string>& out) {
    std::optional<Fields> map = Object(key);
    if (!map) {
      return;
    }
    for (const auto& [name, value] : map->object_.items()) {
      if (map->CheckType(name, value, value.is_string(), "string")) {
        out[name] = value.get<std::string>();
      }
    }
  }

  // Calls `each(item, path)` for every element of the array field.
  template <typename F>
  void Array(std::string_view key, F each) {
    const json* value = Get(key);
    if (value == nullptr || !CheckType(key, *value, value->is_array(), "array")) {
      return;
    }
    std::string path = Child(path_, key);
    for (size_t i = 0; i < value->size(); ++i) {
      each((*value)[i], Index(path, i));
    }
  }

  void StringList(std::string_view key, std::vector<std::string>& out) {
    Array(key, [&](const json& item, const std::string& path) {
      if (item.is_string()) {
        out.push_back(item.get<std::string>());
      } else {
        TypeError(path, item, "string");
      }
    });
  }

  void Error(std::string path, std::string message) {
    errors_.push_back(FieldError{std::move(path), std::move(message)});
  }

  void TypeError(std::string path, const json& value, std::string_view want) {
    Error(std::move(path),
          absl::StrCat("must be of type ", std::string(want), ", got ", TypeName(value)));
  }

  std::vector<FieldError>& errors() { return errors_; }

 private:
  static bool IsInteger(const json& value, int64_t& out) {
    if (value.is_number_integer() && !value.is_number_unsigned()) {
      out = value.get<int64_t>();
      return true;
    }
    if (value.is_number_unsigned()) {
      uint64_t u = value.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return false;
      }
      out = static_cast<int64_t>(u);
      return true;
    }
    if (value.is_number_float()) {
      double d = value.get<double>();
      // 10.0 is an integer to the API server (go-openapi IsFloat64AJSONInteger).
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.0e15) {
        out = static_cast<int64_t>(d);
        return true;
      }
    }
    return false;
  }

  bool CheckType(std::string_view key, const json& value, bool ok, std::string_view want) {
    if (!ok) {
      TypeError(Child(path_, key), value, want);
    }
    return ok;
  }

  const json& object_;
  std::string path_;
  std::vector<FieldError>& errors_;
};

void ParseMetadata(Fields& f, ObjectMeta& meta) {
  f.String("name", meta.name);
  f.String("namespace", meta.namespace_);
  f.String("uid", meta.uid);
  f.Int("generation", meta.generation);
  f.String("resourceVersion", meta.resource_version);
  f.StringMap("labels", meta.labels);
  f.StringMap("annotations", meta.annotations);
  f.StringList("finalizers", meta.finalizers);
  f.OptionalString("deletionTimestamp", meta.deletion_timestamp);
}

std::optional<SecretRef> ParseSecretRef(Fields& parent, std::string_view key) {
  std::optional<Fields> f = parent.Object(key);
  if (!f) {
    return std::nullopt;
  }
  f->RejectUnknown({"name"});
  SecretRef ref;
  f->String("name", ref.name);
  return ref;
}

void ParseSpec(Fields& f, Spec& spec) {
  f.RejectUnknown({"key", "value", "valueFrom", "id", "ttlSeconds", "paused", "etcd"});
  f.String("key", spec.key);
  f.OptionalString("value", spec.value);
  if (std::optional<Fields> from = f.Object("valueFrom")) {
    from->RejectUnknown({"serviceRef"});
    spec.value_from.emplace();
    if (std::optional<Fields> ref = from->Object("serviceRef")) {
      ref->RejectUnknown({"name", "port"});
      ref->String("name", spec.value_from->service_ref.name);
      ref->StringOrInt("port", spec.value_from->service_ref.port);
    }
  }
  f.Int("id", spec.id);
  f.Int("ttlSeconds", spec.ttl_seconds);
  f.Bool("paused", spec.paused);
  if (std::optional<Fields> etcd = f.Object("etcd")) {
    etcd->RejectUnknown(
        {"endpoints", "credentialsSecretRef", "tlsSecretRef", "insecureSkipVerify"});
    EtcdTarget& target = spec.etcd.emplace();
    etcd->StringList("endpoints", target.endpoints);
    target.credentials_secret_ref = ParseSecretRef(*etcd, "credentialsSecretRef");
    target.tls_secret_ref = ParseSecretRef(*etcd, "tlsSecretRef");
    etcd->Bool("insecureSkipVerify", target.insecure_skip_verify);
  }
}

void ParseStatus(Fields& f, Status& status) {
  f.Int("observedGeneration", status.observed_generation);
  f.String("phase", status.phase);
  f.String("fullKey", status.full_key);
  f.String("leaseID", status.lease_id);
  f.Int("grantedTTL", status.granted_ttl);
  f.String("value", status.value);
  f.Array("endpoints", [&](const json& item, const std::string& path) {
    if (!item.is_object()) {
      f.TypeError(path, item, "object");
      return;
    }
    Fields e(item, path, f.errors());
    EndpointStatus& endpoint = status.endpoints.emplace_back();
    e.String("address", endpoint.address);
    e.String("fullKey", endpoint.full_key);
    e.String("leaseID", endpoint.lease_id);
  });
  f.Array("conditions", [&](const json& item, const std::string& path) {
    if (!item.is_object()) {
      f.TypeError(path, item, "object");
      return;
    }
    Fields c(item, path, f.errors());
    Condition& condition = status.conditions.emplace_back();
    c.String("type", condition.type);
    c.String("status", condition.status);
    c.String("reason", condition.reason);
    c.String("message", condition.message);
    c.Int("observedGeneration", condition.observed_generation);
    c.String("lastTransitionTime", condition.last_transition_time);
  });
}

void RequireConstant(Fields& root, std::string_view key, std::string_view want) {
  std::string got;
  if (root.Get(key) == nullptr) {
    root.Error(std::string(key), "Required value: must be \"" + std::string(want) + "\"");
  } else if (root.String(key, got) && got != want) {
    root.Error(std::string(key), "must be \"" + std::string(want) + "\", got \"" + got + "\"");
  }
}

absl::Status ErrorStatus(const std::vector<FieldError>& errors) {
  return absl::InvalidArgumentError(FormatErrors(errors));
}

// YAML 1.2 core schema resolution of a plain (unquoted) scalar.
json ResolvePlainScalar(const std::string& s) {
  static const re2::RE2 kNull("~|null|Null|NULL");
  static const re2::RE2 kTrue("true|True|TRUE");
  static const re2::RE2 kFalse("false|False|FALSE");
  static const re2::RE2 kInt("[-+]?[0-9]+");
  static const re2::RE2 kHex("0x[0-9a-fA-F]+");
  static const re2::RE2 kOctal("0o[0-7]+");
  static const re2::RE2 kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  // Numbers, booleans and nulls are short; long plain text (a 10 MB line) is a string.
  if (s.size() > 256) {
    return s;
  }
  if (s.empty() || re2::RE2::FullMatch(s, kNull)) {
    return nullptr;
  }
  if (re2::RE2::FullMatch(s, kTrue)) {
    return true;
  }
  if (re2::RE2::FullMatch(s, kFalse)) {
    return false;
  }
  try {
    if (re2::RE2::FullMatch(s, kInt)) {
      return static_cast<int64_t>(std::stoll(s, nullptr, 10));
    }
    if (re2::RE2::FullMatch(s, kHex) || re2::RE2::FullMatch(s, kOctal)) {
      return static_cast<int64_t>(std::stoll(s.substr(2), nullptr, s[1] == 'x' ? 16 : 8));
    }
    if (re2::RE2::FullMatch(s, kFloat)) {
      return std::stod(s);
    }
  } catch (const std::exception&) {
    // Out of range for int64/double: keep the text.
  }
  return s;
}

bool IsValidUtf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

int LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

std::string At(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? ""
                        : absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1, ": ");
}

absl::StatusOr<json> Convert(const YAML::Node& node, const std::string& path, LineMap* lines) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (!IsValidUtf8(text)) {
        return absl::InvalidArgumentError(
            absl::StrCat(At(node), "invalid UTF-8 in ", path.empty() ? "document" : path));
      }
      const std::string& tag = node.Tag();
      if (tag == "!" || tag == "tag:yaml.org,2002:str") {
        return json(text);
      }
      return ResolvePlainScalar(text);
    }
    case YAML::NodeType::Sequence: {
      json array = json::array();
      size_t i = 0;
      for (const YAML::Node& item : node) {
        std::string item_path = Index(path, i++);
        if (lines != nullptr) {
          (*lines)[item_path] = LineOf(item);
        }
        absl::StatusOr<json> value = Convert(item, item_path, lines);
        if (!value.ok()) {
          return value.status();
        }
        array.push_back(*std::move(value));
      }
      return array;
    }
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat(At(entry.first), "mapping keys must be strings"));
        }
        const std::string& key = entry.first.Scalar();
        if (object.contains(key)) {
          return absl::InvalidArgumentError(
              absl::StrCat(At(entry.first), "duplicate key \"", key, "\""));
        }
        std::string child = Child(path, key);
        if (lines != nullptr) {
          (*lines)[child] = LineOf(entry.first);
        }
        absl::StatusOr<json> value = Convert(entry.second, child, lines);
        if (!value.ok()) {
          return value.status();
        }
        object[key] = *std::move(value);
      }
      return object;
    }
  }
  return json(nullptr);
}

json SecretRefToJson(const SecretRef& ref) { return json{{"name", ref.name}}; }

// A port number goes back out as a JSON integer (the CRD's string form is a port name).
json PortToJson(const std::string& port) {
  if (!port.empty() && port.size() <= 5 &&
      port.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoi(port);
  }
  return port;
}

}  // namespace

std::string FormatErrors(const std::vector<FieldError>& errors) {
  std::string out;
  for (const FieldError& e : errors) {
    if (!out.empty()) {
      out += "; ";
    }
    if (!e.path.empty()) {
      absl::StrAppend(&out, e.path);
    }
    if (e.line > 0) {
      absl::StrAppend(&out, e.path.empty() ? "" : " ", "(line ", e.line, ")");
    }
    absl::StrAppend(&out, e.path.empty() && e.line == 0 ? "" : ": ", e.message);
  }
  return out;
}

void AttachLines(const LineMap& lines, std::vector<FieldError>& errors) {
  for (FieldError& e : errors) {
    std::string path = e.path;
    while (true) {
      auto it = lines.find(path);
      if (it != lines.end() && it->second > 0) {
        e.line = it->second;
        break;
      }
      size_t cut = path.find_last_of(".[");
      if (path.empty()) {
        break;
      }
      path = cut == std::string::npos ? "" : path.substr(0, cut);
    }
  }
}

absl::StatusOr<std::vector<YamlDocument>> LoadYamlDocuments(std::string_view text) {
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return absl::InvalidArgumentError(e.msg);
    }
    return absl::InvalidArgumentError(
        absl::StrCat("line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg));
  }
  std::vector<YamlDocument> documents;
  for (const YAML::Node& node : nodes) {
    if (node.IsNull()) {
      continue;
    }
    YamlDocument doc;
    doc.line = LineOf(node);
    doc.lines[""] = doc.line;
    absl::StatusOr<json> object = Convert(node, "", &doc.lines);
    if (!object.ok()) {
      return object.status();
    }
    doc.object = *std::move(object);
    documents.push_back(std::move(doc));
  }
  return documents;
}

absl::StatusOr<json> YamlToJson(const YAML::Node& node, LineMap* lines) {
  if (lines != nullptr) {
    (*lines)[""] = LineOf(node);
  }
  return Convert(node, "", lines);
}

absl::StatusOr<ServiceRegistration> ParseJson(const json& object, std::vector<FieldError>* errors) {
  std::vector<FieldError> found;
  ServiceRegistration out;
  if (!object.is_object()) {
    found.push_back({"", absl::StrCat("must be a JSON object, got ", TypeName(object))});
  } else {
    Fields root(object, "", found);
    root.RejectUnknown({"apiVersion", "kind", "metadata", "spec", "status"});
    RequireConstant(root, "apiVersion", kApiVersion);
    RequireConstant(root, "kind", kKind);
    if (std::optional<Fields> meta = root.Object("metadata")) {
      ParseMetadata(*meta, out.metadata);
    }
    if (std::optional<Fields> spec = root.Object("spec")) {
      ParseSpec(*spec, out.spec);
    } else if (root.Get("spec") == nullptr) {
      root.Error("spec", "Required value");
    }
    if (std::optional<Fields> status = root.Object("status")) {
      ParseStatus(*status, out.status);
    }
  }
  if (found.empty()) {
    return out;
  }
  absl::Status status = ErrorStatus(found);
  if (errors != nullptr) {
    errors->insert(errors->end(), found.begin(), found.end());
  }
  return status;
}

absl::StatusOr<ServiceRegistration> ParseYaml(const YAML::Node& document,
                                              std::vector<FieldError>* errors, LineMap* lines) {
  LineMap local_lines;
  absl::StatusOr<json> object = YamlToJson(document, &local_lines);
  if (!object.ok()) {
    if (errors != nullptr) {
      errors->push_back({"", std::string(object.status().message())});
    }
    return object.status();
  }
  std::vector<FieldError> found;
  absl::StatusOr<ServiceRegistration> result = ParseJson(*object, &found);
  if (!result.ok()) {
    AttachLines(local_lines, found);
    result = ErrorStatus(found);
    if (errors != nullptr) {
      errors->insert(errors->end(), found.begin(), found.end());
    }
  }
  if (lines != nullptr) {
    *lines = std::move(local_lines);
  }
  return result;
}

json StatusToJson(const Status& status) {
  json out = json::object();
  if (status.observed_generation != 0) {
    out["observedGeneration"] = status.observed_generation;
  }
  auto put = [&out](const char* key, const std::string& value) {
    if (!value.empty()) {
      out[key] = value;
    }
  };
  put("phase", status.phase);
  put("fullKey", status.full_key);
  put("leaseID", status.lease_id);
  if (status.granted_ttl != 0) {
    out["grantedTTL"] = status.granted_ttl;
  }
  put("value", status.value);
  if (!status.endpoints.empty()) {
    json& endpoints = out["endpoints"] = json::array();
    for (const EndpointStatus& e : status.endpoints) {
      endpoints.push_back(
          {{"address", e.address}, {"fullKey", e.full_key}, {"leaseID", e.lease_id}});
    }
  }
  if (!status.conditions.empty()) {
    json& conditions = out["conditions"] = json::array();
    for (const Condition& c : status.conditions) {
      conditions.push_back({{"type", c.type},
                            {"status", c.status},
                            {"reason", c.reason},
                            {"message", c.message},
                            {"observedGeneration", c.observed_generation},
                            {"lastTransitionTime", c.last_transition_time}});
    }
  }
  return out;
}

json ToJson(const ServiceRegistration& r) {
  const ObjectMeta& m = r.metadata;
  json meta = {{"name", m.name}};
  if (!m.namespace_.empty()) {
    meta["namespace"] = m.namespace_;
  }
  if (!m.uid.empty()) {
    meta["uid"] = m.uid;
  }
  if (m.generation != 0) {
    meta["generation"] = m.generation;
  }
  if (!m.resource_version.empty()) {
    meta["resourceVersion"] = m.resource_version;
  }
  if (!m.labels.empty()) {
    meta["labels"] = m.labels;
  }
  if (!m.annotations.empty()) {
    meta["annotations"] = m.annotations;
  }
  if (!m.finalizers.empty()) {
    meta["finalizers"] = m.finalizers;
  }
  if (m.deletion_timestamp) {
    meta["deletionTimestamp"] = *m.deletion_timestamp;
  }

  const Spec& s = r.spec;
  json spec = {{"key", s.key}, {"ttlSeconds", s.ttl_seconds}, {"paused", s.paused}};
  if (s.value) {
    spec["value"] = *s.value;
  }
  if (s.value_from) {
    spec["valueFrom"] = {{"serviceRef",
                          {{"name", s.value_from->service_ref.name},
                           {"port", PortToJson(s.value_from->service_ref.port)}}}};
  }
  if (s.id != 0) {
    spec["id"] = s.id;
  }
  if (s.etcd) {
    json etcd = {{"endpoints", s.etcd->endpoints}};
    if (s.etcd->credentials_secret_ref) {
      etcd["credentialsSecretRef"] = SecretRefToJson(*s.etcd->credentials_secret_ref);
    }
    if (s.etcd->tls_secret_ref) {
      etcd["tlsSecretRef"] = SecretRefToJson(*s.etcd->tls_secret_ref);
    }
    if (s.etcd->insecure_skip_verify) {
      etcd["insecureSkipVerify"] = true;
    }
    spec["etcd"] = std::move(etcd);
  }

  json out = {{"apiVersion", kApiVersion},
              {"kind", kKind},
              {"metadata", std::move(meta)},
              {"spec", std::move(spec)}};
  json status = StatusToJson(r.status);
  if (!status.empty()) {
    out["status"] = std::move(status);
  }
  return out;
}

}  // namespace registrar::registration
