#include "tests/schema/openapi_validator.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "controller/common/yaml_json.h"
#include "re2/re2.h"

namespace registrar::schema {
namespace {

using nlohmann::json;
using re2::RE2;

std::string Child(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : absl::StrCat(parent, ".", key);
}

std::string Index(const std::string& parent, size_t i) { return absl::StrCat(parent, "[", i, "]"); }

// How go-openapi names the field in messages ("spec.ttlSeconds in body ...").
std::string Name(const std::string& path) { return path.empty() ? "<root>" : path; }

bool IsIntegral(const json& v) {
  if (v.is_number_integer()) {
    return true;
  }
  if (!v.is_number_float()) {
    return false;
  }
  double d = v.get<double>();
  return std::isfinite(d) && std::trunc(d) == d;
}

bool HasType(const std::string& type, const json& v) {
  if (type == "object")
    return v.is_object();
  if (type == "array")
    return v.is_array();
  if (type == "string")
    return v.is_string();
  if (type == "integer")
    return IsIntegral(v);
  if (type == "number")
    return v.is_number();
  if (type == "boolean")
    return v.is_boolean();
  return true;
}

// apimachinery field.Error value rendering: strings quoted, scalars bare, the rest as JSON.
std::string Render(const json& v) {
  if (v.is_string()) {
    return json(v).dump();
  }
  if (v.is_number_float() && IsIntegral(v)) {
    return absl::StrCat(static_cast<int64_t>(v.get<double>()));
  }
  return v.dump();
}

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    n += (c & 0xC0) != 0x80;
  }
  return n;
}

double Number(const json& v) { return v.get<double>(); }

std::string NumberText(const json& v) { return Render(v); }

Cause Invalid(const std::string& path, const json& value, const std::string& detail) {
  return Cause{
      path, "FieldValueInvalid",
      absl::StrCat("Invalid value: ", Render(value), ": ", Name(path), " in body ", detail)};
}

}  // namespace

json CauseToJson(const Cause& cause) {
  return json{{"reason", cause.reason}, {"message", cause.message}, {"field", cause.field}};
}

absl::StatusOr<CrdSchema> CrdSchema::FromSchema(json openapi_schema) {
  if (!openapi_schema.is_object()) {
    return absl::InvalidArgumentError("openAPIV3Schema must be an object");
  }
  CrdSchema out;
  out.schema_ = std::move(openapi_schema);
  absl::Status status = out.CompilePatterns(out.schema_);
  if (!status.ok()) {
    return status;
  }
  return out;
}

absl::StatusOr<CrdSchema> CrdSchema::FromCrd(const json& crd, std::string_view version) {
  const json* versions = nullptr;
  if (crd.is_object() && crd.contains("spec") && crd["spec"].is_object() &&
      crd["spec"].contains("versions") && crd["spec"]["versions"].is_array()) {
    versions = &crd["spec"]["versions"];
  }
  if (versions == nullptr) {
    return absl::InvalidArgumentError("CustomResourceDefinition has no spec.versions");
  }
  for (const json& v : *versions) {
    if (!v.is_object() || v.value("name", "") != version) {
      continue;
    }
    const json* schema = nullptr;
    if (v.contains("schema") && v["schema"].is_object() &&
        v["schema"].contains("openAPIV3Schema")) {
      schema = &v["schema"]["openAPIV3Schema"];
    }
    if (schema == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("version ", std::string(version), " has no schema.openAPIV3Schema"));
    }
    absl::StatusOr<CrdSchema> out = FromSchema(*schema);
    if (!out.ok()) {
      return out.status();
    }
    if (v.contains("additionalPrinterColumns") && v["additionalPrinterColumns"].is_array()) {
      for (const json& c : v["additionalPrinterColumns"]) {
        if (!c.is_object()) {
          continue;
        }
        out->columns_.push_back(PrinterColumn{c.value("name", ""), c.value("type", ""),
                                              c.value("format", ""), c.value("description", ""),
                                              c.value("jsonPath", ""), c.value("priority", 0)});
      }
    }
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("CustomResourceDefinition has no version ", std::string(version)));
}

absl::StatusOr<CrdSchema> CrdSchema::FromFile(const std::string& path, std::string_view version) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<YamlDocument>> docs =
      LoadYamlDocuments(text.str());
  if (!docs.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", docs.status().message()));
  }
  for (const YamlDocument& doc : *docs) {
    if (doc.object.is_object() && doc.object.value("kind", "") == "CustomResourceDefinition") {
      return FromCrd(doc.object, version);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(path, ": no CustomResourceDefinition"));
}

