// KubeFaultProxy in front of the real kube-apiserver 1.34 (one control plane per binary): bearer
// tokens pass through and client certificates do not, requests are logged, injected errors hit
// exactly the next N matching requests, and closing watches cuts every stream and refuses new
// watches for a while.
#include <chrono>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "tests/fixtures/kube_control_plane.h"
#include "tests/fixtures/kube_fault_proxy.h"
#include "tests/integration/kube/kube_api_harness.h"

namespace registrar::testing {
namespace {

using json = nlohmann::json;
using kube_testing::ApiTarget;
using kube_testing::Http;
using kube_testing::HttpResponse;
using kube_testing::WatchReader;
using std::chrono::milliseconds;
using std::chrono::seconds;

class FaultProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto plane = KubeControlPlane::Shared();
    ASSERT_TRUE(plane.ok()) << plane.status();
    plane_ = *plane;
    auto ns = plane_->CreateNamespace("proxy");
    ASSERT_TRUE(ns.ok()) << ns.status();
    ns_ = new std::string(*ns);
    ASSERT_TRUE(plane_->CreateServiceAccount(*ns_, "robot").ok());
    ASSERT_TRUE(plane_->BindClusterRole(*ns_, "robot", "cluster-admin").ok());
    auto token = plane_->RequestToken(*ns_, "robot");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new std::string(*token);
  }
  void SetUp() override {
    ASSERT_NE(token_, nullptr);
    auto proxy = KubeFaultProxy::Start({.upstream_port = plane_->port(),
                                        .upstream_ca_file = plane_->ca_file(),
                                        .serving_cert_file = plane_->dir() + "/server.crt",
                                        .serving_key_file = plane_->dir() + "/server.key"});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
  }
  // A client of the proxy that trusts the plane's CA and sends the ServiceAccount token.
  Http Client() const {
    return Http(ApiTarget{.port = proxy_->port(), .tls = true, .ca_file = plane_->ca_file(),
                          .bearer_token = *token_});
  }
  static std::string ConfigMaps() { return "/api/v1/namespaces/" + *ns_ + "/configmaps"; }

  static KubeControlPlane* plane_;
  static std::string* ns_;
  static std::string* token_;
  std::unique_ptr<KubeFaultProxy> proxy_;
};
KubeControlPlane* FaultProxyTest::plane_ = nullptr;
std::string* FaultProxyTest::ns_ = nullptr;
std::string* FaultProxyTest::token_ = nullptr;

TEST_F(FaultProxyTest, BearerTokenPassesThroughAndRequestsAreLogged) {
  HttpResponse who = Client().Post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                   {{"apiVersion", "authentication.k8s.io/v1"},
                                    {"kind", "SelfSubjectReview"}});
  ASSERT_EQ(who.status, 201) << who.body;
  EXPECT_EQ(who.json()["status"]["userInfo"]["username"],
            "system:serviceaccount:" + *ns_ + ":robot");
  HttpResponse list = Client().Get(ConfigMaps() + "?limit=5");
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["kind"], "ConfigMapList");
  std::vector<ProxiedRequest> log = proxy_->Requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[0].status, 201);
  EXPECT_EQ(log[0].user_agent, "kube-api-test/1.0");
  EXPECT_EQ(log[1].path, ConfigMaps());
  EXPECT_EQ(log[1].query, "limit=5");
  EXPECT_EQ(log[1].status, 200);
  EXPECT_FALSE(log[1].watch);
}

TEST_F(FaultProxyTest, ClientCertificatesDoNotPass) {
  // The admin certificate works directly, but through the proxy the request is anonymous.
  ApiTarget direct{.port = plane_->port(), .tls = true, .ca_file = plane_->ca_file(),
                   .client_cert_file = plane_->dir() + "/admin.crt",
                   .client_key_file = plane_->dir() + "/admin.key"};
  EXPECT_EQ(Http(direct).Get(ConfigMaps()).status, 200);
  ApiTarget proxied = direct;
  proxied.port = proxy_->port();
  HttpResponse anonymous = Http(proxied).Get(ConfigMaps());
  EXPECT_EQ(anonymous.status, 403) << anonymous.body;
  EXPECT_NE(anonymous.body.find("system:anonymous"), std::string::npos) << anonymous.body;
}

