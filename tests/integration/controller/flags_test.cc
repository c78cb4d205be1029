// The controller's command line (DESIGN.md §3): --help documents every flag and exits 0,
// --version exits 0, and a bad flag, config key or policy file is exit code 2 with a one-line
// reason on stderr naming the flag or key. Runs the binary as a process; no etcd is needed.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/controller/controller_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace registrar::testing {
namespace {

using ::testing::HasSubstr;

class FlagsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()); }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path);
    out << content;
    return path;
  }

  struct Run {
    int code = -1;
    std::string out;
    std::string err;
  };
  static Run RunBinary(const std::vector<std::string>& args) {
    auto child = StartRegistrar(args);
    if (child == nullptr) {
      return {};
    }
    std::optional<int> code = child->Wait(std::chrono::seconds(10));
    EXPECT_TRUE(code.has_value()) << "still running: " << child->command_line();
    return Run{code.value_or(-1), child->Output(), child->Stderr()};
  }

  // Exit code 2, and exactly one non-empty line on stderr containing every needle.
  void ExpectRejected(const std::vector<std::string>& args,
                      const std::vector<std::string>& needles) {
    Run run = RunBinary(args);
    SCOPED_TRACE(absl::StrJoin(args, " "));
    EXPECT_EQ(run.code, 2) << run.err;
    const std::string err(absl::StripTrailingAsciiWhitespace(run.err));
    EXPECT_FALSE(err.empty());
    EXPECT_EQ(err.find('\n'), std::string::npos) << "more than one line:\n" << run.err;
    for (const std::string& needle : needles) {
      EXPECT_THAT(err, HasSubstr(needle));
    }
    std::cout << "[stderr] " << err << std::endl;
  }

  TempDir tmp_{"er-flags-e2e"};
  const std::string dir_ = tmp_.path();
};

TEST_F(FlagsTest, HelpListsEveryFlagAndExitsZero) {
  Run run = RunBinary({"--help"});
  EXPECT_EQ(run.code, 0) << run.err;
  for (const char* flag : {"--kubeconfig",    "--manifests",
                           "--namespace",     "--selector",
                           "--workers",       "--etcd-endpoints",
                           "--etcd-username", "--etcd-password-file",
                           "--etcd-ca",       "--etcd-cert",
                           "--etcd-key",      "--etcd-insecure-skip-verify",
                           "--owner-prefix",  "--owner-id",
                           "--policy",        "--dry-run",
                           "--http-addr",     "--log-level",
                           "--log-format",    "--config",
                           "--version",       "--help"}) {
    EXPECT_THAT(run.out, HasSubstr(flag));
  }
  // Each flag is documented (a description follows it on its line).
  for (absl::string_view line : absl::StrSplit(run.out, '\n')) {
    absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
    if (absl::StartsWith(trimmed, "--")) {
      std::vector<absl::string_view> words = absl::StrSplit(trimmed, ' ', absl::SkipWhitespace());
      EXPECT_GE(words.size(), 2u) << "undocumented: " << line;
    }
  }
  EXPECT_THAT(run.out, HasSubstr("publish"));
}

TEST_F(FlagsTest, VersionExitsZero) {
  Run run = RunBinary({"--version"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_FALSE(absl::StripAsciiWhitespace(run.out).empty());
}

TEST_F(FlagsTest, BadFlagsExitTwoWithAOneLineReason) {
  ExpectRejected({"--no-such-flag"}, {"--no-such-flag"});
  ExpectRejected({"--manifests", dir_, "--workers", "0"}, {"--workers"});
  ExpectRejected({"--manifests", dir_, "--log-format", "xml"}, {"--log-format"});
  ExpectRejected({"--manifests", dir_, "--policy", dir_ + "/missing-policy.yaml"}, {"--policy"});
  ExpectRejected({"--manifests", dir_, "--etcd-endpoints", "no-port"}, {"--etcd-endpoints"});
}

TEST_F(FlagsTest, ConfigFileWithAnUnknownKeyExitsTwoNamingIt) {
  const std::string config =
      WriteFile("config.yaml", "workers: 2\ncolour: blue\nlog-level: info\n");
  ExpectRejected({"--manifests", dir_, "--config", config}, {"colour", config, "line 2"});
  const std::string bad_value = WriteFile("bad-value.yaml", "workers: 0\n");
  ExpectRejected({"--manifests", dir_, "--config", bad_value}, {"--workers"});
}

TEST_F(FlagsTest, MalformedPolicyFileExitsTwoNamingTheFile) {
  const std::string policy =
      WriteFile("policy.yaml", "rules:\n- namespaces: [\"*\"]\n  keyz: [\"*\"]\n");
  ExpectRejected({"--manifests", dir_, "--policy", policy}, {policy});
}

// Issue 12 item 6: an owner id with "/" makes record paths ambiguous (owner "a" with key
// "b/c.rpc" and owner "a/b" with key "c.rpc" share one), and a glob that can never match made a
// policy rule silently useless; both were accepted before.
TEST_F(FlagsTest, OwnerIdWithASlashExitsTwo) {
  ExpectRejected({"--manifests", dir_, "--owner-id", "team/a"}, {"--owner-id", "team/a", "/"});
  const std::string config = WriteFile("owner.yaml", "owner-id: team/b\n");
  ExpectRejected({"--manifests", dir_, "--config", config}, {"--owner-id", config, "line 1"});
}

TEST_F(FlagsTest, PolicyGlobThatCannotBeUsedExitsTwoNamingFileLineAndRule) {
  const std::vector<std::pair<std::string, std::string>> globs = {
      {"[z-a]*", "reversed"}, {"[[:nope:]]", "nope"}, {"svc[", "never closed"}};
  for (const auto& [glob, why] : globs) {
    const std::string policy = WriteFile(
        "glob-policy.yaml",
        absl::StrCat("rules:\n- namespaces: [\"*\"]\n  keys:\n  - \"ok.*\"\n  - \"", glob, "\"\n"));
    ExpectRejected({"--manifests", dir_, "--policy", policy},
                   {policy, "line 5", "rules[0].keys[1]", glob, why});
  }
}

}  // namespace
}  // namespace registrar::testing
