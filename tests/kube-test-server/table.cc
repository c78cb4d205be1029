#include "tests/kube-test-server/table.h"

#include <ctime>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace registrar::kts {
namespace {

using json = nlohmann::json;

// One step of a path: a field name, an index, or a filter [?(@.key=="value")].
json Step(const json& cur, const std::string& token) {
  if (token.empty()) return cur;
  if (token[0] == '[') {
    std::string inner = token.substr(1, token.size() - 2);
    if (!cur.is_array()) return nullptr;
    if (inner.rfind("?(@.", 0) == 0) {
      size_t eq = inner.find("==");
      if (eq == std::string::npos) return nullptr;
      std::string key = inner.substr(4, eq - 4);
      std::string want = inner.substr(eq + 2);
      if (!want.empty() && want.back() == ')') want.pop_back();
      if (want.size() >= 2 && (want[0] == '"' || want[0] == '\'')) {
        want = want.substr(1, want.size() - 2);
      }
      for (const json& item : cur) {
        if (item.is_object() && item.contains(key)) {
          const json& v = item[key];
          std::string s = v.is_string() ? v.get<std::string>() : v.dump();
          if (s == want) return item;
        }
      }
      return nullptr;
    }
    if (inner == "*" ) return cur.empty() ? json(nullptr) : cur[0];
    char* end = nullptr;
    long idx = std::strtol(inner.c_str(), &end, 10);
    if (end == inner.c_str() || idx < 0 || static_cast<size_t>(idx) >= cur.size()) return nullptr;
    return cur[idx];
  }
  if (!cur.is_object() || !cur.contains(token)) return nullptr;
  return cur[token];
}

std::string CellText(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

bool WantsTable(const std::string& accept) {
  return accept.find("as=Table") != std::string::npos;
}

json EvalJsonPath(const json& object, const std::string& path) {
  std::string p = path;
  if (!p.empty() && p.front() == '{' && p.back() == '}') p = p.substr(1, p.size() - 2);
  if (!p.empty() && p[0] == '$') p = p.substr(1);
  // Tokenise: .name or [ ... ] (brackets may contain dots inside quotes).
  json cur = object;
  size_t i = 0;
  while (i < p.size() && !cur.is_null()) {
    if (p[i] == '.') {
      size_t j = i + 1;
      while (j < p.size() && p[j] != '.' && p[j] != '[') ++j;
      cur = Step(cur, p.substr(i + 1, j - i - 1));
      i = j;
    } else if (p[i] == '[') {
      size_t j = p.find(']', i);
      if (j == std::string::npos) return nullptr;
      cur = Step(cur, p.substr(i, j - i + 1));
      i = j + 1;
    } else {
      return nullptr;
    }
  }
  return cur;
}

std::string HumanAge(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) return "<unknown>";
  int64_t s = absl::ToInt64Seconds(absl::Now() - t);
  if (s < 0) s = 0;
  // Close to apimachinery's duration.HumanDuration.
  if (s < 120) return std::to_string(s) + "s";
  int64_t m = s / 60;
  if (m < 10) return std::to_string(m) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (m < 180) return std::to_string(m) + "m";
  int64_t h = m / 60;
  if (h < 8) return std::to_string(h) + "h" + (m % 60 ? std::to_string(m % 60) + "m" : "");
  if (h < 48) return std::to_string(h) + "h";
  int64_t d = h / 24;
  if (d < 8) return std::to_string(d) + "d" + (h % 24 ? std::to_string(h % 24) + "h" : "");
  if (d < 365 * 2) return std::to_string(d) + "d";
  return std::to_string(d / 365) + "y";
}

json RenderTable(const ResourceType& type, const std::vector<json>& objects,
                 const json& list_metadata) {
  json columns = json::array();
  columns.push_back({{"name", "Name"}, {"type", "string"}, {"format", "name"},
                     {"description", "Name must be unique within a namespace."}, {"priority", 0}});
  json specs = type.printer_columns;
  if (!specs.is_array() || specs.empty()) {
    specs = json::array({{{"name", "Age"}, {"type", "date"},
                          {"jsonPath", ".metadata.creationTimestamp"}}});
  }
  for (const json& c : specs) {
    columns.push_back({{"name", c.value("name", "")},
                       {"type", c.value("type", "string")},
                       {"format", c.value("format", "")},
                       {"description", c.value("description", "")},
                       {"priority", c.value("priority", 0)}});
  }
  json rows = json::array();
  for (const json& obj : objects) {
    json cells = json::array();
    cells.push_back(obj["metadata"].value("name", ""));
    for (const json& c : specs) {
      json v = EvalJsonPath(obj, c.value("jsonPath", ""));
      std::string t = c.value("type", "string");
      if (t == "date") {
        cells.push_back(v.is_string() ? json(HumanAge(v.get<std::string>())) : json("<unknown>"));
      } else if (v.is_null()) {
        cells.push_back(nullptr);
      } else if (t == "integer" || t == "number" || t == "boolean") {
        cells.push_back(v);
      } else {
        cells.push_back(CellText(v));
      }
    }
    json partial = {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"},
                    {"metadata", obj["metadata"]}};
    rows.push_back({{"cells", cells}, {"object", partial}});
  }
  return {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", list_metadata},
          {"columnDefinitions", columns}, {"rows", rows}};
}

}  // namespace registrar::kts
