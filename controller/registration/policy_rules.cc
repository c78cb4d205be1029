#include "controller/registration/policy_rules.h"

#include <fnmatch.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "controller/registration/conditions.h"

namespace registrar::registration {

namespace {

bool MatchesAny(const std::vector<std::string>& globs, const std::string& value) {
  for (const std::string& glob : globs) {
    if (fnmatch(glob.c_str(), value.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

PolicyDecision Deny(const char* reason, std::string message) {
  return PolicyDecision{.allowed = false, .reason = reason, .message = std::move(message)};
}

}  // namespace

PolicyDecision DecidePolicy(const config::Policy& policy, const std::string& namespace_name,
                            const std::string& key, const std::vector<std::string>& endpoints,
                            bool insecure_skip_verify) {
  if (!policy.from_file()) {
    if (!endpoints.empty()) {
      return Deny(kReasonEndpointNotAllowed,
                  absl::StrCat("etcd endpoints ", absl::StrJoin(endpoints, ","),
                               " are not allowed: without a policy file only the controller's "
                               "own etcd may be used"));
    }
    if (insecure_skip_verify) {
      return Deny(kReasonEndpointNotAllowed,
                  "insecureSkipVerify is not allowed without a policy file allowing it");
    }
    return PolicyDecision{};
  }
  for (const config::PolicyRule& rule : policy.rules()) {
    if (!MatchesAny(rule.namespaces, namespace_name)) {
      continue;
    }
    if (!MatchesAny(rule.keys, key)) {
      return Deny(kReasonKeyNotAllowed,
                  absl::StrCat("key \"", key, "\" is not allowed in namespace \"", namespace_name,
                               "\" by the policy rule at ", rule.source));
    }
    for (const std::string& endpoint : endpoints) {
      if (!MatchesAny(rule.endpoints, endpoint)) {
        return Deny(kReasonEndpointNotAllowed,
                    absl::StrCat("etcd endpoint \"", endpoint, "\" is not allowed in namespace \"",
                                 namespace_name, "\" by the policy rule at ", rule.source));
      }
    }
    if (insecure_skip_verify && !rule.allow_insecure_skip_verify) {
      return Deny(kReasonEndpointNotAllowed,
                  absl::StrCat("insecureSkipVerify is not allowed in namespace \"", namespace_name,
                               "\" by the policy rule at ", rule.source));
    }
    return PolicyDecision{};
  }
  return Deny(kReasonKeyNotAllowed,
              absl::StrCat("no policy rule matches namespace \"", namespace_name,
                           "\": it may not register any key"));
}

PolicyDecision DecidePolicy(const config::Policy& policy, const ServiceRegistration& object) {
  if (!object.spec.etcd) {
    return DecidePolicy(policy, object.metadata.namespace_, object.spec.key, {}, false);
  }
  return DecidePolicy(policy, object.metadata.namespace_, object.spec.key,
                      object.spec.etcd->endpoints, object.spec.etcd->insecure_skip_verify);
}

}  // namespace registrar::registration
