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
using ::testing::ElementsAre;
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

TEST(Policy, DefaultIsNotFromAFile) {
  Policy policy;
  EXPECT_FALSE(policy.from_file());
  EXPECT_TRUE(policy.rules().empty());
  EXPECT_TRUE(MustParse("rules: []\n").from_file());
}

TEST(Policy, ReadsEveryFieldOfEveryRule) {
  Policy policy = MustParse(kMultiTenant);
  ASSERT_EQ(policy.rules().size(), 3u);
  const PolicyRule& payments = policy.rules()[0];
  EXPECT_THAT(payments.namespaces, ElementsAre("payments"));
  EXPECT_THAT(payments.keys, ElementsAre("payment.*"));
  EXPECT_THAT(payments.endpoints,
              ElementsAre("etcd-payments-0.etcd:2379", "etcd-payments-?.etcd:2379"));
  EXPECT_FALSE(payments.allow_insecure_skip_verify);
  EXPECT_EQ(payments.source, "policy.yaml line 2");
  EXPECT_TRUE(policy.rules()[1].allow_insecure_skip_verify);
  EXPECT_EQ(policy.rules()[1].source, "policy.yaml line 6");
  EXPECT_TRUE(policy.rules()[2].endpoints.empty());
  EXPECT_FALSE(policy.rules()[2].allow_insecure_skip_verify);
}

// The policy file is read like a manifest (YAML 1.2): `yes`/`on` are strings, not booleans, so
// where a boolean belongs they are an error that says why.
TEST(Policy, YesIsAStringAsInAManifest) {
  for (const char* word : {"yes", "on", "Yes", "ON", "y"}) {
    auto policy = ParsePolicy(
        std::string("rules:\n- namespaces: [a]\n  keys: [a]\n  allowInsecureSkipVerify: ") + word +
            "\n",
        "p.yaml");
    ASSERT_THAT(policy, StatusIs(absl::StatusCode::kInvalidArgument)) << word;
    EXPECT_EQ(policy.status().message(),
              std::string("p.yaml line 4: allowInsecureSkipVerify must be true or false, got "
                          "string \"") +
                  word + "\" (YAML 1.2 reads yes/no/on/off as strings)");
  }
  for (const char* word : {"true", "True", "TRUE"}) {
    Policy policy = MustParse(
        std::string("rules:\n- namespaces: [a]\n  keys: [a]\n  allowInsecureSkipVerify: ") + word +
        "\n");
    ASSERT_EQ(policy.rules().size(), 1u);
    EXPECT_TRUE(policy.rules()[0].allow_insecure_skip_verify) << word;
  }
  // A glob that YAML 1.2 reads as a number or boolean must be quoted.
  auto numeric = ParsePolicy("rules:\n- namespaces: [a]\n  keys: [123]\n", "p.yaml");
  ASSERT_THAT(numeric, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(numeric.status().message(),
              HasSubstr("p.yaml line 3: keys entries must be non-empty strings, got integer "
                        "(quote a glob that looks like a number)"));
  EXPECT_THAT(
      MustParse("rules:\n- namespaces: [yes, 'no']\n  keys: ['123']\n").rules()[0].namespaces,
      ElementsAre("yes", "no"));
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
        BadPolicyCase{"rules:\n- just-a-string\n", "a rule must be a map"},
        BadPolicyCase{"rules: []\nrules: []\n", "p.yaml line 2, column 1: duplicate key \"rules\""},
        BadPolicyCase{"rules: []\n---\nrules: []\n", "p.yaml line 3: one YAML document expected"},
        BadPolicyCase{"", "expected a map with a \"rules\" list"},
        BadPolicyCase{"rules: [\xff]\n", "p.yaml line 1, column 9: not UTF-8 text"},
        // Issue 12 item 6: globs fnmatch takes silently but that can never match.
        BadPolicyCase{"rules:\n- namespaces: [a]\n  keys: [ok, \"[z-a]\"]\n",
                      "p.yaml line 3: rules[0].keys[1]: glob \"[z-a]\" cannot be used: the range "
                      "z-a is reversed"},
        BadPolicyCase{"rules:\n- namespaces: [\"[[:nope:]]\"]\n  keys: [a]\n",
                      "unknown character class [:nope:]"},
        BadPolicyCase{"rules:\n- namespaces: [a]\n  keys: [a]\n  endpoints: [\"etcd[0-9\"]\n",
                      "rules[0].endpoints[0]: glob \"etcd[0-9\" cannot be used: the \"[\" at "
                      "offset 4 is never closed"},
        BadPolicyCase{"rules:\n- namespaces: [a]\n  keys: [\"a\\\\\"]\n", "lone \\"}));

TEST(Policy, WellFormedGlobsAreAccepted) {
  auto policy = ParsePolicy(
      "rules:\n- namespaces: [\"*\", \"team-?\", \"[a-z]*\", \"[!x]y\", \"[]a]\", "
      "\"[[:alpha:]]*\", \"\\\\[literal\", \"[a-]\", \"[[.-.]]\"]\n  keys: [\"payment.*\"]\n",
      "p.yaml");
  ASSERT_THAT(policy, IsOk());
  EXPECT_EQ(policy->rules().front().namespaces.size(), 9u);
}

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
