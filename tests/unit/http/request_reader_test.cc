#include "controller/http/request_reader.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::http {
namespace {

using State = RequestReader::State;
using ::testing::HasSubstr;
using ::testing::StartsWith;

Limits Small() {
  Limits limits;
  limits.max_request_line = 32;
  limits.max_header_bytes = 64;
  return limits;
}

// Feeds `bytes` in pieces of `step` (0: all at once) and returns the final state.
State FeedAll(RequestReader& reader, const std::string& bytes, size_t step = 0) {
  State state = State::kNeedMore;
  for (size_t at = 0; at < bytes.size() && state == State::kNeedMore;) {
    const size_t n = std::min({step == 0 ? bytes.size() : step, bytes.size() - at, reader.Room()});
    state = reader.Append(std::string_view(bytes).substr(at, n));
    at += n;
  }
  return state;
}

struct Case {
  std::string name;
  std::string bytes;
  State state;
  Refusal refusal = Refusal::kBadRequest;  // when kRefused
};

TEST(RequestReader, OutcomesAtAndOverEachLimit) {
  // Request line "GET /xxxx HTTP/1.1": 4 + target + 9 bytes; 32 allows a 19-byte target.
  const std::string at_line = "GET /" + std::string(18, 'a') + " HTTP/1.1\r\n";
  const std::string over_line = "GET /" + std::string(19, 'a') + " HTTP/1.1\r\n";
  // Header fields: "X: " + value + CRLF, then the final CRLF: 64 allows a 57-byte value.
  const std::string at_fields = "X: " + std::string(57, 'v') + "\r\n\r\n";
  const std::string over_fields = "X: " + std::string(58, 'v') + "\r\n\r\n";
  const std::vector<Case> cases = {
      {"empty", "", State::kNeedMore},
      {"partial line", "GET /hea", State::kNeedMore},
      {"partial header", "GET / HTTP/1.1\r\nHost: x\r\n", State::kNeedMore},
      {"minimal", "GET / HTTP/1.1\r\n\r\n", State::kHead},
      {"line at limit", at_line + "\r\n", State::kHead},
      {"line over limit", over_line + "\r\n", State::kRefused, Refusal::kRequestLineTooLong},
      {"line over limit, no end yet", "GET /" + std::string(40, 'a'), State::kRefused,
       Refusal::kRequestLineTooLong},
      {"fields at limit", "GET / HTTP/1.1\r\n" + at_fields, State::kHead},
      {"fields over limit", "GET / HTTP/1.1\r\n" + over_fields, State::kRefused,
       Refusal::kHeadersTooLarge},
      {"fields over limit, no end yet", "GET / HTTP/1.1\r\nX: " + std::string(70, 'v'),
       State::kRefused, Refusal::kHeadersTooLarge},
      {"bad version", "GET / HTTP/2.0\r\n\r\n", State::kRefused, Refusal::kBadRequest},
      {"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", State::kRefused, Refusal::kBadRequest},
      {"bad field", "GET / HTTP/1.1\r\nNo colon\r\n\r\n", State::kRefused, Refusal::kBadRequest},
      {"NUL in method", std::string("G\0T / HTTP/1.1\r\n\r\n", 18), State::kRefused,
       Refusal::kBadRequest},
      {"bad content-length", "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", State::kRefused,
       Refusal::kBadRequest},
  };
  for (const Case& c : cases) {
    for (size_t step : {0, 1, 7}) {
      RequestReader reader(Small());
      const State state = FeedAll(reader, c.bytes, step);
      EXPECT_EQ(state, c.state) << c.name << " step " << step;
      if (state == State::kRefused) {
        EXPECT_EQ(reader.refusal(), c.refusal) << c.name << " step " << step;
      }
      if (state == State::kNeedMore) {
        EXPECT_GT(reader.Room(), 0u) << c.name;
      }
      EXPECT_LE(reader.buffered(), Small().max_head_bytes()) << c.name;
    }
  }
}

TEST(RequestReader, BareLineFeedsAreRefusedOrNeverEnd) {
  // Beast refuses a bare LF it sees in one piece; in pieces it waits for a CRLF CRLF that never
  // comes, so the header timeout or the size limit ends the request.
  RequestReader whole(Small());
  EXPECT_EQ(whole.Append("GET / HTTP/1.1\n\n"), State::kRefused);
  EXPECT_EQ(whole.refusal(), Refusal::kBadRequest);
  RequestReader pieces(Small());
  EXPECT_EQ(FeedAll(pieces, "GET / HTTP/1.1\n\n", 1), State::kNeedMore);
  EXPECT_EQ(FeedAll(pieces, std::string(100, '\n'), 1), State::kRefused);
  EXPECT_EQ(pieces.refusal(), Refusal::kHeadersTooLarge);
}

TEST(RequestReader, HeadFields) {
  struct HeadCase {
    std::string bytes;
    RequestHead head;
  };
  const std::vector<HeadCase> cases = {
      {"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", {"GET", "/healthz", 11, true, false}},
      {"HEAD /m?x=1 HTTP/1.0\r\n\r\n", {"HEAD", "/m?x=1", 10, false, false}},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", {"GET", "/", 10, true, false}},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", {"GET", "/", 11, false, false}},
      {"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", {"POST", "/", 11, true, true}},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", {"POST", "/", 11, true, true}},
      {"GET / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", {"GET", "/", 11, true, true}},
      {"TRACE * HTTP/1.1\r\n\r\n", {"TRACE", "*", 11, true, false}},
  };
  for (const HeadCase& c : cases) {
    RequestReader reader(Limits{});
    ASSERT_EQ(FeedAll(reader, c.bytes), State::kHead) << c.bytes;
    EXPECT_EQ(reader.head().method, c.head.method) << c.bytes;
    EXPECT_EQ(reader.head().target, c.head.target) << c.bytes;
    EXPECT_EQ(reader.head().version, c.head.version) << c.bytes;
    EXPECT_EQ(reader.head().keep_alive, c.head.keep_alive) << c.bytes;
    EXPECT_EQ(reader.head().has_body, c.head.has_body) << c.bytes;
  }
}

