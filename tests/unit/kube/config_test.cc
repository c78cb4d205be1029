// LoadKubeconfig / LoadInCluster / LoadClusterConfig against real files in a temp folder and a
// controlled environment (each test sets the variables it reads and puts them back).
#include "controller/kube/config.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace registrar::kube {
namespace {

using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::registrar::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

// Sets (or, with nullopt, unsets) environment variables for one test.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, std::optional<std::string>>> vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name);
      saved_[name] = old == nullptr ? std::nullopt : std::optional<std::string>(old);
      Set(name, value);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      Set(name.c_str(), value);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  static void Set(const char* name, const std::optional<std::string>& value) {
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

std::string Kubeconfig(const std::string& context, const std::string& server,
                       const std::string& user_fields) {
  return "current-context: " + context + "\nclusters: [{name: " + context +
         ", cluster: {server: '" + server + "'}}]\ncontexts: [{name: " + context +
         ", context: {cluster: " + context + ", user: " + context + "}}]\nusers: [{name: " +
         context + ", user: {" + user_fields + "}}]\n";
}

TEST(LoadKubeconfig, ReadsFilesRelativeToEachKubeconfig) {
  TempDir dir("er-kubeconfig");
  ASSERT_EQ(mkdir((dir / "a").c_str(), 0755), 0);
  WriteFile(dir / "a/config", Kubeconfig("a", "https://a", "client-certificate: c.pem, "
                                                           "client-key: k.pem, tokenFile: tok"));
  WriteFile(dir / "a/c.pem", "CERT");
  WriteFile(dir / "a/k.pem", "KEY");
  WriteFile(dir / "a/tok", "token\n");
  absl::StatusOr<ClusterConfig> c = LoadKubeconfig({dir / "a/config"}, "");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->client_cert_pem, "CERT");
  EXPECT_EQ(c->client_key_pem, "KEY");
  EXPECT_EQ(c->token_file, dir / "a/tok");
  EXPECT_EQ(c->origin, "kubeconfig " + (dir / "a/config") + ", context a");
}

TEST(LoadKubeconfig, MergesInOrderAndSkipsMissingFiles) {
  TempDir dir("er-kubeconfig");
  WriteFile(dir / "one", Kubeconfig("one", "https://one", "token: t1"));
  WriteFile(dir / "two", Kubeconfig("two", "https://two", "token: t2"));
  absl::StatusOr<ClusterConfig> c =
      LoadKubeconfig({dir / "missing", dir / "two", dir / "one", dir / "two"}, "");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server, "https://two");  // the first existing file sets current-context
  absl::StatusOr<ClusterConfig> one = LoadKubeconfig({dir / "two", dir / "one"}, "one");
  ASSERT_THAT(one, IsOk());
  EXPECT_EQ(one->token, "t1");
}

TEST(LoadKubeconfig, ErrorsNameTheFile) {
  TempDir dir("er-kubeconfig");
  EXPECT_THAT(LoadKubeconfig({dir / "none"}, ""), StatusIs(absl::StatusCode::kNotFound));
  WriteFile(dir / "bad", "users: [{name: bob, user: {client-key: key.pem, "
                         "client-certificate-data: Y2VydA==}}]\n"
                         "current-context: x\ncontexts: [{name: x, context: {cluster: c, "
                         "user: bob}}]\nclusters: [{name: c, cluster: {server: https://h}}]\n");
  absl::StatusOr<ClusterConfig> c = LoadKubeconfig({dir / "bad"}, "");
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(c.status().message(),
            "kubeconfig " + (dir / "bad") + ": users[0] \"bob\": client-key: cannot read " +
                (dir / "key.pem") + ": No such file or directory");
}

TEST(LoadInCluster, ReadsTheServiceAccountFolderAndTheEnvironment) {
  TempDir dir("er-incluster");
  WriteFile(dir / "token", "sa-token");
  WriteFile(dir / "ca.crt", "CA");
  WriteFile(dir / "namespace", "registrar-system\n");
  ScopedEnv env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  absl::StatusOr<ClusterConfig> c = LoadInCluster(dir.path());
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->token_file, dir / "token");
  EXPECT_TRUE(c->token.empty());
  EXPECT_EQ(c->ca_pem, "CA");
  EXPECT_EQ(c->default_namespace, "registrar-system");
  EXPECT_EQ(c->origin, "in-cluster");
}

