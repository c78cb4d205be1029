#include "controller/config/options.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace registrar::config {
namespace {

using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class OptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("options_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << content;
    return path;
  }

  static absl::StatusOr<Command> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "etcd-registrar");
    std::vector<const char*> argv;
    for (const std::string& a : args) {
      argv.push_back(a.c_str());
    }
    return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  }

  std::filesystem::path dir_;
};

TEST_F(OptionsTest, DefaultsWithoutFlags) {
  auto command = Parse({});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->kind, Command::Kind::kController);
  const Options& o = command->controller;
  EXPECT_EQ(o.workers, 4);
  EXPECT_THAT(o.etcd.endpoints, ElementsAre("127.0.0.1:2379"));
  EXPECT_EQ(o.owner_prefix, "/etcd-registrar/owners/");
  EXPECT_EQ(o.http_addr, "127.0.0.1:8080");
  EXPECT_EQ(o.log_level, "info");
  EXPECT_EQ(o.log_format, "text");
  EXPECT_FALSE(o.dry_run);
  EXPECT_FALSE(o.etcd.insecure_skip_verify);
  EXPECT_TRUE(o.manifests.empty());
}

// Every flag of Kubernetes mode (--manifests and the flags it excludes: the tests below).
TEST_F(OptionsTest, ParsesEveryControllerFlag) {
  const std::string ca = Write("ca.pem", "ca");
  const std::string cert = Write("cert.pem", "cert");
  const std::string key = Write("key.pem", "key");
  const std::string password = Write("password", "s3cret\n");
  const std::string policy = Write("policy.yaml", "rules: []\n");
  auto command = Parse({"--namespace",
                        "payments",
                        "--selector",
                        "app=x",
                        "--workers",
                        "7",
                        "--etcd-endpoints",
                        "a:2379,b:2380",
                        "--etcd-username",
                        "root",
                        "--etcd-password-file",
                        password,
                        "--etcd-ca",
                        ca,
                        "--etcd-cert",
                        cert,
                        "--etcd-key",
                        key,
                        "--etcd-insecure-skip-verify",
                        "--owner-prefix",
                        "/own/",
                        "--owner-id",
                        "me",
                        "--policy",
                        policy,
                        "--dry-run",
                        "--http-addr",
                        "0.0.0.0:9090",
                        "--log-level",
                        "debug",
                        "--log-format",
                        "json"});
  ASSERT_THAT(command, IsOk());
  const Options& o = command->controller;
  EXPECT_EQ(o.watch_namespace, "payments");
  EXPECT_EQ(o.selector, "app=x");
  EXPECT_EQ(o.workers, 7);
  EXPECT_THAT(o.etcd.endpoints, ElementsAre("a:2379", "b:2380"));
  EXPECT_EQ(o.etcd.username, "root");
  EXPECT_EQ(o.etcd.password_file, password);
  EXPECT_EQ(o.etcd.password, "s3cret");
  EXPECT_EQ(o.etcd.ca_file, ca);
  EXPECT_EQ(o.etcd.cert_file, cert);
  EXPECT_EQ(o.etcd.key_file, key);
  EXPECT_TRUE(o.etcd.insecure_skip_verify);
  EXPECT_EQ(o.owner_prefix, "/own/");
  EXPECT_EQ(o.owner_id, "me");
  EXPECT_EQ(o.policy, policy);
  EXPECT_TRUE(o.dry_run);
  EXPECT_EQ(o.http_addr, "0.0.0.0:9090");
  EXPECT_EQ(o.log_level, "debug");
  EXPECT_EQ(o.log_format, "json");
}

// A folder that is missing at start is the source's to wait for (nothing may be revoked because
// a folder is broken), not a flag error.
TEST_F(OptionsTest, ManifestsFolderMayBeMissingAtStart) {
  auto command = Parse({"--manifests", "/no/such/dir"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->controller.manifests, "/no/such/dir");
}

TEST_F(OptionsTest, KubeconfigFlag) {
  const std::string kubeconfig = Write("kubeconfig", "apiVersion: v1\n");
  auto command = Parse({"--kubeconfig", kubeconfig});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->controller.kubeconfig, kubeconfig);
}