absl::Status CrdSchema::CompilePatterns(const json& schema) {
  if (schema.is_array()) {
    for (const json& item : schema) {
      absl::Status status = CompilePatterns(item);
      if (!status.ok()) {
        return status;
      }
    }
    return absl::OkStatus();
  }
  if (!schema.is_object()) {
    return absl::OkStatus();
  }
  for (const auto& [key, value] : schema.items()) {
    if (key == "pattern" && value.is_string()) {
      const std::string& pattern = value.get_ref<const std::string&>();
      RE2::Options options;
      options.set_log_errors(false);
      auto re = std::make_shared<const RE2>(pattern, options);
      if (!re->ok()) {
        return absl::InvalidArgumentError(absl::StrCat("pattern ", pattern, ": ", re->error()));
      }
      patterns_.emplace(pattern, std::move(re));
    } else if (key != "default" && key != "enum") {
      absl::Status status = CompilePatterns(value);
      if (!status.ok()) {
        return status;
      }
    }
  }
  return absl::OkStatus();
}

std::vector<Cause> CrdSchema::Validate(const json& object) const {
  std::vector<Cause> out;
  Check(schema_, object, "", out);
  return out;
}

void CrdSchema::Check(const json& s, const json& v, const std::string& path,
                      std::vector<Cause>& out) const {
  if (!s.is_object()) {
    return;
  }
  const std::string type = s.value("type", "");
  const bool int_or_string = s.value("x-kubernetes-int-or-string", false);
  auto type_invalid = [&](const std::string& want) {
    out.push_back(
        Cause{path, "FieldValueTypeInvalid",
              absl::StrCat("Invalid value: ", Render(v), ": ", Name(path),
                           " in body must be of type ", want, ": \"", JsonTypeName(v), "\"")});
  };
  if (v.is_null()) {
    if (s.value("nullable", false)) {
      return;
    }
    if (!type.empty() || int_or_string) {
      type_invalid(int_or_string ? "integer-or-string" : type);
      return;
    }
  }
  if (int_or_string) {
    if (!IsIntegral(v) && !v.is_string()) {
      type_invalid("integer-or-string");
      return;
    }
  } else if (!HasType(type, v)) {
    type_invalid(type);
    return;
  }

  if (v.is_number()) {
    const double x = Number(v);
    if (auto it = s.find("minimum"); it != s.end() && it->is_number()) {
      bool exclusive = s.value("exclusiveMinimum", false);
      if (exclusive ? x <= Number(*it) : x < Number(*it)) {
        out.push_back(Invalid(path, v,
                              absl::StrCat("should be greater than ",
                                           exclusive ? "" : "or equal to ", NumberText(*it))));
      }
    }
    if (auto it = s.find("maximum"); it != s.end() && it->is_number()) {
      bool exclusive = s.value("exclusiveMaximum", false);
      if (exclusive ? x >= Number(*it) : x > Number(*it)) {
        out.push_back(Invalid(path, v,
                              absl::StrCat("should be less than ", exclusive ? "" : "or equal to ",
                                           NumberText(*it))));
      }
    }
    if (auto it = s.find("multipleOf"); it != s.end() && it->is_number() && Number(*it) > 0) {
      double q = x / Number(*it);
      if (std::fabs(q - std::round(q)) > 1e-9) {
        out.push_back(Invalid(path, v, absl::StrCat("should be a multiple of ", NumberText(*it))));
      }
    }
  }

  if (v.is_string()) {
    const std::string& str = v.get_ref<const std::string&>();
    const size_t length = CodePoints(str);
    if (auto it = s.find("minLength");
        it != s.end() && it->is_number_integer() && length < it->get<size_t>()) {
      out.push_back(
          Invalid(path, v, absl::StrCat("should be at least ", it->get<size_t>(), " chars long")));
    }
    if (auto it = s.find("maxLength");
        it != s.end() && it->is_number_integer() && length > it->get<size_t>()) {
      out.push_back(
          Cause{path, "FieldValueTooLong",
                absl::StrCat("Too long: may not be more than ", it->get<size_t>(), " bytes")});
    }
    if (auto it = s.find("pattern"); it != s.end() && it->is_string()) {
      const std::string& pattern = it->get_ref<const std::string&>();
      if (!RE2::PartialMatch(str, *patterns_.at(pattern))) {
        out.push_back(Invalid(path, v, absl::StrCat("should match '", pattern, "'")));
      }
    }
  }

  if (auto it = s.find("enum"); it != s.end() && it->is_array()) {
    bool found = false;
    std::vector<std::string> allowed;
    for (const json& e : *it) {
      found = found || e == v;
      allowed.push_back(Render(e));
    }
    if (!found) {
      out.push_back(Cause{path, "FieldValueNotSupported",
                          absl::StrCat("Unsupported value: ", Render(v),
                                       ": supported values: ", absl::StrJoin(allowed, ", "))});
    }
  }

  if (v.is_array()) {
    if (auto it = s.find("minItems");
        it != s.end() && it->is_number_integer() && v.size() < it->get<size_t>()) {
      out.push_back(
          Invalid(path, v, absl::StrCat("should have at least ", it->get<size_t>(), " items")));
    }
    if (auto it = s.find("maxItems");
        it != s.end() && it->is_number_integer() && v.size() > it->get<size_t>()) {
      out.push_back(Cause{path, "FieldValueTooMany",
                          absl::StrCat("Too many: ", v.size(), ": must have at most ",
                                       it->get<size_t>(), " items")});
    }
    if (s.value("uniqueItems", false)) {
      for (size_t i = 0; i < v.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
          if (v[i] == v[j]) {
            out.push_back(Cause{Index(path, i), "FieldValueDuplicate",
                                absl::StrCat("Duplicate value: ", Render(v[i]))});
            break;
          }
        }
      }
    }
    if (auto it = s.find("items"); it != s.end()) {
      for (size_t i = 0; i < v.size(); ++i) {
        Check(*it, v[i], Index(path, i), out);
      }
    }
  }

  if (v.is_object()) {
    if (auto it = s.find("minProperties");
        it != s.end() && it->is_number_integer() && v.size() < it->get<size_t>()) {
      out.push_back(Invalid(
          path, v, absl::StrCat("should have at least ", it->get<size_t>(), " properties")));
    }
    if (auto it = s.find("maxProperties");
        it != s.end() && it->is_number_integer() && v.size() > it->get<size_t>()) {
      out.push_back(Cause{path, "FieldValueTooMany",
                          absl::StrCat("Too many: ", v.size(), ": must have at most ",
                                       it->get<size_t>(), " properties")});
    }
    if (auto it = s.find("required"); it != s.end() && it->is_array()) {
      for (const json& name : *it) {
        if (name.is_string() && !v.contains(name.get<std::string>())) {
          out.push_back(
              Cause{Child(path, name.get<std::string>()), "FieldValueRequired", "Required value"});
        }
      }
    }
    const json* properties = s.contains("properties") ? &s["properties"] : nullptr;
    const json* additional =
        s.contains("additionalProperties") && s["additionalProperties"].is_object()
            ? &s["additionalProperties"]
            : nullptr;
    for (const auto& [key, value] : v.items()) {
      if (properties != nullptr && properties->contains(key)) {
        Check((*properties)[key], value, Child(path, key), out);
      } else if (additional != nullptr) {
        Check(*additional, value, Child(path, key), out);
      }
    }
  }

  auto valid = [&](const json& sub, std::vector<Cause>* causes) {
    std::vector<Cause> local;
    Check(sub, v, path, local);
    bool ok = local.empty();
    if (causes != nullptr) {
      *causes = std::move(local);
    }
    return ok;
  };
  if (auto it = s.find("allOf"); it != s.end() && it->is_array()) {
    for (const json& sub : *it) {
      Check(sub, v, path, out);
    }
  }
  // For anyOf/oneOf with no valid branch, go-openapi also reports the branch that failed least.
  auto composite = [&](const json& branches, bool exactly_one, const char* message) {
    size_t valid_count = 0;
    std::optional<std::vector<Cause>> best;
    for (const json& sub : branches) {
      std::vector<Cause> causes;
      if (valid(sub, &causes)) {
        ++valid_count;
      } else if (!best || causes.size() < best->size()) {
        best = std::move(causes);
      }
    }
    if (valid_count == 0 || (exactly_one && valid_count > 1)) {
      std::string detail = message;
      if (exactly_one) {
        detail += valid_count == 0 ? ". Found none valid"
                                   : absl::StrCat(". Found ", valid_count, " valid alternatives");
      }
      out.push_back(Invalid(path, v, detail));
      if (valid_count == 0 && best) {
        out.insert(out.end(), best->begin(), best->end());
      }
    }
  };
  if (auto it = s.find("anyOf"); it != s.end() && it->is_array()) {
    composite(*it, false, "must validate at least one schema (anyOf)");
  }
  if (auto it = s.find("oneOf"); it != s.end() && it->is_array()) {
    composite(*it, true, "must validate one and only one schema (oneOf)");
  }
  if (auto it = s.find("not"); it != s.end() && it->is_object() && valid(*it, nullptr)) {
    out.push_back(Invalid(path, v, "must not validate the schema (not)"));
  }
}

