#include "controller/http/request_rules.h"

#include <stdexcept>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::http {
namespace {

TEST(RefusalAnswer, EachRefusalHasItsStatusAClearBodyAndCloses) {
  Limits limits;
  limits.header_timeout = std::chrono::milliseconds(2500);
  struct Case {
    Refusal refusal;
    int status;
    std::string body;
  };
  const Case cases[] = {
      {Refusal::kBadRequest, 400, "bad request\n"},
      {Refusal::kRequestLineTooLong, 414, "request line over 8192 bytes\n"},
      {Refusal::kHeadersTooLarge, 431, "request header fields over 65536 bytes\n"},
      {Refusal::kHeaderTimeout, 408, "request header not complete within 2.5 s\n"},
      {Refusal::kTooManyConnections, 503, "too many connections (64)\n"},
  };
  for (const Case& c : cases) {
    Answer answer = RefusalAnswer(c.refusal, limits);
    EXPECT_EQ(answer.response.status, c.status) << RefusalName(c.refusal);
    EXPECT_EQ(answer.response.body, c.body);
    EXPECT_EQ(answer.response.content_type, "text/plain; charset=utf-8");
    EXPECT_TRUE(answer.close);
    EXPECT_TRUE(answer.with_body);
    EXPECT_EQ(answer.allow, "");
  }
}

TEST(Limits, DefaultsAreTheDocumentedOnes) {
  Limits limits;
  EXPECT_EQ(limits.max_request_line, 8192u);
  EXPECT_EQ(limits.max_header_bytes, 65536u);
  EXPECT_EQ(limits.header_timeout, std::chrono::seconds(10));
  EXPECT_EQ(limits.idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(limits.write_timeout, std::chrono::seconds(10));
  EXPECT_EQ(limits.max_connections, 64u);
  EXPECT_EQ(limits.max_head_bytes(), 8192u + 2 + 65536u);
}

TEST(PathOf, TargetForms) {
  const std::pair<std::string, std::string> cases[] = {
      {"/healthz", "/healthz"},
      {"/healthz?verbose=1", "/healthz"},
      {"/healthz#frag", "/healthz"},
      {"/", "/"},
      {"http://127.0.0.1:8080/metrics", "/metrics"},
      {"HTTP://host/metrics?x", "/metrics"},
      {"https://host", "/"},
      {"http://host?q", "/"},
      {"*", "*"},
      {"healthz", "healthz"},
      {"", ""},
  };
  for (const auto& [target, path] : cases) {
    EXPECT_EQ(PathOf(target), path) << target;
  }
}

TEST(Route, MethodPathAndConnectionRules) {
  Routes routes;
  routes["/healthz"] = [] { return Response{.status = 200, .body = "ok"}; };
  routes["/boom"] = []() -> Response { throw std::runtime_error("boom"); };
  struct Case {
    std::string method;
    std::string target;
    bool keep_alive;
    bool has_body;
    int status;
    bool with_body;
    std::string allow;
    bool close;
  };
  const Case cases[] = {
      {"GET", "/healthz", true, false, 200, true, "", false},
      {"HEAD", "/healthz", true, false, 200, false, "", false},
      {"GET", "/healthz?x=1", true, false, 200, true, "", false},
      {"GET", "/healthz", false, false, 200, true, "", true},  // HTTP/1.0 or Connection: close
      {"GET", "/healthz", true, true, 200, true, "", true},    // a body is never read
      {"GET", "/nope", true, false, 404, true, "", false},
      {"HEAD", "/nope", true, false, 404, false, "", false},
      {"GET", "/boom", true, false, 500, true, "", false},
      {"TRACE", "/healthz", true, false, 405, true, "GET, HEAD", false},
      {"OPTIONS", "*", true, false, 405, true, "GET, HEAD", false},
      {"POST", "/healthz", true, true, 405, true, "GET, HEAD", true},
      {"PUT", "/nope", true, false, 405, true, "GET, HEAD", false},
      {"get", "/healthz", true, false, 405, true, "GET, HEAD", false},
      {"BREW", "/healthz", true, false, 405, true, "GET, HEAD", false},
  };
  for (const Case& c : cases) {
    Answer answer = Route(RouteRequest{.method = c.method,
                                       .target = c.target,
                                       .keep_alive = c.keep_alive,
                                       .has_body = c.has_body},
                          routes);
    const std::string what = c.method + " " + c.target;
    EXPECT_EQ(answer.response.status, c.status) << what;
    EXPECT_EQ(answer.with_body, c.with_body) << what;
    EXPECT_EQ(answer.allow, c.allow) << what;
    EXPECT_EQ(answer.close, c.close) << what;
  }
}

}  // namespace
}  // namespace registrar::http
