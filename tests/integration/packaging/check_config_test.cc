// `etcd-registrar check-config [flags]` run as a process: good flags, --config files and policies
// are accepted (exit 0, a summary on stdout); a bad flag, config key or policy is exit 2 with one
// line on stderr naming what is wrong. No etcd or API server is needed: nothing is contacted.
#include <fstream>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/packaging/packaging_harness.h"
#include "tests/testing/temp_dir.h"

namespace registrar::testing {
namespace {

using ::testing::HasSubstr;

class CheckConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_ / name;
    std::ofstream(path) << content;
    return path;
  }
  static CommandOutput Run(std::vector<std::string> args) {
    args.insert(args.begin(), "check-config");
    auto out = RunCommand(RegistrarPath(), args);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : CommandOutput{};
  }
  static void ExpectRejected(const std::vector<std::string>& args, const std::string& needle) {
    CommandOutput out = Run(args);
    EXPECT_EQ(out.exit_code, 2) << out.out;
    const std::string err(absl::StripTrailingAsciiWhitespace(out.err));
    EXPECT_THAT(err, HasSubstr(needle));
    EXPECT_EQ(err.find('\n'), std::string::npos) << "more than one line:\n" << out.err;
    EXPECT_THAT(err, ::testing::StartsWith("etcd-registrar check-config: "));
  }

  TempDir dir_{"er-check-config"};
};

TEST_F(CheckConfigTest, AcceptsGoodFlagsAndSummarizesThem) {
  CommandOutput out = Run({"--owner-id=prod-a", "--etcd-endpoints=10.0.0.1:2379,10.0.0.2:2379",
                           "--namespace=team-a", "--selector=team=a", "--log-format=json",
                           "--http-addr=0.0.0.0:8080"});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_THAT(out.out, HasSubstr("ok: Kubernetes, namespace team-a, selector team=a"));
  EXPECT_THAT(out.out, HasSubstr("etcd: 10.0.0.1:2379,10.0.0.2:2379"));
  EXPECT_THAT(out.out, HasSubstr("owner id: prod-a"));
  EXPECT_THAT(out.out, HasSubstr("policy: default"));
  EXPECT_EQ(out.err, "");
}

TEST_F(CheckConfigTest, AcceptsAConfigFileAndAPolicy) {
  const std::string password = Write("password", "secret\n");
  const std::string config = Write("config.yaml",
                                   "etcd-endpoints: [etcd.etcd.svc:2379]\n"
                                   "etcd-username: registrar\n"
                                   "etcd-password-file: " +
                                       password + "\n");
  const std::string policy = Write("policy.yaml",
                                   "rules:\n"
                                   "  - namespaces: [payments]\n"
                                   "    keys: [\"payment.*\"]\n"
                                   "  - namespaces: [\"*\"]\n"
                                   "    keys: [\"*.rpc\"]\n");
  CommandOutput out = Run({"--config", config, "--policy", policy, "--owner-id", "x"});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_THAT(out.out, HasSubstr("etcd: etcd.etcd.svc:2379, user registrar"));
  EXPECT_THAT(out.out, HasSubstr("(2 rules)"));
  EXPECT_EQ(out.out.find("secret"), std::string::npos) << "the password leaked: " << out.out;
}

TEST_F(CheckConfigTest, ManifestModeWithoutOwnerIdSaysWhichDefault) {
  CommandOutput out = Run({"--manifests", dir_.path()});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_THAT(out.out, HasSubstr("manifests in " + dir_.path()));
  EXPECT_THAT(out.out, HasSubstr("local-<machine-id>"));
}

TEST_F(CheckConfigTest, HelpExitsZero) {
  CommandOutput out = Run({"--help"});
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_THAT(out.out, HasSubstr("--owner-id"));
}

TEST_F(CheckConfigTest, RejectsBadFlags) {
  ExpectRejected({"--etcd-endpoints=nohost"}, "--etcd-endpoints");
  ExpectRejected({"--no-such-flag"}, "--no-such-flag");
  ExpectRejected({"--owner-id=a/b"}, "--owner-id");
  ExpectRejected({"--workers=0"}, "--workers");
  ExpectRejected({"--log-level=loud"}, "--log-level");
  ExpectRejected({"--etcd-cert", dir_ / "missing.crt"}, "--etcd-cert");
  ExpectRejected({"--manifests", dir_.path(), "--kubeconfig", "/etc/hostname"}, "excludes");
}

TEST_F(CheckConfigTest, RejectsBadConfigFiles) {
  const std::string unknown = Write("unknown.yaml", "etcd-endpoints: [a:2379]\nno-such-key: 1\n");
  ExpectRejected({"--config", unknown}, "no-such-key");
  const std::string bad_value = Write("bad.yaml", "resync-period: soon\n");
  ExpectRejected({"--config", bad_value}, "--resync-period");
  const std::string empty_password = Write("empty", "");
  const std::string with_password =
      Write("pw.yaml", "etcd-username: u\netcd-password-file: " + empty_password + "\n");
  ExpectRejected({"--config", with_password}, "is empty");
}

TEST_F(CheckConfigTest, RejectsBadPolicies) {
  const std::string no_keys = Write("no-keys.yaml", "rules:\n  - namespaces: [a]\n");
  ExpectRejected({"--policy", no_keys}, "line 2");
  const std::string unknown = Write("unknown.yaml",
                                    "rules:\n  - namespaces: [a]\n    keys: [b]\n"
                                    "    color: red\n");
  ExpectRejected({"--policy", unknown}, "color");
  const std::string yes = Write("yes.yaml",
                                "rules:\n  - namespaces: [a]\n    keys: [b]\n"
                                "    allowInsecureSkipVerify: yes\n");
  ExpectRejected({"--policy", yes}, "allowInsecureSkipVerify");
  ExpectRejected({"--policy", dir_ / "missing.yaml"}, "--policy");
}

}  // namespace
}  // namespace registrar::testing