void CrdSchema::Walk(const json& s, json& v, const std::string& path, bool remove,
                     std::vector<std::string>& unknown) const {
  if (!s.is_object()) {
    return;
  }
  if (v.is_array()) {
    if (auto it = s.find("items"); it != s.end()) {
      for (size_t i = 0; i < v.size(); ++i) {
        Walk(*it, v[i], Index(path, i), remove, unknown);
      }
    }
    return;
  }
  if (!v.is_object() || s.value("x-kubernetes-int-or-string", false)) {
    return;
  }
  const bool preserve = s.value("x-kubernetes-preserve-unknown-fields", false);
  const json* properties = s.contains("properties") ? &s["properties"] : nullptr;
  const json* additional =
      s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
  std::vector<std::string> drop;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& key = it.key();
    if (path.empty() && (key == "apiVersion" || key == "kind" || key == "metadata")) {
      continue;
    }
    std::string child = Child(path, key);
    if (properties != nullptr && properties->contains(key)) {
      Walk((*properties)[key], it.value(), child, remove, unknown);
    } else if (additional != nullptr && additional->is_object()) {
      Walk(*additional, it.value(), child, remove, unknown);
    } else if (!preserve &&
               !(additional != nullptr && additional->is_boolean() && additional->get<bool>())) {
      unknown.push_back(child);
      drop.push_back(key);
    }
  }
  if (remove) {
    for (const std::string& key : drop) {
      v.erase(key);
    }
  }
}

