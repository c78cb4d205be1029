// The control-plane fixture against itself: a real kube-apiserver 1.34 on etcd 3.6 (one per test
// binary), the version it reports, a fresh namespace per test, and the ServiceAccount helpers
// (RBAC bindings, TokenRequest tokens, a token kubeconfig, the files a pod sees) checked by what
// the real server allows and refuses.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include <boost/asio/ssl.hpp>
#include <cpprest/http_client.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/ssl.h>

#include "tests/fixtures/kube_control_plane.h"

namespace registrar::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// K8S_VERSION from tools/versions.env, the one place the versions are pinned.
std::string PinnedKubernetesVersion() {
  const char* source = std::getenv("ER_SOURCE_DIR");
  std::istringstream env(ReadFile(std::string(source ? source : ".") + "/tools/versions.env"));
  for (std::string line; std::getline(env, line);) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "K8S_VERSION=")) {
      return std::string(rest);
    }
  }
  return "";
}

// The claims of a JWT (its middle part, base64url without padding).
nlohmann::json JwtClaims(const std::string& token) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  std::string payload;
  if (parts.size() != 3 || !absl::WebSafeBase64Unescape(parts[1], &payload)) {
    return nlohmann::json();
  }
  return nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
}

class KubeControlPlaneTest : public ::testing::Test {
 protected:
  // OpenSSL before cpprestsdk's thread pool (the first http_client request starts it): exit
  // handlers run in reverse order, so OpenSSL's cleanup then runs after the pool has joined its
  // threads, and each thread's OpenSSL state (error queue, DRBGs) is freed when it ends. The
  // other way round, the cleanup runs first and LSan reports ~21 KB in 86 libcrypto allocations
  // of the pool's threads (tests/sanitizer/lsan.supp, docs/testing.md "The sanitizer build").
  static void SetUpTestSuite() { OPENSSL_init_ssl(0, nullptr); }

  void SetUp() override {
    auto plane = KubeControlPlane::Shared();
    ASSERT_TRUE(plane.ok()) << plane.status();
    plane_ = *plane;
  }

  // kubectl as the user of `kubeconfig`; the whole result, to assert on failures too.
  CommandOutput As(const std::string& kubeconfig, const std::vector<std::string>& args) {
    auto result = plane_->RunKubectl(args, kubeconfig);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : CommandOutput{};
  }

  // A ClusterRole that reads ConfigMaps and nothing else. (The built-in "view" is aggregated: its
  // rules are filled in by kube-controller-manager, which does not run here.)
  static constexpr const char* kReader = "er-test-configmap-reader";
  void ApplyReaderRole() {
    absl::Status applied =
        plane_->Apply(absl::StrCat("apiVersion: rbac.authorization.k8s.io/v1\n"
                                   "kind: ClusterRole\n"
                                   "metadata:\n"
                                   "  name: ",
                                   kReader,
                                   "\n"
                                   "rules:\n"
                                   "- apiGroups: [\"\"]\n"
                                   "  resources: [configmaps]\n"
                                   "  verbs: [get, list, watch]\n"));
    ASSERT_TRUE(applied.ok()) << applied;
  }

  KubeControlPlane* plane_ = nullptr;
};

TEST_F(KubeControlPlaneTest, ServerAndKubectlReportThePinnedVersion) {
  const std::string pinned = PinnedKubernetesVersion();
  ASSERT_THAT(pinned, ::testing::StartsWith("v1.34."));
  auto out = plane_->Kubectl({"version", "-o", "json"});
  ASSERT_TRUE(out.ok()) << out.status();
  nlohmann::json version = nlohmann::json::parse(*out, nullptr, false);
  EXPECT_EQ(version["serverVersion"]["gitVersion"], pinned) << *out;
  EXPECT_EQ(version["clientVersion"]["gitVersion"], pinned) << *out;
}

TEST_F(KubeControlPlaneTest, EachNamespaceIsFreshAndActive) {
  auto first = plane_->CreateNamespace("fresh");
  auto second = plane_->CreateNamespace("fresh");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(*first, *second);
  for (const std::string& ns : {*first, *second}) {
    auto phase = plane_->Kubectl({"get", "namespace", ns, "-o", "jsonpath={.status.phase}"});
    ASSERT_TRUE(phase.ok()) << phase.status();
    EXPECT_EQ(*phase, "Active");
  }
}