TEST(RequestReader, OneFieldOverBeastsFieldSizeIs431NotAThrow) {
  // Beast throws std::length_error for a field value of 64 KiB or more, which is inside our
  // 64 KiB of header fields when it is the only field.
  for (size_t step : {0, 16384}) {
    RequestReader reader(Limits{});
    EXPECT_EQ(
        FeedAll(reader, "GET / HTTP/1.1\r\nX-Big: " + std::string(65530, 'b') + "\r\n\r\n", step),
        State::kRefused);
    EXPECT_EQ(reader.refusal(), Refusal::kHeadersTooLarge);
  }
}

TEST(RequestReader, PipelinedRequestsComeOneAfterAnother) {
  RequestReader reader(Limits{});
  ASSERT_EQ(reader.Append("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HT"), State::kHead);
  EXPECT_EQ(reader.head().target, "/a");
  ASSERT_EQ(reader.Consume(), State::kHead);
  EXPECT_EQ(reader.head().target, "/b");
  ASSERT_EQ(reader.Consume(), State::kNeedMore);
  EXPECT_EQ(reader.buffered(), 9u);
  ASSERT_EQ(reader.Append("TP/1.1\r\n\r\n"), State::kHead);
  EXPECT_EQ(reader.head().target, "/c");
  EXPECT_EQ(reader.Consume(), State::kNeedMore);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(RequestReader, RoomNeverLetsTheBufferPassTheLimit) {
  RequestReader reader(Small());
  State state = reader.Append("GET / HTTP/1.1\r\n");
  while (state == State::kNeedMore) {
    ASSERT_GT(reader.Room(), 0u);
    state = reader.Append(std::string(reader.Room(), 'x').substr(0, 5));
  }
  EXPECT_EQ(state, State::kRefused);
  EXPECT_EQ(reader.refusal(), Refusal::kHeadersTooLarge);
  EXPECT_LE(reader.buffered(), Small().max_head_bytes());
}

TEST(SerializeAnswer, StatusLineHeadersAndBody) {
  Answer ok{.response = Response{.status = 200, .content_type = "text/plain", .body = "ok"},
            .with_body = true,
            .allow = "",
            .close = false};
  EXPECT_EQ(SerializeAnswer(ok, 11),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
  Answer head = ok;
  head.with_body = false;
  EXPECT_EQ(SerializeAnswer(head, 11),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n");
  Answer refused = RefusalAnswer(Refusal::kHeadersTooLarge, Limits{});
  const std::string bytes = SerializeAnswer(refused, 11);
  EXPECT_THAT(bytes, StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  EXPECT_THAT(bytes, HasSubstr("\r\nConnection: close\r\n"));
  Answer not_allowed = Route(RouteRequest{.method = "TRACE", .target = "/"}, Routes{});
  EXPECT_THAT(SerializeAnswer(not_allowed, 11), HasSubstr("\r\nAllow: GET, HEAD\r\n"));
  // HTTP/1.0 keep-alive has to be said.
  EXPECT_THAT(SerializeAnswer(ok, 10), HasSubstr("\r\nConnection: keep-alive\r\n"));
  EXPECT_THAT(SerializeAnswer(ok, 10), StartsWith("HTTP/1.0 200 OK\r\n"));
}

}  // namespace
}  // namespace registrar::http
