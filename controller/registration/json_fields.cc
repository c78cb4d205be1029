#include "controller/registration/json_fields.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace registrar::registration {

using nlohmann::json;

bool JsonInteger(const json& value, int64_t& out) {
  if (value.is_number_unsigned()) {
    uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return false;
    }
    out = static_cast<int64_t>(u);
    return true;
  }
  if (value.is_number_integer()) {
    out = value.get<int64_t>();
    return true;
  }
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.0e15) {
      out = static_cast<int64_t>(d);
      return true;
    }
  }
  return false;
}

const json* JsonFields::Get(std::string_view key) const {
  auto it = object_.find(key);
  return it == object_.end() || it->is_null() ? nullptr : &*it;
}

void JsonFields::RejectUnknown(std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object_.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      Error(JsonPathChild(path_, key), "unknown field");
    }
  }
}

std::optional<JsonFields> JsonFields::Object(std::string_view key) {
  const json* value = Get(key);
  if (value == nullptr || !CheckType(key, *value, value->is_object(), "object")) {
    return std::nullopt;
  }
  return JsonFields(*value, JsonPathChild(path_, key), errors_);
}

bool JsonFields::String(std::string_view key, std::string& out) {
  const json* value = Get(key);
  if (value == nullptr || !CheckType(key, *value, value->is_string(), "string")) {
    return false;
  }
  out = value->get<std::string>();
  return true;
}

void JsonFields::OptionalString(std::string_view key, std::optional<std::string>& out) {
  std::string value;
  if (String(key, value)) {
    out = std::move(value);
  }
}

void JsonFields::StringOrInt(std::string_view key, std::string& out) {
  const json* value = Get(key);
  if (value == nullptr) {
    return;
  }
  if (value->is_string()) {
    out = value->get<std::string>();
  } else if (int64_t number = 0; JsonInteger(*value, number)) {
    out = std::to_string(number);
  } else {
    TypeError(JsonPathChild(path_, key), *value, "string or integer");
  }
}

void JsonFields::Int(std::string_view key, int64_t& out) {
  const json* value = Get(key);
  if (value == nullptr) {
    return;
  }
  int64_t number = 0;
  if (JsonInteger(*value, number)) {
    out = number;
  } else if (value->is_number()) {
    Error(JsonPathChild(path_, key),
          absl::StrCat("must be an integer in the int64 range, got ", value->dump()));
  } else {
    TypeError(JsonPathChild(path_, key), *value, "integer");
  }
}

void JsonFields::Bool(std::string_view key, bool& out) {
  const json* value = Get(key);
  if (value != nullptr && CheckType(key, *value, value->is_boolean(), "boolean")) {
    out = value->get<bool>();
  }
}

void JsonFields::StringMap(std::string_view key, std::map<std::string, std::string>& out) {
  std::optional<JsonFields> map = Object(key);
  if (!map) {
    return;
  }
  for (const auto& [name, value] : map->object_.items()) {
    if (map->CheckType(name, value, value.is_string(), "string")) {
      out[name] = value.get<std::string>();
    }
  }
}

void JsonFields::StringList(std::string_view key, std::vector<std::string>& out) {
  Array(key, [&](const json& item, const std::string& path) {
    if (item.is_string()) {
      out.push_back(item.get<std::string>());
    } else {
      TypeError(path, item, "string");
    }
  });
}

void JsonFields::Error(std::string path, std::string message) {
  errors_.push_back(FieldError{std::move(path), std::move(message)});
}

void JsonFields::TypeError(std::string path, const json& value, std::string_view want) {
  Error(std::move(path),
        absl::StrCat("must be of type ", std::string(want), ", got ", JsonTypeName(value)));
}

bool JsonFields::CheckType(std::string_view key, const json& value, bool ok,
                           std::string_view want) {
  if (!ok) {
    TypeError(JsonPathChild(path_, key), value, want);
  }
  return ok;
}

}  // namespace registrar::registration