TEST_F(OptionsTest, KubernetesClientFlags) {
  auto command = Parse({"--context", "staging", "--kube-api-qps", "20", "--kube-api-burst", "40",
                        "--resync-period", "5m"});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->controller.context, "staging");
  EXPECT_EQ(command->controller.kube_api_qps, 20);
  EXPECT_EQ(command->controller.kube_api_burst, 40);
  EXPECT_EQ(command->controller.resync_seconds, 300);
}

TEST_F(OptionsTest, KubernetesClientDefaults) {
  auto command = Parse({});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->controller.context, "");
  EXPECT_EQ(command->controller.kube_api_qps, 50);
  EXPECT_EQ(command->controller.kube_api_burst, 100);
  EXPECT_EQ(command->controller.resync_seconds, 600);
}

TEST_F(OptionsTest, ResyncPeriodForms) {
  for (const auto& [text, seconds] : std::vector<std::pair<std::string, int64_t>>{
           {"0", 0}, {"90", 90}, {"90s", 90}, {"2m", 120}, {"1h", 3600}}) {
    auto command = Parse({"--resync-period", text});
    ASSERT_THAT(command, IsOk()) << text;
    EXPECT_EQ(command->controller.resync_seconds, seconds) << text;
  }
}

TEST_F(OptionsTest, BadKubernetesClientFlagsNameTheFlag) {
  EXPECT_THAT(Parse({"--resync-period", "10d"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--resync-period")));
  EXPECT_THAT(Parse({"--resync-period", "soon"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--resync-period")));
  EXPECT_THAT(Parse({"--kube-api-qps", "0"}), IsOk());  // no limit
  EXPECT_THAT(Parse({"--kube-api-qps", "-1"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--kube-api-qps")));
  EXPECT_THAT(Parse({"--kube-api-burst", "0"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--kube-api-burst")));
  EXPECT_THAT(Parse({"--manifests", "/tmp", "--context", "x"}), Not(IsOk()));
}

// The Kubernetes-only flags would be ignored in manifest mode: refused, naming both flags.
TEST_F(OptionsTest, KubernetesOnlyFlagsAreRefusedWithManifests) {
  for (const char* flag : {"--namespace", "--selector", "--kube-api-qps", "--kube-api-burst"}) {
    SCOPED_TRACE(flag);
    EXPECT_THAT(Parse({"--manifests", "/tmp", flag, "5"}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("--manifests"), HasSubstr(flag))));
    EXPECT_THAT(Parse({flag, "5"}), IsOk());
  }
}

TEST_F(OptionsTest, ConfigFileMergesAndFlagWins) {
  const std::string config = Write("config.yaml",
                                   "workers: 9\n"
                                   "etcd-endpoints: [x:1, y:2]\n"
                                   "log-format: json\n"
                                   "dry-run: true\n"
                                   "owner-id: from-file\n");
  auto command = Parse({"--config", config, "--workers", "2", "--owner-id", "from-flag"});
  ASSERT_THAT(command, IsOk());
  const Options& o = command->controller;
  EXPECT_EQ(o.workers, 2);
  EXPECT_EQ(o.owner_id, "from-flag");
  EXPECT_THAT(o.etcd.endpoints, ElementsAre("x:1", "y:2"));
  EXPECT_EQ(o.log_format, "json");
  EXPECT_TRUE(o.dry_run);
}

TEST_F(OptionsTest, ConfigFileAcceptsCommaSeparatedEndpoints) {
  const std::string config = Write("config.yaml", "etcd-endpoints: \"x:1,y:2\"\n");
  auto command = Parse({"--config", config});
  ASSERT_THAT(command, IsOk());
  EXPECT_THAT(command->controller.etcd.endpoints, ElementsAre("x:1", "y:2"));
}

TEST_F(OptionsTest, UnknownConfigKeyNamesKeyFileAndLine) {
  const std::string config = Write("config.yaml", "workers: 2\nworkerz: 3\n");
  auto command = Parse({"--config", config});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr("unknown key \"workerz\""));
  EXPECT_THAT(command.status().message(), HasSubstr(config + " line 2"));
}

TEST_F(OptionsTest, BadYamlInConfigNamesFileAndLine) {
  const std::string config = Write("config.yaml", "workers: 2\nlog-level: [info\n");
  auto command = Parse({"--config", config});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr(config + " line"));
}

TEST_F(OptionsTest, ConfigKeyThatIsNotASettingIsRejected) {
  const std::string config = Write("config.yaml", "config: other.yaml\n");
  auto command = Parse({"--config", config});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr("config"));
}

TEST_F(OptionsTest, MissingConfigFileIsAnError) {
  auto command = Parse({"--config", (dir_ / "nope.yaml").string()});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr("nope.yaml"));
}

TEST_F(OptionsTest, BadValueInConfigFileIsRejected) {
  const std::string config = Write("config.yaml", "log-format: xml\n");
  auto command = Parse({"--config", config});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr("--log-format"));
}

TEST_F(OptionsTest, BadValueFromConfigFileNamesFileAndLine) {
  const std::string config = Write("config.yaml", "owner-id: x\nworkers: abc\n");
  auto command = Parse({"--config", config});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr(config + " line 2"));
  EXPECT_THAT(command.status().message(), HasSubstr("--workers"));

  const std::string zero = Write("zero.yaml", "workers: 0\n");
  command = Parse({"--config", zero});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr(zero + " line 1: --workers"));

  // The same key given as a flag wins, so the file's bad value is never used.
  EXPECT_THAT(Parse({"--config", config, "--workers", "3"}), IsOk());
}

// The config file is read like a manifest (YAML 1.2): `yes`/`on` are strings, so a flag setting
// given one is an error saying why (yaml-cpp's YAML 1.1 converters used to take it for true).
TEST_F(OptionsTest, ConfigFlagSettingsTakeTrueOrFalseOnly) {
  for (const char* word : {"yes", "on", "Y", "1"}) {
    const std::string config =
        Write("config.yaml", std::string("workers: 2\ndry-run: ") + word + "\n");
    auto command = Parse({"--config", config});
    ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument)) << word;
    const bool yaml11 = std::string(word) != "1";
    EXPECT_EQ(
        command.status().message(),
        absl::StrCat("--config ", config, " line 2: key \"dry-run\" must be true or false, got ",
                     yaml11 ? "string \"" : "integer ", word, yaml11 ? "\"" : "",
                     yaml11 ? " (YAML 1.2 reads yes/no/on/off as strings)" : ""));
  }
  const std::string off = Write("off.yaml", "etcd-insecure-skip-verify: off\n");
  EXPECT_THAT(Parse({"--config", off}), StatusIs(absl::StatusCode::kInvalidArgument));

  const std::string on = Write("on.yaml", "dry-run: True\netcd-insecure-skip-verify: false\n");
  auto command = Parse({"--config", on});
  ASSERT_THAT(command, IsOk());
  EXPECT_TRUE(command->controller.dry_run);
  EXPECT_FALSE(command->controller.etcd.insecure_skip_verify);

  // As for any setting, the flag on the command line wins, so the file's bad value is not used.
  const std::string yes = Write("yes.yaml", "dry-run: yes\n");
  command = Parse({"--config", yes, "--dry-run"});
  ASSERT_THAT(command, IsOk());
  EXPECT_TRUE(command->controller.dry_run);
}

TEST_F(OptionsTest, ConfigValuesAreTypedByYaml12) {
  // Quoted text stays text; plain numbers are passed on in decimal; `on` is text for a text
  // setting.
  const std::string config = Write("config.yaml",
                                   "owner-id: '0x10'\n"
                                   "workers: 0x10\n"
                                   "selector: on\n"
                                   "namespace: 123\n");
  auto command = Parse({"--config", config});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->controller.owner_id, "0x10");
  EXPECT_EQ(command->controller.workers, 16);
  EXPECT_EQ(command->controller.selector, "on");
  EXPECT_EQ(command->controller.watch_namespace, "123");
}

TEST_F(OptionsTest, ConfigFileWithADuplicateKeyOrTwoDocumentsIsRejected) {
  const std::string twice = Write("twice.yaml", "workers: 2\nworkers: 3\n");
  auto command = Parse({"--config", twice});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(),
              HasSubstr(twice + " line 2, column 1: duplicate key \"workers\""));
  const std::string two = Write("two.yaml", "workers: 2\n---\nworkers: 3\n");
  command = Parse({"--config", two});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr(two + " line 3: one YAML document expected"));
  // An empty file sets nothing.
  EXPECT_THAT(Parse({"--config", Write("empty.yaml", "# nothing\n")}), IsOk());
}

