#include "controller/registration/policy_rules.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/registration/conditions.h"

namespace registrar::registration {
namespace {

using ::testing::HasSubstr;

config::PolicyRule Rule(std::vector<std::string> namespaces, std::vector<std::string> keys,
                        std::vector<std::string> endpoints, bool allow_insecure,
                        std::string source) {
  config::PolicyRule rule;
  rule.namespaces = std::move(namespaces);
  rule.keys = std::move(keys);
  rule.endpoints = std::move(endpoints);
  rule.allow_insecure_skip_verify = allow_insecure;
  rule.source = std::move(source);
  return rule;
}

config::Policy MultiTenant() {
  return config::Policy({
      Rule({"payments"}, {"payment.*"}, {"etcd-payments-0.etcd:2379", "etcd-payments-?.etcd:2379"},
           false, "policy.yaml line 2"),
      Rule({"lab-*"}, {"*"}, {"*.lab:2379"}, true, "policy.yaml line 6"),
      Rule({"team-?"}, {"svc.*", "a/*/c"}, {}, false, "policy.yaml line 10"),
      Rule({"*"}, {"*"}, {}, false, "policy.yaml line 12"),
  });
}

struct Case {
  const char* name;
  config::Policy policy;
  std::string namespace_name;
  std::string key;
  std::vector<std::string> endpoints;
  bool insecure = false;
  const char* reason = "";   // "": allowed
  std::string message = "";  // a substring of the denial's message
};

TEST(DecidePolicy, Table) {
  const config::Policy none;
  const config::Policy multi = MultiTenant();
  const config::Policy only_a({Rule({"a"}, {"*"}, {}, false, "p line 2")});
  const config::Policy empty(std::vector<config::PolicyRule>{});
  const Case cases[] = {
      // Without a policy file: any key, the controller's own etcd only.
      {"no file: any key", none, "any", "user.rpc", {}},
      {"no file: no endpoints",
       none,
       "any",
       "user.rpc",
       {"other:2379"},
       false,
       kReasonEndpointNotAllowed,
       "other:2379"},
      {"no file: no insecure",
       none,
       "any",
       "user.rpc",
       {},
       true,
       kReasonEndpointNotAllowed,
       "insecureSkipVerify"},
      // The first rule whose namespaces match decides; the catch-all never sees payments.
      {"own key", multi, "payments", "payment.rpc", {}},
      {"other key",
       multi,
       "payments",
       "user.rpc",
       {},
       false,
       kReasonKeyNotAllowed,
       "policy.yaml line 2"},
      {"catch-all", multi, "shop", "user.rpc", {}},
      // Endpoints: each must match the rule; the catch-all names none.
      {"listed endpoint", multi, "payments", "payment.rpc", {"etcd-payments-0.etcd:2379"}},
      {"globbed endpoints",
       multi,
       "payments",
       "payment.rpc",
       {"etcd-payments-0.etcd:2379", "etcd-payments-1.etcd:2379"}},
      {"one bad endpoint",
       multi,
       "payments",
       "payment.rpc",
       {"etcd-payments-0.etcd:2379", "evil:2379"},
       false,
       kReasonEndpointNotAllowed,
       "\"evil:2379\""},
      {"catch-all has no endpoints",
       multi,
       "shop",
       "user.rpc",
       {"etcd-payments-0.etcd:2379"},
       false,
       kReasonEndpointNotAllowed,
       "policy.yaml line 12"},
      {"key before endpoints",
       multi,
       "payments",
       "user.rpc",
       {"evil:2379"},
       false,
       kReasonKeyNotAllowed,
       "user.rpc"},
      // insecureSkipVerify needs the rule to allow it.
      {"insecure allowed", multi, "lab-1", "x", {"e.lab:2379"}, true},
      {"insecure denied",
       multi,
       "payments",
       "payment.rpc",
       {"etcd-payments-0.etcd:2379"},
       true,
       kReasonEndpointNotAllowed,
       "insecureSkipVerify"},
      // Globs: fnmatch without flags, `*` across dots and slashes.
      {"? is one character", multi, "team-a", "svc.x.y", {}},
      {"* crosses slashes", multi, "team-a", "a/b/d/c", {}},
      {"? is not two", multi, "team-ab", "svc.x", {}},  // falls to the catch-all
      {"glob must match whole key",
       multi,
       "team-a",
       "svcx",
       {},
       false,
       kReasonKeyNotAllowed,
       "policy.yaml line 10"},
      // A namespace no rule matches may register nothing.
      {"no rule matches", only_a, "b", "k", {}, false, kReasonKeyNotAllowed, "\"b\""},
      {"no rules at all", empty, "a", "k", {}, false, kReasonKeyNotAllowed, "\"a\""},
  };
  for (const Case& c : cases) {
    PolicyDecision d = DecidePolicy(c.policy, c.namespace_name, c.key, c.endpoints, c.insecure);
    EXPECT_EQ(d.allowed, std::string(c.reason).empty()) << c.name;
    EXPECT_EQ(d.reason, c.reason) << c.name;
    EXPECT_THAT(d.message, HasSubstr(c.message)) << c.name;
  }
}

TEST(DecidePolicy, ReadsNamespaceKeyAndEtcdOfAnObject) {
  const config::Policy multi = MultiTenant();
  ServiceRegistration r;
  r.metadata.namespace_ = "payments";
  r.spec.key = "payment.rpc";
  EXPECT_TRUE(DecidePolicy(multi, r).allowed);
  r.spec.etcd.emplace().endpoints = {"etcd-payments-0.etcd:2379"};
  EXPECT_TRUE(DecidePolicy(multi, r).allowed);
  r.spec.etcd->insecure_skip_verify = true;
  EXPECT_EQ(DecidePolicy(multi, r).reason, kReasonEndpointNotAllowed);
  r.spec.etcd.reset();
  r.spec.key = "user.rpc";
  EXPECT_EQ(DecidePolicy(multi, r).reason, kReasonKeyNotAllowed);
}

}  // namespace
}  // namespace registrar::registration
