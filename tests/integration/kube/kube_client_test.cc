// The REST client (controller/kube/client_impl.h) against the real kube-apiserver 1.34: typed
// requests through kube::Api with the admin client certificate and with ServiceAccount tokens,
// the errors the server really sends told apart (404, 409 AlreadyExists vs Conflict, 422, 403,
// 401 with one retry), TLS failures, injected 429/500/504 through KubeFaultProxy, deadlines
// against a listener that never answers, many concurrent calls and the client-side rate limit.
// Watches are in kube_client_watch_test.cc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

#include "controller/kube/api_status.h"
#include "tests/fixtures/kube_fault_proxy.h"
#include "tests/integration/kube/kube_client_fixture.h"
#include "tests/testing/ports.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace registrar::kube {
namespace {

using json = nlohmann::json;
using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::registrar::testing::WaitFor;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr std::chrono::steady_clock::duration kWait = seconds(20);

TEST_F(KubeClientTest, AdminCertificateGetListCreateAndPatches) {
  auto client = Admin();
  ASSERT_NE(client, nullptr);
  Api api(*client);
  auto created = api.Create(kServiceRegistrations, *ns_, NewRegistration("a"));
  ASSERT_THAT(created, IsOk());
  EXPECT_EQ((*created)["metadata"]["name"], "a");

  auto got = api.Get(kServiceRegistrations, *ns_, "a");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(Rv(*got), Rv(*created));

  auto page = api.List(kServiceRegistrations, *ns_, {.label_selector = "", .limit = 10});
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_FALSE(page->resource_version.empty());

  // JSON patch (application/json-patch+json), merge patch, and the /status subresource.
  auto json_patched =
      api.Patch(kServiceRegistrations, *ns_, "a", PatchType::kJson,
                json::array({{{"op", "test"}, {"path", "/spec/value"}, {"value", "10.0.0.1:80"}},
                             {{"op", "replace"}, {"path", "/spec/value"}, {"value", "v2"}}}));
  ASSERT_THAT(json_patched, IsOk());
  EXPECT_EQ((*json_patched)["spec"]["value"], "v2");
  auto merged = api.Patch(kServiceRegistrations, *ns_, "a", PatchType::kMerge,
                          {{"metadata", {{"labels", {{"tier", "a-b_c.d"}}}}}});
  ASSERT_THAT(merged, IsOk());
  auto status = api.Patch(kServiceRegistrations, *ns_, "a", PatchType::kMerge,
                          {{"status", {{"phase", "Registered"}, {"observedGeneration", 2}}}},
                          "status");
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ((*status)["status"]["phase"], "Registered");
  // A status patch does not touch the spec, and a spec patch does not touch the status.
  EXPECT_EQ((*status)["spec"]["value"], "v2");

  // A label selector with characters that need escaping reaches the server intact.
  auto selected = api.List(kServiceRegistrations, *ns_,
                           {.label_selector = "tier notin (x,y),tier", .limit = 10});
  ASSERT_THAT(selected, IsOk());
  EXPECT_EQ(selected->items.size(), 1u);
}

TEST_F(KubeClientTest, ServerErrorsAreToldApart) {
  auto client = Admin();
  ASSERT_NE(client, nullptr);
  Api api(*client);
  absl::Status missing = api.Get(kServiceRegistrations, *ns_, "missing").status();
  EXPECT_TRUE(kube::IsNotFound(missing)) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("missing"));

  auto b = api.Create(kServiceRegistrations, *ns_, NewRegistration("b"));
  ASSERT_THAT(b, IsOk());
  absl::Status again = api.Create(kServiceRegistrations, *ns_, NewRegistration("b")).status();
  EXPECT_TRUE(kube::IsAlreadyExists(again)) << again;
  EXPECT_FALSE(kube::IsConflict(again));

