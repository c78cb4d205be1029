// File: controller/registration/policy_rules.h
//
// Whether a policy (config/policy.h, the `--policy FILE`) allows a registration: the rule of
// DESIGN.md §3. The reconciler asks before handing a registration to the engine; a denial is a
// refusal with a CRD reason (conditions.h) and a message for people.
//
// Rules:
//   - without a policy file: any key in any namespace, on the controller's own etcd only (no
//     spec.etcd endpoints, no insecureSkipVerify);
//   - with one: the first rule whose `namespaces` globs match the namespace decides; its `keys`
//     must match spec.key (else KeyNotAllowed), each endpoint must match one of its `endpoints`
//     (else EndpointNotAllowed), and insecureSkipVerify needs allowInsecureSkipVerify (else
//     EndpointNotAllowed). The key is checked first, then every endpoint, then insecureSkipVerify.
//     A namespace no rule matches may register nothing (KeyNotAllowed).
// Globs are fnmatch(3) patterns without flags: `*` (also across `/` and `.`), `?`, `[...]`.
//
// Cost: at most one fnmatch per glob of the rules up to the deciding one, per key and endpoint.
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <vector>

#include "controller/config/policy.h"
#include "controller/registration/types.h"

namespace registrar::registration {

struct PolicyDecision {
  bool allowed = true;
  std::string reason;   // when denied: kReasonKeyNotAllowed or kReasonEndpointNotAllowed
  std::string message;  // when denied: why, for people (status condition, event, log)
  bool operator==(const PolicyDecision&) const = default;
};

// May a registration of `key` in `namespace_name` be made on `endpoints` (empty = the
// controller's own etcd) with `insecure_skip_verify`?
PolicyDecision DecidePolicy(const config::Policy& policy, const std::string& namespace_name,
                            const std::string& key, const std::vector<std::string>& endpoints,
                            bool insecure_skip_verify);

// The same for an object: its namespace, spec.key and spec.etcd.
PolicyDecision DecidePolicy(const config::Policy& policy, const ServiceRegistration& object);

}  // namespace registrar::registration
