#include "controller/config/policy.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "controller/common/yaml_json.h"

namespace registrar::config {

namespace {

using nlohmann::json;

// "" when `glob` is a well-formed fnmatch(3) pattern, else why not. glibc's fnmatch reports no
// error for these: such a glob silently matches nothing (or, for a lone "[", only itself).
std::string GlobProblem(const std::string& glob) {
  static const char* const kClasses[] = {"alnum", "alpha", "blank", "cntrl", "digit", "graph",
                                         "lower", "print", "punct", "space", "upper", "xdigit"};
  for (size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] == '\\') {
      if (++i == glob.size()) {
        return "it ends with a lone \\ (write \\\\ for a backslash)";
      }
      continue;
    }
    if (glob[i] != '[') {
      continue;
    }
    size_t j = i + 1;
    if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) {
      ++j;
    }
    if (j < glob.size() && glob[j] == ']') {
      ++j;  // a "]" first in the set is a member
    }
    int previous = -1;  // the last single character of the set, for ranges
    for (; j < glob.size() && glob[j] != ']'; ++j) {
      if (glob[j] == '[' && j + 1 < glob.size() &&
          (glob[j + 1] == ':' || glob[j + 1] == '.' || glob[j + 1] == '=')) {
        const char kind = glob[j + 1];
        const size_t end = glob.find(std::string{kind, ']'}, j + 2);
        if (end == std::string::npos) {
          return absl::StrCat("\"[", std::string(1, kind), "\" at offset ", j, " is not closed");
        }
        const std::string name = glob.substr(j + 2, end - j - 2);
        if (kind == ':' &&
            std::find_if(std::begin(kClasses), std::end(kClasses),
                         [&](const char* c) { return name == c; }) == std::end(kClasses)) {
          return absl::StrCat("unknown character class [:", name, ":]");
        }
        j = end + 1;
        previous = -1;
        continue;
      }
      if (glob[j] == '-' && previous >= 0 && j + 1 < glob.size() && glob[j + 1] != ']') {
        unsigned char last = static_cast<unsigned char>(glob[j + 1]);
        if (last == '\\' && j + 2 < glob.size()) {
          last = static_cast<unsigned char>(glob[j + 2]);
        }
        if (last < previous) {
          return absl::StrCat("the range ", std::string(1, static_cast<char>(previous)), "-",
                              std::string(1, static_cast<char>(last)),
                              " is reversed and matches nothing");
        }
        j += last == static_cast<unsigned char>(glob[j + 1]) ? 1 : 2;
        previous = -1;
        continue;
      }
      if (glob[j] == '\\' && j + 1 < glob.size()) {
        ++j;
      }
      previous = static_cast<unsigned char>(glob[j]);
    }
    if (j >= glob.size()) {
      return absl::StrCat("the \"[\" at offset ", i,
                          " is never closed by \"]\" (write \\[ for a literal [)");
    }
    i = j;
  }
  return "";
}

// Reads one policy document, naming "<source> line N" in every error.
class PolicyReader {
 public:
  PolicyReader(const std::string& source, const LineMap& lines) : source_(source), lines_(lines) {}

  // "<source> line N" of `path` (or of its nearest written parent).
  std::string Where(const std::string& path) const {
    int line = NearestLine(lines_, path);
    return line > 0 ? absl::StrCat(source_, " line ", line) : source_;
  }

  absl::Status Error(const std::string& path, const std::string& message) const {
    return absl::InvalidArgumentError(absl::StrCat(Where(path), ": ", message));
  }

  // The field of `object` (at `path`) written on the earliest line that is not in `known`.
  absl::Status RejectUnknown(const json& object, const std::string& path,
                             std::initializer_list<std::string_view> known,
                             const std::string& expected) const {
    std::string first;
    int first_line = std::numeric_limits<int>::max();
    for (const auto& [key, value] : object.items()) {
      if (std::find(known.begin(), known.end(), key) != known.end()) {
        continue;
      }
      auto it = lines_.find(JsonPathChild(path, key));
      int line = it == lines_.end() ? 0 : it->second;
      if (first.empty() || line < first_line) {
        first = key;
        first_line = line;
      }
    }
    if (first.empty()) {
      return absl::OkStatus();
    }
    return Error(JsonPathChild(path, first),
                 absl::StrCat("unknown field \"", first, "\" (expected ", expected, ")"));
  }

