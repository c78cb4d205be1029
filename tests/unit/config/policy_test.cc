#include "controller/config/policy.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace registrar::config {
namespace {

using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kMultiTenant[] = R"(rules:
- namespaces: ["payments"]
  keys: ["payment.*"]
  endpoints: ["etcd-payments-0.etcd:2379", "etcd-payments-?.etcd:2379"]
  allowInsecureSkipVerify: false
- namespaces: ["lab-*"]
  keys: ["*"]
  endpoints: ["*.lab:2379"]
  allowInsecureSkipVerify: true
- namespaces: ["*"]
  keys: ["*"]
)";

Policy MustParse(const std::string& yaml) {
  auto policy = ParsePolicy(yaml, "policy.yaml");
  EXPECT_THAT(policy, IsOk());
  return policy.ok() ? *std::move(policy) : Policy();
}

TEST(Policy, DefaultAllowsAnyKeyOnTheOwnEtcdOnly) {
  Policy policy;
  EXPECT_TRUE(policy.Decide("any", "user.rpc", {}, false).allowed);
  Decision d = policy.Decide("any", "user.rpc", {"other:2379"}, false);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "EndpointNotAllowed");
  EXPECT_THAT(d.message, HasSubstr("other:2379"));
  d = policy.Decide("any", "user.rpc", {}, true);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "EndpointNotAllowed");
}

TEST(Policy, FirstRuleWhoseNamespacesMatchDecides) {
  Policy policy = MustParse(kMultiTenant);
  ASSERT_EQ(policy.rules().size(), 3u);
  EXPECT_TRUE(policy.Decide("payments", "payment.rpc", {}, false).allowed);
  // payments matches rule 1 only: the catch-all rule 3 never sees it.
  Decision d = policy.Decide("payments", "user.rpc", {}, false);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "KeyNotAllowed");
  EXPECT_THAT(d.message, HasSubstr("user.rpc"));
  EXPECT_THAT(d.message, HasSubstr("policy.yaml line 2"));
  EXPECT_TRUE(policy.Decide("shop", "user.rpc", {}, false).allowed);
}

TEST(Policy, EndpointsMustMatchTheRule) {
  Policy policy = MustParse(kMultiTenant);
  EXPECT_TRUE(
      policy.Decide("payments", "payment.rpc", {"etcd-payments-0.etcd:2379"}, false).allowed);
  EXPECT_TRUE(policy
                  .Decide("payments", "payment.rpc",
                          {"etcd-payments-0.etcd:2379", "etcd-payments-1.etcd:2379"}, false)
                  .allowed);
  Decision d =
      policy.Decide("payments", "payment.rpc", {"etcd-payments-0.etcd:2379", "evil:2379"}, false);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "EndpointNotAllowed");
  EXPECT_THAT(d.message, HasSubstr("evil:2379"));
  // The catch-all rule names no endpoints: only the controller's own etcd.
  d = policy.Decide("shop", "user.rpc", {"etcd-payments-0.etcd:2379"}, false);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "EndpointNotAllowed");
}

TEST(Policy, KeyIsCheckedBeforeEndpoints) {
  Policy policy = MustParse(kMultiTenant);
  Decision d = policy.Decide("payments", "user.rpc", {"evil:2379"}, false);
  EXPECT_EQ(d.reason, "KeyNotAllowed");
}

TEST(Policy, InsecureSkipVerifyNeedsTheRuleToAllowIt) {
  Policy policy = MustParse(kMultiTenant);
  EXPECT_TRUE(policy.Decide("lab-1", "x", {"e.lab:2379"}, true).allowed);
  Decision d = policy.Decide("payments", "payment.rpc", {"etcd-payments-0.etcd:2379"}, true);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "EndpointNotAllowed");
  EXPECT_THAT(d.message, HasSubstr("insecureSkipVerify"));
}

TEST(Policy, NoMatchingRuleDeniesEverything) {
  Policy policy = MustParse("rules:\n- namespaces: [a]\n  keys: ['*']\n");
  Decision d = policy.Decide("b", "k", {}, false);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "KeyNotAllowed");
  EXPECT_THAT(d.message, HasSubstr("\"b\""));
  EXPECT_FALSE(MustParse("rules: []\n").Decide("a", "k", {}, false).allowed);
}

TEST(Policy, GlobsUseQuestionMarkAndStarAcrossDots) {
  Policy policy = MustParse("rules:\n- namespaces: ['team-?']\n  keys: ['svc.*', 'a/*/c']\n");
  EXPECT_TRUE(policy.Decide("team-a", "svc.x.y", {}, false).allowed);
  EXPECT_TRUE(policy.Decide("team-a", "a/b/d/c", {}, false).allowed);
  EXPECT_FALSE(policy.Decide("team-ab", "svc.x", {}, false).allowed);
  EXPECT_FALSE(policy.Decide("team-a", "svcx", {}, false).allowed);
}

struct BadPolicyCase {
  std::string yaml;
  std::string expected;
};

class BadPolicyTest : public ::testing::TestWithParam<BadPolicyCase> {};

TEST_P(BadPolicyTest, ErrorNamesFileLineAndProblem) {
  auto policy = ParsePolicy(GetParam().yaml, "p.yaml");
  ASSERT_THAT(policy, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(policy.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Files, BadPolicyTest,
    ::testing::Values(
        BadPolicyCase{"rules: [\n", "p.yaml line"}, BadPolicyCase{"- a\n", "\"rules\""},
        BadPolicyCase{"rules: {}\n", "p.yaml line 1: rules must be a list"},
        BadPolicyCase{"rules: []\nextra: 1\n", "p.yaml line 2: unknown field \"extra\""},
        BadPolicyCase{"rules:\n- namespaces: [a]\n", "p.yaml line 2: a rule needs keys"},
        BadPolicyCase{"rules:\n- keys: [a]\n", "needs namespaces"},
        BadPolicyCase{"rules:\n- namespaces: [a]\n  keys: a\n", "p.yaml line 3: keys must be"},
        BadPolicyCase{"rules:\n- namespaces: [a]\n  keys: [a]\n  key: [b]\n",
                      "p.yaml line 4: unknown field \"key\""},
        BadPolicyCase{"rules:\n- namespaces: [a]\n  keys: [a]\n  allowInsecureSkipVerify: maybe\n",
                      "line 4: allowInsecureSkipVerify must be true or false"},
        BadPolicyCase{"rules:\n- namespaces: ['']\n  keys: [a]\n", "non-empty"},
        BadPolicyCase{"rules:\n- just-a-string\n", "a rule must be a map"}));

TEST(Policy, LoadPolicyReadsAFileAndNamesItInErrors) {
  const std::string path =
      ::testing::TempDir() + "/policy_test_" + std::to_string(getpid()) + ".yaml";
  std::ofstream(path) << kMultiTenant;
  auto policy = LoadPolicy(path);
  ASSERT_THAT(policy, IsOk());
  EXPECT_EQ(policy->rules().size(), 3u);
  std::ofstream(path) << "rules:\n- namespaces: [a]\n  oops: 1\n";
  policy = LoadPolicy(path);
  ASSERT_THAT(policy, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(policy.status().message(), HasSubstr(path + " line 3"));
  std::filesystem::remove(path);
  EXPECT_THAT(LoadPolicy(path), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace registrar::config
