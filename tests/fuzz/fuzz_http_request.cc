// The HTTP request path of the controller's endpoint, as the server drives it but without
// sockets: bytes of one connection -> RequestReader (Beast's parser + our limits) -> Route or
// RefusalAnswer -> SerializeAnswer, answering pipelined requests until one closes.
// Input: 1 byte of options (bit 0: small limits, 64-byte request line and 256 bytes of header
// fields, to reach the refusals often; bits 1-3: how the bytes are split into reads), then the
// bytes the client sends.
// Invariants: the reader never holds more than the limits allow and always has room while it
// wants more; a head has a method, a target and version 1.0 or 1.1; every answer is one of the
// known statuses and parses back (Beast's response parser) with the same status, body and
// keep-alive; an answer never grows with the request (nothing is echoed).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "controller/http/request_reader.h"
#include "controller/http/request_rules.h"
#include "spdlog/spdlog.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using registrar::http::Answer;
using registrar::http::Limits;
using registrar::http::RequestReader;
using registrar::http::Response;
using registrar::http::Routes;

const Routes& TheRoutes() {
  static const Routes* routes = new Routes{
      {"/healthz", [] { return Response{.status = 200, .body = "ok"}; }},
      {"/readyz", [] { return Response{.status = 503, .body = "[-]etcd failed\n"}; }},
      {"/json",
       [] {
         return Response{200, "application/json", "{\"a\":1}"};
       }},
      {"/boom", []() -> Response { throw std::runtime_error("boom"); }},
  };
  return *routes;
}

void CheckAnswer(const Answer& answer, unsigned version, bool head_request) {
  const int s = answer.response.status;
  FUZZ_CHECK(
      s == 200 || s == 400 || s == 404 || s == 405 || s == 414 || s == 431 || s == 500 || s == 503,
      "an unexpected status");
  FUZZ_CHECK(s != 405 || answer.allow == "GET, HEAD", "405 without Allow");
  const std::string bytes = registrar::http::SerializeAnswer(answer, version);
  FUZZ_CHECK(bytes.size() <= 256, "an answer grew with the request");

  namespace http = boost::beast::http;
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.skip(head_request);
  boost::beast::error_code ec;
  const size_t used = parser.put(boost::asio::buffer(bytes), ec);
  FUZZ_CHECK(!ec, "the answer does not parse as an HTTP response");
  FUZZ_CHECK(parser.is_done() && used == bytes.size(), "the answer has trailing or missing bytes");
  FUZZ_CHECK(parser.get().result_int() == static_cast<unsigned>(s), "status changed on the wire");
  FUZZ_CHECK(parser.get().body() == (answer.with_body ? answer.response.body : std::string()),
             "body changed on the wire");
  FUZZ_CHECK(parser.keep_alive() == !answer.close, "keep-alive changed on the wire");
}

}  // namespace

// The handler that throws is logged as an error each time; the log is noise here.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) {
    return 0;
  }
  Limits limits;
  if (data[0] & 1) {
    limits.max_request_line = 64;
    limits.max_header_bytes = 256;
  }
  static constexpr size_t kSteps[] = {1, 2, 3, 7, 64, 512, 4096, 1 << 20};
  const size_t step = kSteps[(data[0] >> 1) & 7];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  RequestReader reader(limits);
  RequestReader::State state = RequestReader::State::kNeedMore;
  size_t at = 0;
  for (;;) {
    if (state == RequestReader::State::kNeedMore) {
      if (at == input.size()) {
        return 0;  // the client stopped sending: the server would wait for the header timeout
      }
      FUZZ_CHECK(reader.Room() > 0, "the reader wants more but has no room");
      const size_t n = std::min({step, input.size() - at, reader.Room()});
      state = reader.Append(input.substr(at, n));
      at += n;
      FUZZ_CHECK(reader.buffered() <= limits.max_head_bytes(), "the reader holds too much");
      continue;
    }
    if (state == RequestReader::State::kRefused) {
      const Answer answer = registrar::http::RefusalAnswer(reader.refusal(), limits);
      FUZZ_CHECK(answer.close, "a refusal keeps the connection");
      CheckAnswer(answer, 11, false);
      return 0;
    }
    const registrar::http::RequestHead& head = reader.head();
    FUZZ_CHECK(!head.method.empty() && !head.target.empty(), "a head without method or target");
    FUZZ_CHECK(head.version == 10 || head.version == 11, "a version other than 1.0 or 1.1");
    const Answer answer =
        registrar::http::Route(registrar::http::RouteRequest{.method = head.method,
                                                             .target = head.target,
                                                             .keep_alive = head.keep_alive,
                                                             .has_body = head.has_body},
                               TheRoutes());
    FUZZ_CHECK(answer.close == (!head.keep_alive || head.has_body), "the close rule");
    CheckAnswer(answer, head.version, head.method == "HEAD");
    if (answer.close) {
      return 0;
    }
    state = reader.Consume();
  }
}