  ASSERT_THAT(api.Patch(kServiceRegistrations, *ns_, "b", PatchType::kMerge,
                        {{"spec", {{"value", "newer"}}}}),
              IsOk());
  // A merge patch that carries the old resourceVersion is a precondition: 409 Conflict.
  absl::Status stale = api.Patch(kServiceRegistrations, *ns_, "b", PatchType::kMerge,
                                 {{"metadata", {{"resourceVersion", Rv(*b)}}},
                                  {"spec", {{"value", "stale"}}}})
                           .status();
  EXPECT_TRUE(kube::IsConflict(stale)) << stale;
  EXPECT_FALSE(kube::IsAlreadyExists(stale));
  EXPECT_THAT(stale, StatusIs(absl::StatusCode::kAborted));

  // A JSON patch whose `test` op fails: the real server answers 422 Invalid, with a generic
  // message and no causes (nothing says which op failed).
  absl::Status failed_test =
      api.Patch(kServiceRegistrations, *ns_, "b", PatchType::kJson,
                json::array({{{"op", "test"}, {"path", "/spec/value"}, {"value", "not it"}}}))
          .status();
  EXPECT_TRUE(kube::IsInvalid(failed_test)) << failed_test;
  EXPECT_THAT(failed_test.message(),
              HasSubstr("the server rejected our request due to an error in our request"));
  EXPECT_TRUE(ReadApiError(failed_test)->causes.empty());

  // A schema violation is 422 too, with the field named.
  absl::Status invalid =
      api.Patch(kServiceRegistrations, *ns_, "b", PatchType::kMerge,
                {{"status", {{"phase", "Bogus"}}}}, "status")
          .status();
  EXPECT_TRUE(kube::IsInvalid(invalid)) << invalid;
  EXPECT_THAT(invalid.message(), HasSubstr("status.phase"));
}

TEST_F(KubeClientTest, ServiceAccountTokenAndForbiddenNamesVerbAndResource) {
  auto robot = MustClient(TokenConfig(), {*robot_token_});
  ASSERT_NE(robot, nullptr);
  Api robot_api(*robot);
  EXPECT_THAT(robot_api.List(kServiceRegistrations, *ns_, {}), IsOk());

  auto nobody = MustClient(TokenConfig(), {*nobody_token_});
  ASSERT_NE(nobody, nullptr);
  absl::Status denied = Api(*nobody).List(kServiceRegistrations, *ns_, {}).status();
  EXPECT_TRUE(kube::IsForbidden(denied)) << denied;
  EXPECT_THAT(denied, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(denied.message(), HasSubstr("cannot list resource \"serviceregistrations\""));
  EXPECT_THAT(denied.message(), HasSubstr("system:serviceaccount:" + *ns_ + ":nobody"));
}

TEST_F(KubeClientTest, UnauthorizedInvalidatesTheTokenAndRetriesOnce) {
  std::atomic<int> requests{0};
  absl::Mutex mu;
  std::vector<std::string> seen;  // "verb resource code" of each request
  ClientOptions options;
  options.on_request = [&](const std::string& verb, const std::string& resource, int code,
                           double seconds) {
    ++requests;
    absl::MutexLock lock(&mu);
    seen.push_back(absl::StrCat(verb, " ", resource, " ", code));
    EXPECT_GE(seconds, 0);
  };
  TestCredentials* creds = nullptr;
  auto client = MustClient(TokenConfig(), {"bogus", *robot_token_}, options, &creds);
  ASSERT_NE(client, nullptr);
  EXPECT_THAT(Api(*client).List(kServiceRegistrations, *ns_, {}), IsOk());
  EXPECT_EQ(creds->invalidations(), 1);
  EXPECT_EQ(requests.load(), 2);
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(seen, std::vector<std::string>(
                        {"list serviceregistrations 401", "list serviceregistrations 200"}));
  }

  // A token that stays bad: one retry only, then 401 kUnauthenticated.
  requests = 0;
  auto bad = MustClient(TokenConfig(), {"bogus"}, options, &creds);
  ASSERT_NE(bad, nullptr);
  absl::Status refused = Api(*bad).List(kServiceRegistrations, *ns_, {}).status();
  EXPECT_TRUE(kube::IsUnauthorized(refused)) << refused;
  EXPECT_EQ(creds->invalidations(), 1);
  EXPECT_EQ(requests.load(), 2);
}

