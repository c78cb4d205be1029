// kube-apiserver 1.34 on each etcd the fixture offers (3.6 and 3.5 built by scripts/go-tools.sh,
// Debian's 3.4.23): the control plane starts, stores objects in that etcd under /registry, and a
// kubectl watch sees a change. One control plane per flavor, started and stopped by the test.
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/fixtures/child_process.h"
#include "tests/fixtures/kube_control_plane.h"

namespace registrar::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Flavor {
  EtcdFlavor etcd;
  std::string name;
  std::string versions_env_key;  // empty: Debian's, any 3.4.x
};

// ETCD3x_VERSION from tools/versions.env without its "v", or "3.4." for Debian's etcd.
std::string ExpectedVersionPrefix(const Flavor& flavor) {
  if (flavor.versions_env_key.empty()) {
    return "3.4.";
  }
  const char* source = std::getenv("ER_SOURCE_DIR");
  std::ifstream in(std::string(source ? source : ".") + "/tools/versions.env");
  for (std::string line; std::getline(in, line);) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, flavor.versions_env_key + "=v")) {
      return std::string(rest);
    }
  }
  return "(" + flavor.versions_env_key + " not in tools/versions.env)";
}

class EtcdFlavorTest : public ::testing::TestWithParam<Flavor> {};

TEST_P(EtcdFlavorTest, ApiserverStoresInThatEtcdAndWatchesWork) {
  auto plane = KubeControlPlane::Start({.etcd = GetParam().etcd});
  ASSERT_TRUE(plane.ok()) << plane.status();
  KubeControlPlane& kube = **plane;

  auto status = kube.etcd().Etcdctl({"endpoint", "status", "--write-out=json"});
  ASSERT_TRUE(status.ok()) << status.status();
  nlohmann::json endpoints = nlohmann::json::parse(*status, nullptr, false);
  ASSERT_TRUE(endpoints.is_array() && endpoints.size() == 1) << *status;
  EXPECT_THAT(endpoints[0]["Status"]["version"].get<std::string>(),
              StartsWith(ExpectedVersionPrefix(GetParam())));

  auto ns = kube.CreateNamespace("flavor");
  ASSERT_TRUE(ns.ok()) << ns.status();
  // kubectl get --watch lists first, then watches from the list's resourceVersion: once the
  // listed ConfigMap is printed, a ConfigMap made afterwards must arrive through the watch.
  ASSERT_TRUE(kube.Kubectl({"create", "configmap", "before", "-n", *ns}).ok());
  auto watch = ChildProcess::Start(kube.kubectl_path(),
                                   {"--kubeconfig=" + kube.admin_kubeconfig(), "get", "configmaps",
                                    "-n", *ns, "--watch", "-o", "name"},
                                   {"HOME=" + kube.dir()});
  ASSERT_TRUE(watch.ok()) << watch.status();
  auto listed = (*watch)->WaitForOutput("configmap/before", std::chrono::seconds(30));
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_TRUE(kube.Kubectl({"create", "configmap", "after", "-n", *ns}).ok());
  auto watched = (*watch)->WaitForOutput("configmap/after", std::chrono::seconds(30));
  EXPECT_TRUE(watched.ok()) << watched.status();

  auto keys = kube.etcd().Etcdctl(
      {"get", absl::StrCat("/registry/configmaps/", *ns, "/"), "--prefix", "--keys-only"});
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys, HasSubstr(absl::StrCat("/registry/configmaps/", *ns, "/after")));
}

INSTANTIATE_TEST_SUITE_P(Flavors, EtcdFlavorTest,
                         ::testing::Values(Flavor{EtcdFlavor::kEtcd36, "etcd36", "ETCD36_VERSION"},
                                           Flavor{EtcdFlavor::kEtcd35, "etcd35", "ETCD35_VERSION"},
                                           Flavor{EtcdFlavor::kDebian34, "debian34", ""}),
                         [](const ::testing::TestParamInfo<Flavor>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace registrar::testing
