// File: controller/config/policy.h
//
// Loading the `--policy FILE` of DESIGN.md §3: which namespaces may register which keys, on which
// etcd endpoints, with or without TLS verification. This module only reads and checks the file;
// what a policy allows is registration/policy_rules.h's rule.
//
//   rules:                          # the first rule whose namespaces match decides
//   - namespaces: ["payments"]      # globs
//     keys: ["payment.*"]           # globs over spec.key
//     endpoints: ["etcd-payments-0.etcd:2379"]  # etcd endpoints (globs) it may target besides
//                                                # the controller's own etcd
//     allowInsecureSkipVerify: false
//
// The file is read by common/yaml_json.h, like manifests: YAML 1.2 scalars, so
// allowInsecureSkipVerify takes `true`/`false` only (`yes`/`on` are strings, and an error here),
// and glob entries must be strings (quote one that looks like a number). A rule must name
// `namespaces` and `keys`; `endpoints` defaults to none and `allowInsecureSkipVerify` to false.
// Without a policy file (a default-constructed Policy) every namespace may register any key on
// the controller's own etcd and nothing else.
//
// Thread-safety: an immutable value after loading.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace registrar::config {

struct PolicyRule {
  std::vector<std::string> namespaces;
  std::vector<std::string> keys;
  std::vector<std::string> endpoints;
  bool allow_insecure_skip_verify = false;
  std::string source;  // "file line N", for messages
};

class Policy {
 public:
  // No policy file: any key, the controller's own etcd only.
  Policy() = default;
  // A policy file with these rules (none: nothing is allowed).
  explicit Policy(std::vector<PolicyRule> rules) : rules_(std::move(rules)), from_file_(true) {}

  bool from_file() const { return from_file_; }
  const std::vector<PolicyRule>& rules() const { return rules_; }

 private:
  std::vector<PolicyRule> rules_;
  bool from_file_ = false;
};

// Loads a policy file. Errors: kInvalidArgument naming the file and line of the problem
// (syntax error, unknown field, wrong type, missing namespaces/keys), kNotFound when the file
// cannot be read.
absl::StatusOr<Policy> LoadPolicy(const std::string& path);
// The same for YAML text; `source_name` stands for the file in messages.
absl::StatusOr<Policy> ParsePolicy(const std::string& yaml, const std::string& source_name);

}  // namespace registrar::config