struct BadFlagCase {
  std::vector<std::string> args;
  std::string expected;  // a substring of the one-line error
};

class BadFlagTest : public OptionsTest, public ::testing::WithParamInterface<BadFlagCase> {};

TEST_P(BadFlagTest, ErrorNamesTheProblemOnOneLine) {
  auto command = Parse(GetParam().args);
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr(GetParam().expected));
  EXPECT_THAT(command.status().message(), Not(HasSubstr("\n")));
}

INSTANTIATE_TEST_SUITE_P(
    Flags, BadFlagTest,
    ::testing::Values(BadFlagCase{{"--no-such-flag"}, "--no-such-flag"},
                      BadFlagCase{{"--workers", "0"}, "--workers"},
                      BadFlagCase{{"--workers", "many"}, "--workers"},
                      BadFlagCase{{"--log-format", "xml"}, "--log-format"},
                      BadFlagCase{{"--log-level", "loud"}, "--log-level"},
                      BadFlagCase{{"--http-addr", "8080"}, "--http-addr"},
                      BadFlagCase{{"--http-addr", "localhost:99999"}, "1..65535"},
                      BadFlagCase{{"--etcd-endpoints", "a:2379,b"}, "--etcd-endpoints"},
                      BadFlagCase{{"--etcd-endpoints", "::1:2379"}, "brackets"},
                      BadFlagCase{{"--etcd-ca", "/no/such/ca.pem"}, "--etcd-ca"},
                      BadFlagCase{{"--policy", "/no/such/policy.yaml"}, "--policy"},
                      BadFlagCase{{"--etcd-username", "root"}, "--etcd-password-file"},
                      BadFlagCase{{"--owner-prefix", ""}, "--owner-prefix"},
                      BadFlagCase{{"--workers"}, "--workers"}));

