// The /_test/ controls of kube-test-server (docs/kube-test-server.md): request log, error
// injection, closing and refusing watches, forced 410, compaction; and that they never live
// under the Kubernetes API paths.
#include <sstream>

#include "gtest/gtest.h"
#include "tests/kube-test-server/tests/kts_harness.h"

namespace registrar::kts::testing {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class ControlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = Backend::Start().release();
    ASSERT_NE(server_, nullptr);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_EQ(http().Do("DELETE", "/_test/inject").status, 200);
  }
  Http http() const { return server_->http(); }
  static std::vector<json> Log() {
    std::vector<json> out;
    std::istringstream in(server_->http().Get("/_test/requests").body);
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
  }
  static inline const std::string kLeases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
  static Backend* server_;
};
Backend* ControlsTest::server_ = nullptr;

TEST_F(ControlsTest, RequestLogRecordsRequestsAndCanBeCleared) {
  ASSERT_EQ(http().Do("DELETE", "/_test/requests").status, 200);
  http().Do("GET", kLeases + "?limit=500", "", {.user_agent = "kubectl/v1.34.5 (linux/amd64)"});
  json lease = {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"},
                {"metadata", {{"name", "logged"}}}, {"spec", json::object()}};
  http().Do("POST", kLeases + "?fieldManager=etcd-registrar", lease.dump());
  std::vector<json> log = Log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["method"], "GET");
  EXPECT_EQ(log[0]["path"], kLeases);
  EXPECT_EQ(log[0]["query"], "limit=500");
  EXPECT_EQ(log[0]["userAgent"], "kubectl/v1.34.5 (linux/amd64)");
  EXPECT_EQ(log[0]["status"], 200);
  EXPECT_EQ(log[1]["method"], "POST");
  EXPECT_EQ(log[1]["fieldManager"], "etcd-registrar");
  EXPECT_EQ(log[1]["status"], 201);
  ASSERT_EQ(http().Do("DELETE", "/_test/requests").status, 200);
  EXPECT_TRUE(Log().empty());  // control requests are not logged
}

TEST_F(ControlsTest, InjectedErrorsHitTheNextNMatchingRequests) {
  HttpResponse inj = http().Do("POST", "/_test/inject",
                               json{{"method", "GET"}, {"path", "/leases$"}, {"code", 429},
                                    {"count", 2}, {"retryAfterSeconds", 3}}.dump());
  ASSERT_EQ(inj.status, 200) << inj.body;
  EXPECT_EQ(http().Get("/version").status, 200);  // does not match the path
  HttpResponse first = http().Get(kLeases);
  EXPECT_EQ(first.status, 429);
  EXPECT_EQ(first.Header("retry-after"), "3");
  EXPECT_EQ(first.json()["reason"], "TooManyRequests");
  EXPECT_EQ(first.json()["details"]["retryAfterSeconds"], 3);
  EXPECT_EQ(http().Get(kLeases).status, 429);
  EXPECT_EQ(http().Get(kLeases).status, 200);  // count used up
  for (int code : {409, 500, 504}) {
    ASSERT_EQ(http().Do("POST", "/_test/inject",
                        json{{"method", "PUT"}, {"path", "leases/x"}, {"code", code}}.dump()).status, 200);
    HttpResponse r = http().Do("PUT", kLeases + "/x", "{}");
    EXPECT_EQ(r.status, code);
    EXPECT_EQ(r.json()["kind"], "Status");
  }
  HttpResponse logged = http().Get("/_test/requests");
  EXPECT_NE(logged.body.find("\"status\":504"), std::string::npos);  // injected answers are logged
  // User-Agent filter.
  ASSERT_EQ(http().Do("POST", "/_test/inject",
                      json{{"path", "leases"}, {"code", 500}, {"userAgent", "^controller"}}.dump()).status, 200);
  EXPECT_EQ(http().Get(kLeases).status, 200);
  EXPECT_EQ(http().Do("GET", kLeases, "", {.user_agent = "controller/1"}).status, 500);
  EXPECT_EQ(http().Do("POST", "/_test/inject", "{\"code\":200}").status, 400);
  EXPECT_EQ(http().Do("POST", "/_test/inject", "{\"path\":\"(\"}").status, 400);
}