TEST_F(KubeClientTest, AWrongCaIsUnavailableNamingTls) {
  testing::TempDir dir("kclient-ca");
  auto made = testing::RunCommand(
      "/usr/bin/openssl", {"req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                           dir.path() + "/other.key", "-out", dir.path() + "/other.crt", "-days",
                           "1", "-subj", "/CN=other-ca"});
  ASSERT_TRUE(made.ok() && made->exit_code == 0) << (made.ok() ? made->err : "");
  ClusterConfig config = AdminConfig();
  config.ca_pem = ReadWholeFile(dir.path() + "/other.crt");
  auto client = MustClient(config, {""});
  ASSERT_NE(client, nullptr);
  absl::Status s = Api(*client).List(kServiceRegistrations, *ns_, {}).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(s.message(), HasSubstr("TLS"));
  EXPECT_THAT(s.message(), HasSubstr(plane_->server()));

  // insecure_skip_tls_verify accepts the same server (authenticated by the client certificate).
  config.insecure_skip_tls_verify = true;
  auto insecure = MustClient(config, {""});
  ASSERT_NE(insecure, nullptr);
  EXPECT_THAT(Api(*insecure).List(kServiceRegistrations, *ns_, {}), IsOk());
}

TEST_F(KubeClientTest, TlsServerNameIsVerifiedInsteadOfTheUrlHost) {
  // The serving certificate names 127.0.0.1, localhost and kubernetes.default.svc (and more), not
  // "wrong.example": with tls_server_name that name is checked, not the URL's 127.0.0.1.
  ClusterConfig config = AdminConfig();
  config.tls_server_name = "wrong.example";
  auto wrong = MustClient(config, {""});
  ASSERT_NE(wrong, nullptr);
  absl::Status s = Api(*wrong).List(kServiceRegistrations, *ns_, {}).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(s.message(), HasSubstr("TLS"));
  config.tls_server_name = "kubernetes.default.svc";
  auto right = MustClient(config, {""});
  ASSERT_NE(right, nullptr);
  EXPECT_THAT(Api(*right).List(kServiceRegistrations, *ns_, {}), IsOk());
}

TEST_F(KubeClientTest, ConnectionRefusedIsUnavailableNamingTheServer) {
  const std::string server = "https://127.0.0.1:" + std::to_string(testing::PickFreePort());
  auto client = MustClient(TokenConfig(server), {"t"});
  ASSERT_NE(client, nullptr);
  absl::Status s = Api(*client).List(kServiceRegistrations, *ns_, {}).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(s.message(), HasSubstr(server));
  EXPECT_TRUE(kube::IsRetryable(s));
}

class FaultProxyClientTest : public KubeClientTest {
 protected:
  void SetUp() override {
    KubeClientTest::SetUp();
    auto proxy = testing::KubeFaultProxy::Start({.upstream_port = plane_->port(),
                                                 .upstream_ca_file = plane_->ca_file(),
                                                 .serving_cert_file = plane_->dir() + "/server.crt",
                                                 .serving_key_file = plane_->dir() + "/server.key"});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
  }
  std::unique_ptr<Client> ThroughProxy(ClientOptions options = {}) {
    return MustClient(TokenConfig(proxy_->url()), {*robot_token_}, std::move(options));
  }
  std::unique_ptr<testing::KubeFaultProxy> proxy_;
};