std::vector<std::string> CrdSchema::UnknownFields(const json& object) const {
  std::vector<std::string> unknown;
  json copy = object;
  Walk(schema_, copy, "", false, unknown);
  return unknown;
}

void CrdSchema::Prune(json& object) const {
  std::vector<std::string> unknown;
  Walk(schema_, object, "", true, unknown);
}

void CrdSchema::ApplyDefaults(json& object) const { Default(schema_, object); }

void CrdSchema::Default(const json& s, json& v) const {
  if (!s.is_object()) {
    return;
  }
  if (v.is_array()) {
    if (auto it = s.find("items"); it != s.end()) {
      for (json& item : v) {
        Default(*it, item);
      }
    }
    return;
  }
  if (!v.is_object()) {
    return;
  }
  if (auto props = s.find("properties"); props != s.end() && props->is_object()) {
    for (const auto& [name, ps] : props->items()) {
      auto it = v.find(name);
      const bool has_default = ps.is_object() && ps.contains("default");
      if (it == v.end()) {
        if (has_default) {
          v[name] = ps["default"];
        }
      } else if (it->is_null() && !(ps.is_object() && ps.value("nullable", false))) {
        if (has_default) {
          *it = ps["default"];
        } else {
          v.erase(it);
        }
      }
      if (auto child = v.find(name); child != v.end()) {
        Default(ps, *child);
      }
    }
  }
  if (auto additional = s.find("additionalProperties");
      additional != s.end() && additional->is_object()) {
    const json* props = s.contains("properties") ? &s["properties"] : nullptr;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (props == nullptr || !props->contains(it.key())) {
        Default(*additional, it.value());
      }
    }
  }
}

std::optional<json> EvaluateJsonPath(const json& object, std::string_view path) {
  std::string p(path);
  if (p.size() >= 2 && p.front() == '{' && p.back() == '}') {
    p = p.substr(1, p.size() - 2);
  }
  size_t i = 0;
  if (i < p.size() && p[i] == '$') {
    ++i;
  }
  const json* cur = &object;
  while (i < p.size()) {
    if (p[i] == '.') {
      size_t end = p.find_first_of(".[", i + 1);
      std::string key = p.substr(i + 1, end == std::string::npos ? std::string::npos : end - i - 1);
      if (key.empty() || !cur->is_object() || !cur->contains(key)) {
        return std::nullopt;
      }
      cur = &(*cur)[key];
      i = end == std::string::npos ? p.size() : end;
    } else if (p[i] == '[') {
      size_t close = p.find(']', i);
      if (close == std::string::npos) {
        return std::nullopt;
      }
      std::string inner = p.substr(i + 1, close - i - 1);
      if (inner.size() >= 2 && (inner.front() == '\'' || inner.front() == '"') &&
          inner.back() == inner.front()) {
        std::string key = inner.substr(1, inner.size() - 2);
        if (!cur->is_object() || !cur->contains(key)) {
          return std::nullopt;
        }
        cur = &(*cur)[key];
      } else if (!inner.empty() && inner.find_first_not_of("0123456789") == std::string::npos) {
        if (inner.size() > 9) {
          return std::nullopt;
        }
        size_t index = std::stoul(inner);
        if (!cur->is_array() || index >= cur->size()) {
          return std::nullopt;
        }
        cur = &(*cur)[index];
      } else {
        return std::nullopt;
      }
      i = close + 1;
    } else {
      return std::nullopt;
    }
  }
  return *cur;
}

}  // namespace registrar::schema