TEST_F(OptionsTest, CertAndKeyGoTogether) {
  const std::string cert = Write("cert.pem", "cert");
  auto command = Parse({"--etcd-cert", cert});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr("--etcd-cert and --etcd-key"));
}

TEST_F(OptionsTest, ManifestsAndKubeconfigExcludeEachOther) {
  const std::string kubeconfig = Write("kubeconfig", "x");
  auto command = Parse({"--kubeconfig", kubeconfig, "--manifests", dir_.string()});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr("--manifests"));
}

TEST_F(OptionsTest, PasswordFileStripsTrailingNewlinesAndEmptyIsAnError) {
  const std::string crlf = Write("crlf", "pa ss\r\n");
  auto command = Parse({"--etcd-username", "u", "--etcd-password-file", crlf});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->controller.etcd.password, "pa ss");

  const std::string empty = Write("empty", "\n");
  command = Parse({"--etcd-username", "u", "--etcd-password-file", empty});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr("empty"));
}

TEST_F(OptionsTest, UnreadablePasswordFileErrorNeverShowsThePassword) {
  const std::string dir_as_file = (dir_ / "pwdir").string();
  std::filesystem::create_directories(dir_as_file);
  auto command = Parse({"--etcd-username", "u", "--etcd-password-file", dir_as_file});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), HasSubstr("--etcd-password-file"));

  // A password file with a wrong partner flag: the error names flags, never the content.
  const std::string password = Write("password", "hunter2-secret\n");
  command = Parse({"--etcd-password-file", password});
  ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(command.status().message(), Not(HasSubstr("hunter2")));
}

TEST_F(OptionsTest, HelpListsEveryFlag) {
  auto command = Parse({"--help"});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->kind, Command::Kind::kExit);
  for (const char* flag : {"--config",
                           "--kubeconfig",
                           "--manifests",
                           "--namespace",
                           "--selector",
                           "--workers",
                           "--etcd-endpoints",
                           "--etcd-username",
                           "--etcd-password-file",
                           "--etcd-ca",
                           "--etcd-cert",
                           "--etcd-key",
                           "--etcd-insecure-skip-verify",
                           "--owner-prefix",
                           "--owner-id",
                           "--policy",
                           "--dry-run",
                           "--http-addr",
                           "--log-level",
                           "--log-format",
                           "--version",
                           "publish"}) {
    EXPECT_THAT(command->output, HasSubstr(flag));
  }
}

TEST_F(OptionsTest, VersionPrintsTheProjectVersion) {
  auto command = Parse({"--version"});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->kind, Command::Kind::kExit);
  EXPECT_EQ(command->output, std::string(Version()) + "\n");
  EXPECT_THAT(Version(), ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+"));
}