TEST_F(FaultProxyClientTest, InjectedThrottlingAndServerErrorsAreDecoded) {
  auto client = ThroughProxy();
  ASSERT_NE(client, nullptr);
  Api api(*client);
  proxy_->Inject({.method = "GET", .path_regex = "serviceregistrations$", .code = 429,
                  .count = 1, .retry_after_seconds = 7});
  absl::Status throttled = api.List(kServiceRegistrations, *ns_, {}).status();
  EXPECT_THAT(throttled, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(RetryAfter(throttled), seconds(7)) << throttled;
  EXPECT_TRUE(kube::IsRetryable(throttled));

  proxy_->Inject({.method = "GET", .path_regex = "serviceregistrations$", .code = 500});
  absl::Status internal = api.List(kServiceRegistrations, *ns_, {}).status();
  EXPECT_THAT(internal, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReadApiError(internal)->code, 500);

  proxy_->Inject({.method = "GET", .path_regex = "serviceregistrations$", .code = 504});
  absl::Status timeout = api.List(kServiceRegistrations, *ns_, {}).status();
  EXPECT_THAT(timeout, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReadApiError(timeout)->code, 504);
  EXPECT_FALSE(RetryAfter(timeout).has_value());

  // The injections are used up: the next request reaches the server.
  EXPECT_THAT(api.List(kServiceRegistrations, *ns_, {}), IsOk());
  std::vector<testing::ProxiedRequest> log = proxy_->Requests();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[3].status, 200);
  EXPECT_EQ(log[0].user_agent, "etcd-registrar");
}

TEST_F(FaultProxyClientTest, RateLimitPacesABurst) {
  // qps 5, burst 2: by time t after the client was made, at most 2 + 5 t requests can have
  // reached the proxy, whatever the machine's load (load only delays them further).
  constexpr double kQps = 5;
  constexpr int kBurst = 2;
  constexpr int kRequests = 10;
  const auto made = std::chrono::steady_clock::now();
  auto client = ThroughProxy({.qps = kQps, .burst = kBurst});
  ASSERT_NE(client, nullptr);
  std::atomic<int> ok{0};
  std::vector<std::jthread> threads;
  for (int t = 0; t < 5; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRequests / 5; ++i) {
        ok += Api(*client).List(kServiceRegistrations, *ns_, {.limit = 1}).ok();
      }
    });
  }
  int max_excess = -1000;
  bool all_seen = WaitFor(
      [&] {
        const int seen = static_cast<int>(proxy_->Requests().size());
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - made).count();
        max_excess = std::max(max_excess, seen - kBurst - static_cast<int>(kQps * elapsed));
        return seen == kRequests;
      },
      kWait, milliseconds(5));
  threads.clear();
  EXPECT_TRUE(all_seen);
  EXPECT_EQ(ok.load(), kRequests);
  EXPECT_LE(max_excess, 0) << "more requests reached the server than the rate limit allows";
}

TEST_F(KubeClientTest, DeadlineOnAServerThatNeverAnswersCancelsTheRequest) {
  // A listener whose backlog completes the TCP handshake and nothing more: the TLS handshake hangs.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 64), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string server = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto client = MustClient(TokenConfig(server), {"t"});
  ASSERT_NE(client, nullptr);
  Request request{.path = "/api/v1/namespaces", .timeout = milliseconds(1000), .verb = "list"};

  // Warm up cpprest's thread pool, then count threads.
  EXPECT_THAT(client->Call(request), StatusIs(absl::StatusCode::kDeadlineExceeded));
  const int threads_before = ThreadCount();
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::string> answer = client->Call(request);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_THAT(answer, StatusIs(absl::StatusCode::kDeadlineExceeded));
    EXPECT_THAT(answer.status().message(), HasSubstr(server));
    EXPECT_LT(took, milliseconds(2000));
    EXPECT_GE(took, milliseconds(1000));
  }
  EXPECT_TRUE(WaitFor([&] { return ThreadCount() <= threads_before; }, seconds(10)))
      << ThreadCount() << " threads, " << threads_before << " before";
  close(fd);
}

TEST_F(KubeClientTest, TwoHundredConcurrentCallsFromEightThreadsAllComplete) {
  auto client = Admin();  // the default rate limit: 50 qps, bursts of 100
  ASSERT_NE(client, nullptr);
  std::atomic<int> ok{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        Api api(*client);
        for (int i = 0; i < 25; ++i) {
          ok += api.Get(kNamespaces, "", *ns_).ok();
        }
      });
    }
  }
  EXPECT_EQ(ok.load(), 200);
}

}  // namespace
}  // namespace registrar::kube
