#include "controller/http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <cpprest/http_client.h>

#include "controller/http/health.h"
#include "controller/http/metrics.h"
#include "tests/testing/ports.h"
#include "tests/testing/status_matchers.h"

namespace registrar::http {
namespace {

using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::HasSubstr;
using web::http::methods;
using web::http::client::http_client;

struct Got {
  int status;
  std::string content_type;
  std::string body;
};

Got Fetch(const std::string& addr, const std::string& path,
          const web::http::method& method = methods::GET) {
  http_client client("http://" + addr);
  web::http::http_response response = client.request(method, path).get();
  return Got{response.status_code(), response.headers().content_type(),
             response.extract_utf8string(true).get()};
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : addr_("127.0.0.1:" + std::to_string(registrar::testing::PickFreePort())), server_(addr_) {}

  std::string addr_;
  Server server_;
};

TEST_F(ServerTest, ServesRegisteredRoutes) {
  HealthChecks healthz("healthz");
  healthz.Add("ping", [] { return absl::OkStatus(); });
  HealthChecks readyz("readyz");
  bool etcd_ok = true;
  readyz.Add("source", [] { return absl::OkStatus(); });
  readyz.Add("etcd", [&] {
    return etcd_ok ? absl::OkStatus() : absl::UnavailableError("no etcd endpoint answers");
  });
  Registry registry;
  registry.AddCounter("hits_total", "Hits").Inc();
  server_.Handle("/healthz", [&] { return healthz.Serve(); });
  server_.Handle("/readyz", [&] { return readyz.Serve(); });
  server_.Handle("/metrics", [&] {
    return Response{.content_type = Registry::kContentType, .body = registry.Render()};
  });
  server_.Handle("/registrations", [] {
    return Response{.content_type = "application/json", .body = "[{\"name\":\"a\"}]"};
  });
  ASSERT_THAT(server_.Start(), IsOk());

  Got got = Fetch(addr_, "/healthz");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "ok");

  got = Fetch(addr_, "/readyz");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "ok");

  etcd_ok = false;
  got = Fetch(addr_, "/readyz");
  EXPECT_EQ(got.status, 503);
  EXPECT_EQ(got.body,
            "[+]source ok\n[-]etcd failed: no etcd endpoint answers\nreadyz check failed\n");

  got = Fetch(addr_, "/metrics");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(got.body, "# HELP hits_total Hits\n# TYPE hits_total counter\nhits_total 1\n");

  got = Fetch(addr_, "/registrations");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.content_type, "application/json");
  EXPECT_EQ(got.body, "[{\"name\":\"a\"}]");

  EXPECT_EQ(Fetch(addr_, "/nope").status, 404);
  EXPECT_EQ(Fetch(addr_, "/healthz", methods::POST).status, 405);
  server_.Stop();
  server_.Stop();  // idempotent
}

TEST_F(ServerTest, HandlerExceptionBecomes500) {
  server_.Handle("/boom", []() -> Response { throw std::runtime_error("boom"); });
  ASSERT_THAT(server_.Start(), IsOk());
  EXPECT_EQ(Fetch(addr_, "/boom").status, 500);
}

TEST(Server, PortInUseIsAClearError) {
  // Another process's listener, played by a plain socket. (Two cpprest listeners on one port in
  // one process share cpprest's per-process port table instead: not a case main.cc can hit.)
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  Server server(taken);
  absl::Status status = server.Start();
  close(fd);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(status.message(), HasSubstr("--http-addr: cannot listen on " + taken));
}

TEST_F(ServerTest, StartTwiceAndBadAddressAreErrors) {
  ASSERT_THAT(server_.Start(), IsOk());
  EXPECT_THAT(server_.Start(), StatusIs(absl::StatusCode::kFailedPrecondition));
  Server bad("localhost");
  EXPECT_THAT(bad.Start(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ServerTest, RestartAfterStopServesAgain) {
  server_.Handle("/healthz", [] { return Response{.body = "ok"}; });
  ASSERT_THAT(server_.Start(), IsOk());
  server_.Stop();
  ASSERT_THAT(server_.Start(), IsOk());
  EXPECT_EQ(Fetch(addr_, "/healthz").status, 200);
}

TEST(HealthChecks, NoChecksIsHealthy) {
  HealthChecks checks("healthz");
  Response response = checks.Serve();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok");
}

}  // namespace
}  // namespace registrar::http