TEST_F(KubeControlPlaneTest, TokenRequestTokenNamesTheServiceAccountAndItsLifetime) {
  auto ns = plane_->CreateNamespace("token");
  ASSERT_TRUE(ns.ok()) << ns.status();
  ASSERT_TRUE(plane_->CreateServiceAccount(*ns, "robot").ok());
  auto token = plane_->RequestToken(*ns, "robot", /*expiration_seconds=*/1200);
  ASSERT_TRUE(token.ok()) << token.status();
  nlohmann::json claims = JwtClaims(*token);
  ASSERT_TRUE(claims.is_object()) << *token;
  EXPECT_EQ(claims["sub"], absl::StrCat("system:serviceaccount:", *ns, ":robot"));
  EXPECT_EQ(claims["iss"], "https://kubernetes.default.svc.cluster.local");
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 1200);
  EXPECT_EQ(claims["kubernetes.io"]["namespace"], *ns);
}

TEST_F(KubeControlPlaneTest, TokenForAServiceAccountThatDoesNotExistIsRefused) {
  auto ns = plane_->CreateNamespace("nosa");
  ASSERT_TRUE(ns.ok()) << ns.status();
  auto token = plane_->RequestToken(*ns, "ghost");
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(std::string(token.status().message()), HasSubstr("not found"));
}

TEST_F(KubeControlPlaneTest, RoleBindingGrantsTheClusterRoleInItsNamespaceOnly) {
  auto ns = plane_->CreateNamespace("bound");
  auto other = plane_->CreateNamespace("other");
  ASSERT_TRUE(ns.ok() && other.ok());
  ASSERT_TRUE(plane_->CreateServiceAccount(*ns, "reader").ok());
  ApplyReaderRole();
  absl::Status bound = plane_->BindClusterRole(*ns, "reader", kReader, /*in_namespace=*/*ns);
  ASSERT_TRUE(bound.ok()) << bound;
  ASSERT_TRUE(
      plane_->Kubectl({"create", "configmap", "settings", "-n", *ns, "--from-literal=colour=teal"})
          .ok());
  auto kubeconfig = plane_->WriteServiceAccountKubeconfig(*ns, "reader");
  ASSERT_TRUE(kubeconfig.ok()) << kubeconfig.status();

  CommandOutput who =
      As(*kubeconfig, {"auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"});
  EXPECT_EQ(who.out, absl::StrCat("system:serviceaccount:", *ns, ":reader")) << who.err;

  CommandOutput read =
      As(*kubeconfig, {"get", "configmap", "settings", "-n", *ns, "-o", "jsonpath={.data.colour}"});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(read.out, "teal");

  CommandOutput write = As(*kubeconfig, {"create", "configmap", "mine", "-n", *ns});
  EXPECT_NE(write.exit_code, 0);
  EXPECT_THAT(write.err, HasSubstr("forbidden"));

  CommandOutput elsewhere = As(*kubeconfig, {"get", "configmaps", "-n", *other});
  EXPECT_NE(elsewhere.exit_code, 0);
  EXPECT_THAT(elsewhere.err, HasSubstr("forbidden"));
}

TEST_F(KubeControlPlaneTest, ClusterRoleBindingGrantsExactlyTheAppliedRuleEverywhere) {
  // One control plane per binary: the ClusterRole name is unique within it.
  ASSERT_TRUE(plane_
                  ->Apply("apiVersion: rbac.authorization.k8s.io/v1\n"
                          "kind: ClusterRole\n"
                          "metadata:\n"
                          "  name: er-test-configmap-lister\n"
                          "rules:\n"
                          "- apiGroups: [\"\"]\n"
                          "  resources: [configmaps]\n"
                          "  verbs: [list]\n")
                  .ok());
  auto ns = plane_->CreateNamespace("lister");
  auto other = plane_->CreateNamespace("lister");
  ASSERT_TRUE(ns.ok() && other.ok());
  ASSERT_TRUE(plane_->CreateServiceAccount(*ns, "lister").ok());
  ASSERT_TRUE(plane_->BindClusterRole(*ns, "lister", "er-test-configmap-lister").ok());
  auto kubeconfig = plane_->WriteServiceAccountKubeconfig(*ns, "lister");
  ASSERT_TRUE(kubeconfig.ok()) << kubeconfig.status();

  for (const std::string& where : {*ns, *other}) {
    CommandOutput list = As(*kubeconfig, {"auth", "can-i", "list", "configmaps", "-n", where});
    EXPECT_EQ(list.out, "yes\n") << where << ": " << list.err;
    CommandOutput get = As(*kubeconfig, {"auth", "can-i", "get", "configmaps", "-n", where});
    EXPECT_EQ(get.out, "no\n") << where;
    CommandOutput secrets = As(*kubeconfig, {"get", "secrets", "-n", where});
    EXPECT_NE(secrets.exit_code, 0);
    EXPECT_THAT(secrets.err, HasSubstr("forbidden"));
  }
}