TEST_F(FaultProxyTest, InjectedErrorsHitTheNextNMatchingRequests) {
  proxy_->Inject({.method = "GET", .path_regex = "/configmaps$", .code = 429, .count = 2,
                  .retry_after_seconds = 3});
  EXPECT_EQ(Client().Get("/version").status, 200);  // the path does not match
  HttpResponse first = Client().Get(ConfigMaps());
  EXPECT_EQ(first.status, 429);
  EXPECT_EQ(first.Header("retry-after"), "3");
  EXPECT_EQ(first.json()["reason"], "TooManyRequests");
  EXPECT_EQ(first.json()["details"]["retryAfterSeconds"], 3);
  EXPECT_EQ(Client().Get(ConfigMaps()).status, 429);
  EXPECT_EQ(Client().Get(ConfigMaps()).status, 200);  // count used up: the real answer
  for (int code : {409, 500, 504}) {
    proxy_->Inject({.method = "PUT", .path_regex = "configmaps/x$", .code = code});
    HttpResponse r = Client().Put(ConfigMaps() + "/x", json::object());
    EXPECT_EQ(r.status, code);
    EXPECT_EQ(r.json()["kind"], "Status");
    EXPECT_EQ(r.json()["code"], code);
  }
  proxy_->Inject({.path_regex = "configmaps", .user_agent_regex = "^controller", .code = 500});
  EXPECT_EQ(Client().Get(ConfigMaps()).status, 200);
  EXPECT_EQ(Client().Do("GET", ConfigMaps(), "", {.user_agent = "controller/1"}).status, 500);
  int injected = 0;
  for (const ProxiedRequest& r : proxy_->Requests()) injected += r.injected ? 1 : 0;
  EXPECT_EQ(injected, 6);
}

TEST_F(FaultProxyTest, CloseWatchesEndsStreamsAndRefusesNewOnesForAWhile) {
  auto w1 = WatchReader::Open(Client(), ConfigMaps() + "?watch=true");
  auto w2 = WatchReader::Open(Client(), "/api/v1/namespaces?watch=true&resourceVersion=0");
  ASSERT_EQ(w1->status(), 200);
  ASSERT_EQ(w2->status(), 200);
  EXPECT_EQ(proxy_->OpenWatches(), 2);
  EXPECT_EQ(proxy_->CloseWatches(seconds(2)), 2);
  EXPECT_TRUE(w1->WaitEnded(seconds(5)));
  EXPECT_TRUE(w2->WaitEnded(seconds(5)));
  auto refused = WatchReader::Open(Client(), ConfigMaps() + "?watch=true");
  EXPECT_EQ(refused->status(), 503);
  EXPECT_EQ(Client().Get(ConfigMaps()).status, 200);  // lists still work
  // After the refusal window a watch works again and sees a change.
  std::unique_ptr<WatchReader> again;
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    again = WatchReader::Open(Client(), ConfigMaps() + "?watch=true&resourceVersion=0");
    if (again->status() == 200) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_EQ(again->status(), 200);
  ASSERT_EQ(Client().Post(ConfigMaps(), {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                                         {"metadata", {{"name", "seen"}}}}).status, 201);
  bool seen = false;
  while (auto e = again->Next(seconds(5))) {
    if ((*e)["object"]["metadata"]["name"] == "seen") {
      seen = true;
      break;
    }
  }
  EXPECT_TRUE(seen);
}

TEST_F(FaultProxyTest, KubectlWorksThroughTheProxyAndSeesInjectedErrors) {
  // A kubeconfig naming the proxy, trusting the plane's CA, with the ServiceAccount token.
  const std::string kubeconfig = plane_->dir() + "/proxy-" + std::to_string(proxy_->port()) +
                                 ".kubeconfig";
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\nclusters:\n- name: p\n  cluster:\n"
                            << "    server: " << proxy_->url() << "\n"
                            << "    certificate-authority: " << plane_->ca_file() << "\n"
                            << "users:\n- name: u\n  user:\n    token: " << *token_ << "\n"
                            << "contexts:\n- name: c\n  context:\n    cluster: p\n    user: u\n"
                            << "current-context: c\n";
  auto created = plane_->RunKubectl(
      {"create", "configmap", "via-proxy", "-n", *ns_, "--from-literal=a=b"}, kubeconfig);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->exit_code, 0) << created->err;
  bool kubectl_seen = false;
  for (const ProxiedRequest& r : proxy_->Requests()) {
    kubectl_seen |= r.method == "POST" && r.status == 201 &&
                    r.user_agent.rfind("kubectl/", 0) == 0;
  }
  EXPECT_TRUE(kubectl_seen);
  proxy_->Inject({.method = "GET", .path_regex = "/configmaps/via-proxy$", .code = 500,
                  .count = 100});
  auto failed = plane_->RunKubectl(
      {"get", "configmap", "via-proxy", "-n", *ns_, "--request-timeout=10s"}, kubeconfig);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_NE(failed->exit_code, 0);
  EXPECT_NE(failed->err.find("injected by the test fault proxy"), std::string::npos)
      << failed->err;
}

}  // namespace
}  // namespace registrar::testing
