#include "controller/kube/exec_credential.h"

#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/testing/status_matchers.h"

namespace registrar::kube {
namespace {

using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kV1[] = "client.authentication.k8s.io/v1";

std::string Answer(const std::string& status, const std::string& version = kV1) {
  return R"({"apiVersion":")" + version + R"(","kind":"ExecCredential","status":)" + status + "}";
}

TEST(ParseExecCredential, ReadsTokenAndExpiration) {
  absl::StatusOr<ExecCredential> c = ParseExecCredential(
      Answer(R"({"token":"abc","expirationTimestamp":"2026-01-01T00:10:00Z"})"), kV1);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->token, "abc");
  ASSERT_TRUE(c->expiration.has_value());
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(c->expiration->time_since_epoch())
                .count(),
            1767226200);
}

TEST(ParseExecCredential, ExpirationFormats) {
  struct Case {
    std::string stamp;
    int64_t want;  // unix seconds
  };
  const Case cases[] = {
      {"2026-01-01T00:10:00Z", 1767226200},
      {"2026-01-01T01:10:00+01:00", 1767226200},
      {"2026-01-01T00:10:00.123456789Z", 1767226200},
      {"1900-01-01T00:00:00Z", 0},            // long past: clamped to the epoch
      {"99999-01-01T00:00:00Z", 7258118400},  // far future: clamped to 2200 (system_clock ends
                                               // in 2262)
  };
  for (const Case& c : cases) {
    absl::StatusOr<ExecCredential> got =
        ParseExecCredential(Answer(R"({"token":"t","expirationTimestamp":")" + c.stamp + "\"}"),
                            kV1);
    ASSERT_THAT(got, IsOk()) << c.stamp;
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(
                  got->expiration->time_since_epoch())
                  .count(),
              c.want)
        << c.stamp;
  }
  absl::StatusOr<ExecCredential> none =
      ParseExecCredential(Answer(R"({"token":"t","expirationTimestamp":null})"), kV1);
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(none->expiration.has_value());
}

TEST(ParseExecCredential, Errors) {
  struct Case {
    std::string text;
    std::string want;
  };
  const Case cases[] = {
      {"", "its output is not a JSON object (0 bytes)"},
      {"secret-token-not-json", "its output is not a JSON object (21 bytes)"},
      {"[1]", "not a JSON object"},
      {Answer(R"({"token":"t"})", "client.authentication.k8s.io/v1beta1"),
       "it answered apiVersion \"client.authentication.k8s.io/v1beta1\", the kubeconfig asks "
       "for \"client.authentication.k8s.io/v1\""},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"Status","status":{}})",
       "it answered kind \"Status\", expected ExecCredential"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"})",
       "its answer has no status object"},
      {Answer("{}"), "its answer has no status.token"},
      {Answer(R"({"token":5})"), "must be strings"},
      {Answer(R"({"clientCertificateData":"C","clientKeyData":"K"})"),
       "it answered with a client certificate (clientCertificateData/clientKeyData); only "
       "tokens are supported"},
      {Answer(R"({"token":"t","expirationTimestamp":"tomorrow"})"),
       "status.expirationTimestamp \"tomorrow\" is not an RFC 3339 time"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ExecCredential> got = ParseExecCredential(c.text, kV1);
    EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument)) << c.text;
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(c.want)) << c.text;
    EXPECT_THAT(std::string(got.status().message()), Not(HasSubstr("secret-token"))) << c.text;
  }
}

TEST(ExecInfoJson, ClusterOnlyWhenAskedFor) {
  ExecConfig exec;
  exec.api_version = kV1;
  ClusterConfig cluster;
  cluster.server = "https://h:6443";
  cluster.tls_server_name = "kubernetes";
  cluster.insecure_skip_tls_verify = true;
  EXPECT_EQ(nlohmann::json::parse(ExecInfoJson(exec, cluster)),
            nlohmann::json::parse(R"({"apiVersion":"client.authentication.k8s.io/v1",
                "kind":"ExecCredential","spec":{"interactive":false}})"));
  exec.provide_cluster_info = true;
  EXPECT_EQ(nlohmann::json::parse(ExecInfoJson(exec, cluster)),
            nlohmann::json::parse(R"({"apiVersion":"client.authentication.k8s.io/v1",
                "kind":"ExecCredential","spec":{"interactive":false,"cluster":{
                "server":"https://h:6443","tls-server-name":"kubernetes",
                "insecure-skip-tls-verify":true}}})"));
}

}  // namespace
}  // namespace registrar::kube