TEST_F(KubeControlPlaneTest, PodIdentityFilesReachTheServerAsTheControllerWould) {
  auto ns = plane_->CreateNamespace("pod");
  ASSERT_TRUE(ns.ok()) << ns.status();
  ASSERT_TRUE(plane_->CreateServiceAccount(*ns, "podsa").ok());
  ApplyReaderRole();
  ASSERT_TRUE(plane_->BindClusterRole(*ns, "podsa", kReader, *ns).ok());
  ASSERT_TRUE(
      plane_->Kubectl({"create", "configmap", "seen", "-n", *ns, "--from-literal=a=b"}).ok());
  auto pod = plane_->WritePodIdentity(*ns, "podsa");
  ASSERT_TRUE(pod.ok()) << pod.status();

  EXPECT_EQ(ReadFile(pod->dir + "/namespace"), *ns);
  EXPECT_EQ(ReadFile(pod->dir + "/token"), pod->token);
  EXPECT_EQ(ReadFile(pod->dir + "/ca.crt"), ReadFile(plane_->ca_file()));
  ASSERT_EQ(pod->env.size(), 2u);
  EXPECT_EQ(pod->env[0], "KUBERNETES_SERVICE_HOST=127.0.0.1");
  EXPECT_EQ(pod->env[1], absl::StrCat("KUBERNETES_SERVICE_PORT=", plane_->port()));

  // What an in-cluster client does: https://$HOST:$PORT, trusting only ca.crt, bearer token.
  const std::string host = pod->env[0].substr(pod->env[0].find('=') + 1);
  const std::string port = pod->env[1].substr(pod->env[1].find('=') + 1);
  const std::string base = absl::StrCat("https://", host, ":", port);
  const std::string ca = pod->dir + "/ca.crt";
  web::http::client::http_client_config config;
  config.set_ssl_context_callback(
      [ca](boost::asio::ssl::context& context) { context.load_verify_file(ca); });
  web::http::client::http_client client(base, config);
  auto get = [&](const std::string& path) {
    web::http::http_request request(web::http::methods::GET);
    request.set_request_uri(path);
    request.headers().add("Authorization", "Bearer " + ReadFile(pod->dir + "/token"));
    return client.request(request).get();
  };
  web::http::http_response allowed = get(absl::StrCat("/api/v1/namespaces/", *ns, "/configmaps"));
  EXPECT_EQ(allowed.status_code(), 200);
  nlohmann::json list = nlohmann::json::parse(allowed.extract_utf8string().get(), nullptr, false);
  EXPECT_EQ(list["kind"], "ConfigMapList");
  ASSERT_EQ(list["items"].size(), 1u) << list.dump();
  EXPECT_EQ(list["items"][0]["metadata"]["name"], "seen");
  // The role does not include Secrets: the server refuses, and says who asked.
  web::http::http_response refused = get(absl::StrCat("/api/v1/namespaces/", *ns, "/secrets"));
  EXPECT_EQ(refused.status_code(), 403);
  EXPECT_THAT(refused.extract_utf8string().get(),
              HasSubstr(absl::StrCat("system:serviceaccount:", *ns, ":podsa")));

  // Without ca.crt the server's certificate is not trusted: the CA file is what makes it work.
  web::http::client::http_client untrusting(base);
  EXPECT_THROW(untrusting.request(web::http::methods::GET, "/version").get(),
               web::http::http_exception);
}

}  // namespace
}  // namespace registrar::testing