TEST_F(ControlsTest, CloseWatchesEndsStreamsAndCanRefuseNewOnes) {
  auto w1 = WatchReader::Open(server_->http(), kLeases + "?watch=true");
  auto w2 = WatchReader::Open(server_->http(), "/api/v1/namespaces?watch=true&resourceVersion=0");
  ASSERT_EQ(w1->status(), 200);
  ASSERT_EQ(w2->status(), 200);
  auto deadline = std::chrono::steady_clock::now() + seconds(5);
  while (http().Get("/_test/watches").json()["open"] != 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  HttpResponse closed = http().Do("POST", "/_test/close-watches?refuseSeconds=1");
  ASSERT_EQ(closed.status, 200);
  EXPECT_EQ(closed.json()["closed"], 2);
  EXPECT_TRUE(w1->WaitEnded(seconds(3)));
  EXPECT_TRUE(w2->WaitEnded(seconds(3)));
  auto refused = WatchReader::Open(server_->http(), kLeases + "?watch=true");
  EXPECT_EQ(refused->status(), 503);
  EXPECT_EQ(http().Get(kLeases).status, 200);  // lists still work
  std::this_thread::sleep_for(milliseconds(1100));
  auto again = WatchReader::Open(server_->http(), kLeases + "?watch=true");
  EXPECT_EQ(again->status(), 200);
  EXPECT_EQ(http().Do("POST", "/_test/close-watches?refuseSeconds=abc").status, 400);
}

TEST_F(ControlsTest, ForcedExpiryForWatchesBelowAResourceVersion) {
  std::string rv = http().Get(kLeases).json()["metadata"]["resourceVersion"];
  int64_t floor = std::stoll(rv);
  ASSERT_EQ(http().Do("POST", "/_test/expire-watches?belowResourceVersion=" + std::to_string(floor)).status, 200);
  auto old = WatchReader::Open(server_->http(), kLeases + "?watch=true&resourceVersion=" + std::to_string(floor - 1));
  ASSERT_EQ(old->status(), 200);
  auto e = old->Next(seconds(5));
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ERROR");
  EXPECT_EQ((*e)["object"]["code"], 410);
  EXPECT_TRUE(old->WaitEnded(seconds(3)));
  auto ok = WatchReader::Open(server_->http(), kLeases + "?watch=true&resourceVersion=" + rv);
  ASSERT_EQ(ok->status(), 200);
  EXPECT_FALSE(ok->Next(milliseconds(300)));
  ASSERT_EQ(http().Do("POST", "/_test/expire-watches?belowResourceVersion=0").status, 200);
  EXPECT_EQ(http().Do("POST", "/_test/expire-watches?belowResourceVersion=x").status, 400);
}

TEST_F(ControlsTest, ControlsAreNotUnderApiPathsAndUnknownOnesAre404) {
  EXPECT_EQ(http().Get("/api/_test/requests").status, 404);
  EXPECT_EQ(http().Get("/apis/_test/requests").status, 404);
  HttpResponse unknown = http().Do("POST", "/_test/nothing");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("unknown control"), std::string::npos);
}

TEST(RestartTest, StateAndKubeSystemUidSurviveAServerRestart) {
  auto server = Backend::Start();
  ASSERT_NE(server, nullptr);
  json crd_created = json::parse(server->http().Post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                                     LoadCrd()).body);
  ASSERT_EQ(crd_created["kind"], "CustomResourceDefinition");
  std::string uid = server->http().Get("/api/v1/namespaces/kube-system").json()["metadata"]["uid"];
  ASSERT_FALSE(uid.empty());
  ASSERT_TRUE(server->RestartServer());
  EXPECT_EQ(server->http().Get("/api/v1/namespaces/kube-system").json()["metadata"]["uid"], uid);
  // The CRD stored in etcd is served again after the restart.
  EXPECT_EQ(server->http().Get("/apis/registrar.dev/v1alpha1/namespaces/default/serviceregistrations").status, 200);
}

}  // namespace
}  // namespace registrar::kts::testing