  absl::StatusOr<std::vector<std::string>> GlobList(const json& value, const std::string& path,
                                                    const std::string& field) const {
    if (!value.is_array()) {
      return Error(path,
                   absl::StrCat(field, " must be a list of globs, got ", JsonTypeName(value)));
    }
    std::vector<std::string> globs;
    for (size_t i = 0; i < value.size(); ++i) {
      const json& element = value[i];
      if (!element.is_string() || element.get_ref<const std::string&>().empty()) {
        return Error(
            JsonPathIndex(path, i),
            absl::StrCat(field, " entries must be non-empty strings, got ",
                         element.is_string() ? "\"\"" : JsonTypeName(element),
                         element.is_number() ? " (quote a glob that looks like a number)" : ""));
      }
      if (std::string problem = GlobProblem(element.get_ref<const std::string&>());
          !problem.empty()) {
        return Error(JsonPathIndex(path, i),
                     absl::StrCat(path, "[", i, "]: glob \"", element.get<std::string>(),
                                  "\" cannot be used: ", problem));
      }
      globs.push_back(element.get<std::string>());
    }
    return globs;
  }

  absl::StatusOr<PolicyRule> Rule(const json& node, const std::string& path) const {
    if (!node.is_object()) {
      return Error(path, "a rule must be a map");
    }
    PolicyRule rule;
    rule.source = Where(path);
    if (absl::Status unknown = RejectUnknown(
            node, path, {"namespaces", "keys", "endpoints", "allowInsecureSkipVerify"},
            "namespaces, keys, endpoints, allowInsecureSkipVerify");
        !unknown.ok()) {
      return unknown;
    }
    const auto field = [&](const char* name) -> const json* {
      auto it = node.find(name);
      return it == node.end() ? nullptr : &*it;
    };
    if (field("namespaces") == nullptr || field("keys") == nullptr) {
      return Error(path, absl::StrCat("a rule needs ",
                                      field("namespaces") == nullptr ? "namespaces" : "keys",
                                      " (a list of globs)"));
    }
    for (auto [name, out] :
         {std::pair{"namespaces", &rule.namespaces}, std::pair{"keys", &rule.keys},
          std::pair{"endpoints", &rule.endpoints}}) {
      if (const json* value = field(name)) {
        absl::StatusOr<std::vector<std::string>> globs =
            GlobList(*value, JsonPathChild(path, name), name);
        if (!globs.ok()) {
          return globs.status();
        }
        *out = *std::move(globs);
      }
    }
    if (const json* allow = field("allowInsecureSkipVerify")) {
      if (!allow->is_boolean()) {
        return Error(JsonPathChild(path, "allowInsecureSkipVerify"),
                     "allowInsecureSkipVerify " + BooleanExpected(*allow));
      }
      rule.allow_insecure_skip_verify = allow->get<bool>();
    }
    return rule;
  }

 private:
  const std::string& source_;
  const LineMap& lines_;
};

}  // namespace

absl::StatusOr<Policy> ParsePolicy(const std::string& yaml, const std::string& source_name) {
  absl::StatusOr<std::vector<YamlDocument>> documents = LoadYamlDocuments(yaml);
  if (!documents.ok()) {
    const std::string message(documents.status().message());
    return absl::InvalidArgumentError(absl::StartsWith(message, "line ")
                                          ? absl::StrCat(source_name, " ", message)
                                          : absl::StrCat(source_name, ": ", message));
  }
  if (documents->size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, " line ", (*documents)[1].line,
                                                   ": one YAML document expected, found more"));
  }
  if (documents->empty() || !documents->front().object.is_object() ||
      !documents->front().object.contains("rules")) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": expected a map with a \"rules\" list at the top"));
  }
  const YamlDocument& document = documents->front();
  PolicyReader reader(source_name, document.lines);
  if (absl::Status unknown = reader.RejectUnknown(document.object, "", {"rules"}, "rules");
      !unknown.ok()) {
    return unknown;
  }
  const json& rules = document.object.at("rules");
  if (!rules.is_array()) {
    return reader.Error("rules", absl::StrCat("rules must be a list, got ", JsonTypeName(rules)));
  }
  std::vector<PolicyRule> parsed;
  for (size_t i = 0; i < rules.size(); ++i) {
    absl::StatusOr<PolicyRule> rule = reader.Rule(rules[i], JsonPathIndex("rules", i));
    if (!rule.ok()) {
      return rule.status();
    }
    parsed.push_back(*std::move(rule));
  }
  return Policy(std::move(parsed));
}

absl::StatusOr<Policy> LoadPolicy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("--policy: cannot read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream content;
  content << in.rdbuf();
  return ParsePolicy(content.str(), path);
}

}  // namespace registrar::config
