// Credentials: a static token, a token file that rotates, and exec plugins (small shell scripts
// written by each test into its temp folder; each run appends a line to a file, so the tests
// count runs instead of guessing).
#include "controller/kube/credentials.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "controller/kube/exec_credential.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace registrar::kube {
namespace {

using ::registrar::testing::FakeClock;
using ::registrar::testing::IsOk;
using ::registrar::testing::IsOkAndHolds;
using ::registrar::testing::StatusIs;
using ::registrar::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kV1[] = "client.authentication.k8s.io/v1";

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Lines(const std::string& path) {
  std::string text = ReadFile(path);
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

// A plugin that counts its runs in <dir>/runs and prints `answer` (a shell word list; $n is the
// run number).
std::string WritePlugin(const TempDir& dir, const std::string& answer,
                        const std::string& before = "") {
  const std::string path = dir / "plugin.sh";
  WriteFile(path, "#!/bin/sh\n" + before + "\necho run >> '" + (dir / "runs") +
                      "'\nn=$(wc -l < '" + (dir / "runs") + "' | tr -d ' ')\n" + answer + "\n");
  chmod(path.c_str(), 0755);
  return path;
}

std::string TokenAnswer(const std::string& api_version, const std::string& expiration = "") {
  std::string status = "\\\"token\\\":\\\"tok-$n\\\"";
  if (!expiration.empty()) {
    status += ",\\\"expirationTimestamp\\\":\\\"" + expiration + "\\\"";
  }
  return "echo \"{\\\"apiVersion\\\":\\\"" + api_version +
         "\\\",\\\"kind\\\":\\\"ExecCredential\\\",\\\"status\\\":{" + status + "}}\"";
}

ClusterConfig ExecCluster(const std::string& command, const std::string& api_version = kV1) {
  ClusterConfig c;
  c.server = "https://api.test:6443";
  c.ca_pem = "CA";
  ExecConfig e;
  e.api_version = api_version;
  e.command = command;
  e.origin = "kubeconfig /k/config, user u";
  c.exec = e;
  return c;
}

TEST(Credentials, StaticToken) {
  FakeClock clock;
  ClusterConfig c;
  c.token = "static";
  auto creds = NewCredentials(c, clock);
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("static")));
  creds->Invalidate();
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("static")));
  EXPECT_THAT(NewCredentials(ClusterConfig{}, clock)->Token(), IsOkAndHolds(std::string()));
}

TEST(Credentials, TokenFileIsReadAgainWhenItChanges) {
  TempDir dir("er-token");
  FakeClock clock;
  ClusterConfig c;
  c.token = "ignored: the file wins";
  c.token_file = dir / "token";
  WriteFile(c.token_file, "first\n");
  auto creds = NewCredentials(c, clock);
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("first")));
  WriteFile(c.token_file, "second");  // rewritten in place
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("second")));
  // The kubelet's way: a new file renamed over the old one.
  WriteFile(dir / "token.new", "third");
  ASSERT_EQ(std::rename((dir / "token.new").c_str(), c.token_file.c_str()), 0);
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("third")));
  // A moment without the file keeps the last good token.
  ASSERT_EQ(std::remove(c.token_file.c_str()), 0);
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("third")));
}

TEST(Credentials, TokenFileErrorsNameTheFile) {
  TempDir dir("er-token");
  FakeClock clock;
  ClusterConfig c;
  c.token_file = dir / "token";
  auto creds = NewCredentials(c, clock);
  EXPECT_THAT(creds->Token(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(creds->Token().status().message()), HasSubstr(c.token_file));
  WriteFile(c.token_file, " \n");
  EXPECT_THAT(std::string(creds->Token().status().message()), HasSubstr("is empty"));
}

TEST(ExecCredentials, CachedUntilExpirationThenRunAgain) {
  TempDir dir("er-exec");
  FakeClock clock;  // WallNow(): 2026-01-01T01:00:00Z
  auto creds = NewCredentials(
      ExecCluster(WritePlugin(dir, TokenAnswer(kV1, "2026-01-01T01:10:00Z"))), clock);
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("tok-1")));
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("tok-1")));
  EXPECT_EQ(Lines(dir / "runs"), 1);
  clock.Advance(std::chrono::minutes(10));  // at the expiration: expired
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("tok-2")));
  EXPECT_EQ(Lines(dir / "runs"), 2);
}

TEST(ExecCredentials, AnExpiredAnswerIsRunAgainOnTheNextCall) {
  TempDir dir("er-exec");
  FakeClock clock;
  auto creds = NewCredentials(
      ExecCluster(WritePlugin(dir, TokenAnswer(kV1, "2020-01-01T00:00:00Z"))), clock);
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("tok-1")));
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("tok-2")));
  EXPECT_EQ(Lines(dir / "runs"), 2);
}

TEST(ExecCredentials, WithoutExpirationCachedUntilInvalidate) {
  TempDir dir("er-exec");
  FakeClock clock;
  auto creds = NewCredentials(ExecCluster(WritePlugin(dir, TokenAnswer(kV1))), clock);
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("tok-1")));
  clock.Advance(std::chrono::hours(24 * 365));
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("tok-1")));
  creds->Invalidate();
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("tok-2")));
  EXPECT_EQ(Lines(dir / "runs"), 2);
}