TEST_F(OptionsTest, PublishParsesItsFlags) {
  auto command = Parse({"publish", "--key", "user.rpc", "--value", "10.0.0.1:8080", "--id", "42",
                        "--ttl", "30", "--etcd-endpoints", "e:2379", "--log-format", "json"});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->kind, Command::Kind::kPublish);
  const PublishOptions& p = command->publish;
  EXPECT_EQ(p.key, "user.rpc");
  EXPECT_EQ(p.value, "10.0.0.1:8080");
  EXPECT_EQ(p.id, 42);
  EXPECT_EQ(p.ttl_seconds, 30);
  EXPECT_THAT(p.etcd.endpoints, ElementsAre("e:2379"));
  EXPECT_EQ(p.log_format, "json");
}

TEST_F(OptionsTest, PublishDefaultsAndConfigFile) {
  const std::string config = Write("publish.yaml", "key: from.file\nvalue: 1.2.3.4:1\nttl: 7\n");
  auto command = Parse({"publish", "--config", config, "--value", "5.6.7.8:2"});
  ASSERT_THAT(command, IsOk());
  const PublishOptions& p = command->publish;
  EXPECT_EQ(p.key, "from.file");
  EXPECT_EQ(p.value, "5.6.7.8:2");
  EXPECT_EQ(p.ttl_seconds, 7);
  EXPECT_EQ(p.id, 0);
  EXPECT_THAT(p.etcd.endpoints, ElementsAre("127.0.0.1:2379"));
}

TEST_F(OptionsTest, PublishRejectsBadValues) {
  for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"publish", "--value", "v"}, "--key"},
           {{"publish", "--key", "k"}, "--value"},
           {{"publish", "--key", "k", "--value", "v", "--id", "0"}, "--id"},
           {{"publish", "--key", "k", "--value", "v", "--ttl", "0"}, "--ttl"},
           // Issue 12 item 5: clamped to 9223372036854775807 before; TTLs etcd refuses.
           {{"publish", "--key", "k", "--value", "v", "--id", "9223372036854775808"},
            "--id: must be a whole number from 1 to 9223372036854775807"},
           {{"publish", "--key", "k", "--value", "v", "--ttl", "99999999999"}, "5 to 3600"},
           {{"publish", "--key", "k", "--value", "v", "--ttl", "4"}, "5 to 3600"},
           {{"publish", "--key", "k", "--value", "v", "--ttl", "3601"}, "5 to 3600"},
           {{"publish", "--key", "k", "--value", "v", "--workers", "2"}, "--workers"},
           {{"publish", "--key", "k", "--value", "v", "--http-addr", "a:1"}, "--http-addr"}}) {
    auto command = Parse(args);
    ASSERT_THAT(command, StatusIs(absl::StatusCode::kInvalidArgument)) << expected;
    EXPECT_THAT(command.status().message(), HasSubstr(expected));
  }
}

TEST_F(OptionsTest, PublishTakesTheLargestIdAndTheTtlBounds) {
  auto command = Parse(
      {"publish", "--key", "k", "--value", "v", "--id", "9223372036854775807", "--ttl", "3600"});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->publish.id, 9223372036854775807);
  EXPECT_EQ(command->publish.ttl_seconds, 3600);
}

// Issue 12 item 6: accepted before; records of "a" with key "b/c.rpc" and of "a/b" with
// "c.rpc" would share one path.
TEST_F(OptionsTest, OwnerIdWithASlashOrWhitespaceIsRefused) {
  EXPECT_THAT(Parse({"--owner-id", "team/a"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--owner-id: must not contain \"/\"")));
  EXPECT_THAT(Parse({"--owner-id", "team a"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--owner-id")));
  EXPECT_THAT(Parse({"--owner-id", "team-a.prod_1"}), IsOk());
}

TEST_F(OptionsTest, PublishHelpListsItsFlags) {
  auto command = Parse({"publish", "--help"});
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->kind, Command::Kind::kExit);
  for (const char* flag : {"--key", "--value", "--id", "--ttl", "--etcd-endpoints", "--config"}) {
    EXPECT_THAT(command->output, HasSubstr(flag));
  }
  EXPECT_THAT(command->output, Not(HasSubstr("--workers")));
}

}  // namespace
}  // namespace registrar::config
