#include "controller/config/policy.h"

#include <fnmatch.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "yaml-cpp/yaml.h"

namespace registrar::config {

namespace {

bool MatchesAny(const std::vector<std::string>& globs, const std::string& value) {
  for (const std::string& glob : globs) {
    if (fnmatch(glob.c_str(), value.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

Decision Deny(std::string reason, std::string message) {
  return Decision{.allowed = false, .reason = std::move(reason), .message = std::move(message)};
}

std::string Where(const std::string& source, const YAML::Mark& mark) {
  return absl::StrCat(source, " line ", mark.line + 1);
}

absl::StatusOr<std::vector<std::string>> GlobList(const YAML::Node& node, const std::string& field,
                                                  const std::string& source) {
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source, node.Mark()), ": ", field, " must be a list of globs"));
  }
  std::vector<std::string> globs;
  for (const YAML::Node& element : node) {
    if (!element.IsScalar() || element.Scalar().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(Where(source, element.Mark()), ": ", field,
                                                     " entries must be non-empty strings"));
    }
    globs.push_back(element.Scalar());
  }
  return globs;
}

absl::StatusOr<PolicyRule> ParseRule(const YAML::Node& node, const std::string& source) {
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source, node.Mark()), ": a rule must be a map"));
  }
  PolicyRule rule;
  rule.source = Where(source, node.Mark());
  bool has_namespaces = false;
  bool has_keys = false;
  for (const auto& field : node) {
    const std::string name = field.first.Scalar();
    const YAML::Node& value = field.second;
    if (name == "namespaces" || name == "keys" || name == "endpoints") {
      auto globs = GlobList(value, name, source);
      if (!globs.ok()) {
        return globs.status();
      }
      (name == "namespaces" ? rule.namespaces
       : name == "keys"     ? rule.keys
                            : rule.endpoints) = *std::move(globs);
      has_namespaces |= name == "namespaces";
      has_keys |= name == "keys";
    } else if (name == "allowInsecureSkipVerify") {
      bool allow = false;
      if (!value.IsScalar() || !YAML::convert<bool>::decode(value, allow)) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(source, value.Mark()), ": allowInsecureSkipVerify must be true or false"));
      }
      rule.allow_insecure_skip_verify = allow;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(source, field.first.Mark()), ": unknown field \"", name,
                       "\" (expected namespaces, keys, endpoints, allowInsecureSkipVerify)"));
    }
  }
  if (!has_namespaces || !has_keys) {
    return absl::InvalidArgumentError(absl::StrCat(rule.source, ": a rule needs ",
                                                   has_namespaces ? "keys" : "namespaces",
                                                   " (a list of globs)"));
  }
  return rule;
}

}  // namespace

Decision Policy::Decide(const std::string& namespace_name, const std::string& key,
                        const std::vector<std::string>& endpoints,
                        bool insecure_skip_verify) const {
  if (!has_file_) {
    if (!endpoints.empty()) {
      return Deny("EndpointNotAllowed",
                  absl::StrCat("etcd endpoints ", absl::StrJoin(endpoints, ","),
                               " are not allowed: without a policy file only the controller's "
                               "own etcd may be used"));
    }
    if (insecure_skip_verify) {
      return Deny("EndpointNotAllowed",
                  "insecureSkipVerify is not allowed without a policy file allowing it");
    }
    return Decision{};
  }
  for (const PolicyRule& rule : rules_) {
    if (!MatchesAny(rule.namespaces, namespace_name)) {
      continue;
    }
    if (!MatchesAny(rule.keys, key)) {
      return Deny("KeyNotAllowed",
                  absl::StrCat("key \"", key, "\" is not allowed in namespace \"", namespace_name,
                               "\" by the policy rule at ", rule.source));
    }
    for (const std::string& endpoint : endpoints) {
      if (!MatchesAny(rule.endpoints, endpoint)) {
        return Deny("EndpointNotAllowed",
                    absl::StrCat("etcd endpoint \"", endpoint, "\" is not allowed in namespace \"",
                                 namespace_name, "\" by the policy rule at ", rule.source));
      }
    }
    if (insecure_skip_verify && !rule.allow_insecure_skip_verify) {
      return Deny("EndpointNotAllowed",
                  absl::StrCat("insecureSkipVerify is not allowed in namespace \"", namespace_name,
                               "\" by the policy rule at ", rule.source));
    }
    return Decision{};
  }
  return Deny("KeyNotAllowed", absl::StrCat("no policy rule matches namespace \"", namespace_name,
                                            "\": it may not register any key"));
}

absl::StatusOr<Policy> ParsePolicy(const std::string& yaml, const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, " line ", e.mark.line + 1, ": ", e.msg));
  }
  if (!root.IsMap() || !root["rules"]) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": expected a map with a \"rules\" list at the top"));
  }
  for (const auto& field : root) {
    if (field.first.Scalar() != "rules") {
      return absl::InvalidArgumentError(absl::StrCat(Where(source_name, field.first.Mark()),
                                                     ": unknown field \"", field.first.Scalar(),
                                                     "\" (expected rules)"));
    }
  }
  const YAML::Node rules = root["rules"];
  if (!rules.IsSequence()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source_name, rules.Mark()), ": rules must be a list"));
  }
  std::vector<PolicyRule> parsed;
  for (const YAML::Node& node : rules) {
    auto rule = ParseRule(node, source_name);
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