TEST(ExecCredentials, V1beta1) {
  TempDir dir("er-exec");
  FakeClock clock;
  const std::string v1beta1 = "client.authentication.k8s.io/v1beta1";
  auto creds =
      NewCredentials(ExecCluster(WritePlugin(dir, TokenAnswer(v1beta1)), v1beta1), clock);
  EXPECT_THAT(creds->Token(), IsOkAndHolds(std::string("tok-1")));
  // A plugin answering another version than the kubeconfig asks for is an error.
  auto mismatched = NewCredentials(ExecCluster(dir / "plugin.sh", kV1), clock);
  EXPECT_THAT(std::string(mismatched->Token().status().message()),
              HasSubstr("it answered apiVersion \"" + v1beta1 + "\""));
}

TEST(ExecCredentials, ANonZeroExitIsAnErrorWithItsStderr) {
  TempDir dir("er-exec");
  FakeClock clock;
  auto creds = NewCredentials(
      ExecCluster(WritePlugin(dir, "echo 'error: SSO session expired' >&2; exit 3")), clock);
  absl::StatusOr<std::string> token = creds->Token();
  EXPECT_THAT(token, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(token.status().message()),
              AllOf(HasSubstr("exec plugin \"" + (dir / "plugin.sh") +
                              "\" (kubeconfig /k/config, user u)"),
                    HasSubstr("exited with code 3"), HasSubstr("error: SSO session expired")));
  // A failure is not cached: the next call runs the plugin again.
  EXPECT_FALSE(creds->Token().ok());
  EXPECT_EQ(Lines(dir / "runs"), 2);
}

TEST(ExecCredentials, ACertificateAnswerIsAnError) {
  TempDir dir("er-exec");
  FakeClock clock;
  auto creds = NewCredentials(
      ExecCluster(WritePlugin(
          dir, "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
               "\"ExecCredential\",\"status\":{\"clientCertificateData\":\"C\","
               "\"clientKeyData\":\"K\"}}'")),
      clock);
  absl::StatusOr<std::string> token = creds->Token();
  EXPECT_THAT(token, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(token.status().message()), HasSubstr("only tokens are supported"));
}

TEST(ExecCredentials, AMissingCommandShowsTheInstallHint) {
  FakeClock clock;
  ClusterConfig c = ExecCluster("er-no-such-plugin-anywhere");
  c.exec->install_hint = "Install it with: apt-get install er-plugin";
  absl::StatusOr<std::string> token = NewCredentials(c, clock)->Token();
  EXPECT_THAT(token, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(token.status().message()),
              AllOf(HasSubstr("exec plugin \"er-no-such-plugin-anywhere\""),
                    HasSubstr("executable not found in PATH"),
                    HasSubstr("install hint: Install it with: apt-get install er-plugin")));
}

TEST(ExecCredentials, RunsWithTheExecInfoAndTheConfiguredEnvironment) {
  TempDir dir("er-exec");
  FakeClock clock;
  ClusterConfig c = ExecCluster(WritePlugin(
      dir, "printf '%s' \"$KUBERNETES_EXEC_INFO\" > '" + (dir / "info") + "'\necho \"$ER_A " +
               "$ER_B $PATH\" > '" + (dir / "env") + "'\ncat > '" + (dir / "stdin") + "'\n" +
               TokenAnswer(kV1)));
  c.exec->args = {"--flag"};
  c.exec->env = {{"ER_A", "from-config"}, {"ER_B", "b"}};
  c.exec->provide_cluster_info = true;
  setenv("ER_A", "from-parent", 1);
  absl::StatusOr<std::string> token = NewCredentials(c, clock)->Token();
  unsetenv("ER_A");
  ASSERT_THAT(token, IsOk());
  nlohmann::json info = nlohmann::json::parse(ReadFile(dir / "info"));
  EXPECT_EQ(info, nlohmann::json::parse(R"({"apiVersion":"client.authentication.k8s.io/v1",
      "kind":"ExecCredential","spec":{"interactive":false,"cluster":{
      "server":"https://api.test:6443","certificate-authority-data":"Q0E="}}})"));
  EXPECT_THAT(ReadFile(dir / "env"), HasSubstr("from-config b /"));  // ours plus the config's
  EXPECT_EQ(ReadFile(dir / "stdin"), "");                             // /dev/null
}

TEST(ExecCredentials, APluginPastItsDeadlineIsKilled) {
  TempDir dir("er-exec");
  const std::string plugin = WritePlugin(dir, "exec sleep 30");
  ClusterConfig c = ExecCluster(plugin);
  auto creds =
      NewExecCredentials(*c.exec, c, RealClock::Get(), std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::string> token = creds->Token();
  EXPECT_THAT(token, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(std::string(token.status().message()), HasSubstr("did not finish within 300 ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(ExecCredentials, ConcurrentCallsRunThePluginOnce) {
  TempDir dir("er-exec");
  FakeClock clock;
  auto creds =
      NewCredentials(ExecCluster(WritePlugin(dir, TokenAnswer(kV1), "sleep 0.3")), clock);
  std::vector<absl::StatusOr<std::string>> results(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = creds->Token(); });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  for (const auto& r : results) {
    EXPECT_THAT(r, IsOkAndHolds(std::string("tok-1")));
  }
  EXPECT_EQ(Lines(dir / "runs"), 1);
}

}  // namespace
}  // namespace registrar::kube
