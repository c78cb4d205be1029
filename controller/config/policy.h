// File: controller/config/policy.h
//
// The `--policy FILE` of DESIGN.md §3: which namespaces may register which keys, on which etcd
// endpoints, with or without TLS verification.
//
//   rules:                          # the first rule whose namespaces match decides
//   - namespaces: ["payments"]      # globs
//     keys: ["payment.*"]           # globs over spec.key
//     endpoints: ["etcd-payments-0.etcd:2379"]  # etcd endpoints (globs) it may target besides
//                                                # the controller's own etcd
//     allowInsecureSkipVerify: false
//
// Globs are fnmatch(3) patterns without flags: `*` (also across `/` and `.`), `?`, `[...]`.
// Without a policy file (a default-constructed Policy) every namespace may register any key on
// the controller's own etcd and nothing else. With one, a namespace no rule matches may register
// nothing. A rule must name `namespaces` and `keys`; `endpoints` defaults to none and
// `allowInsecureSkipVerify` to false.
//
// Thread-safety: an immutable value after loading; Decide() is safe from any thread.
#pragma once

#include <string>
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

struct Decision {
  bool allowed = true;
  std::string reason;   // when denied: "KeyNotAllowed" or "EndpointNotAllowed" (condition reasons)
  std::string message;  // when denied: why, for people (status condition, event, log)
};

class Policy {
 public:
  // The default policy: any key, the controller's own etcd only.
  Policy() = default;
  explicit Policy(std::vector<PolicyRule> rules) : rules_(std::move(rules)), has_file_(true) {}

  // Decides whether a registration of `key` in `namespace_name` may be made on `endpoints`
  // (empty = the controller's own etcd) with `insecure_skip_verify`. The key is checked first,
  // then every endpoint, then insecure_skip_verify.
  Decision Decide(const std::string& namespace_name, const std::string& key,
                  const std::vector<std::string>& endpoints, bool insecure_skip_verify) const;

  const std::vector<PolicyRule>& rules() const { return rules_; }

 private:
  std::vector<PolicyRule> rules_;
  bool has_file_ = false;
};

// Loads a policy file. Errors: kInvalidArgument naming the file and line of the problem
// (syntax error, unknown field, wrong type, missing namespaces/keys), kNotFound when the file
// cannot be read.
absl::StatusOr<Policy> LoadPolicy(const std::string& path);
// The same for YAML text; `source_name` stands for the file in messages.
absl::StatusOr<Policy> ParsePolicy(const std::string& yaml, const std::string& source_name);

}  // namespace registrar::config