TEST(LoadInCluster, PutsAnIpv6HostInBrackets) {
  TempDir dir("er-incluster");
  WriteFile(dir / "token", "sa-token");
  ScopedEnv env({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}});
  absl::StatusOr<ClusterConfig> c = LoadInCluster(dir.path());
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server, "https://[fd00::1]:6443");
  EXPECT_TRUE(c->ca_pem.empty());  // no ca.crt: the system's roots, as client-go
  EXPECT_EQ(c->default_namespace, "default");
}

TEST(LoadInCluster, NotFoundWithoutTheEnvironmentOrTheToken) {
  TempDir dir("er-incluster");
  {
    ScopedEnv env({{"KUBERNETES_SERVICE_HOST", std::nullopt}, {"KUBERNETES_SERVICE_PORT", "443"}});
    WriteFile(dir / "token", "t");
    EXPECT_THAT(LoadInCluster(dir.path()), StatusIs(absl::StatusCode::kNotFound));
  }
  ScopedEnv env({{"KUBERNETES_SERVICE_HOST", "h"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  absl::StatusOr<ClusterConfig> c = LoadInCluster(dir / "nothing-here");
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("nothing-here/token does not exist"));
}

TEST(LoadClusterConfig, PrefersKubeconfigFlagThenInClusterThenEnvThenHome) {
  TempDir dir("er-chain");
  ASSERT_EQ(mkdir((dir / "sa").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir / "home").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir / "home/.kube").c_str(), 0755), 0);
  WriteFile(dir / "sa/token", "sa");
  WriteFile(dir / "flag", Kubeconfig("flag", "https://flag", "token: f"));
  WriteFile(dir / "env", Kubeconfig("env", "https://env", "token: e"));
  WriteFile(dir / "home/.kube/config", Kubeconfig("home", "https://home", "token: h"));
  ScopedEnv env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                 {"KUBERNETES_SERVICE_PORT", "443"},
                 {kInClusterDirEnv, dir / "sa"},
                 {"KUBECONFIG", (dir / "missing") + ":" + (dir / "env")},
                 {"HOME", dir / "home"}});
  // The flag is an explicit choice: it wins even inside a pod.
  EXPECT_EQ(LoadClusterConfig({.kubeconfig = dir / "flag", .context = ""})->server, "https://flag");
  // DESIGN §3: in-cluster before $KUBECONFIG.
  EXPECT_EQ(LoadClusterConfig({})->origin, "in-cluster");
  // --context names a kubeconfig context: in-cluster is skipped, $KUBECONFIG is read.
  EXPECT_EQ(LoadClusterConfig({.kubeconfig = "", .context = "env"})->server, "https://env");
  {
    ScopedEnv not_in_cluster({{"KUBERNETES_SERVICE_HOST", std::nullopt}});
    EXPECT_EQ(LoadClusterConfig({})->server, "https://env");
    ScopedEnv no_list({{"KUBECONFIG", std::nullopt}});
    EXPECT_EQ(LoadClusterConfig({})->server, "https://home");
  }
}

TEST(LoadClusterConfig, NothingFoundNamesEveryPlaceLookedAt) {
  TempDir dir("er-chain");
  ScopedEnv env({{"KUBERNETES_SERVICE_HOST", std::nullopt},
                 {"KUBECONFIG", std::nullopt},
                 {kInClusterDirEnv, dir / "sa"},
                 {"HOME", dir.path()}});
  absl::StatusOr<ClusterConfig> c = LoadClusterConfig({});
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(c.status().message()),
              AllOf(HasSubstr("--kubeconfig: not given; in-cluster: not in a cluster: "
                              "KUBERNETES_SERVICE_HOST"),
                    HasSubstr("$KUBECONFIG: not set"),
                    HasSubstr("~/.kube/config: no kubeconfig: " + (dir / ".kube/config") +
                              " does not exist")));
  ScopedEnv list({{"KUBECONFIG", (dir / "a") + ":" + (dir / "b")}});
  c = LoadClusterConfig({});
  EXPECT_THAT(std::string(c.status().message()),
              AllOf(HasSubstr("$KUBECONFIG: no kubeconfig: " + (dir / "a") + ", " + (dir / "b") +
                              " do not exist"),
                    HasSubstr("~/.kube/config: not read ($KUBECONFIG is set")));
  // An explicit --kubeconfig that does not exist is a config error, not "keep looking".
  EXPECT_THAT(LoadClusterConfig({.kubeconfig = dir / "nope", .context = ""}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace registrar::kube
