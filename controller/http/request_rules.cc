#include "controller/http/request_rules.h"

#include <exception>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "spdlog/spdlog.h"

namespace registrar::http {

namespace {

Answer Plain(int status, std::string body, bool close) {
  Answer answer;
  answer.response.status = status;
  answer.response.body = std::move(body);
  answer.close = close;
  return answer;
}

std::string Seconds(Limits::Duration d) {
  const double s = std::chrono::duration<double>(d).count();
  return absl::StrCat(s, " s");
}

}  // namespace

std::string_view RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kBadRequest:
      return "malformed request";
    case Refusal::kRequestLineTooLong:
      return "request line too long";
    case Refusal::kHeadersTooLarge:
      return "request header fields too large";
    case Refusal::kHeaderTimeout:
      return "request header timeout";
    case Refusal::kTooManyConnections:
      return "too many connections";
  }
  return "refused";
}

Answer RefusalAnswer(Refusal refusal, const Limits& limits) {
  switch (refusal) {
    case Refusal::kBadRequest:
      return Plain(400, "bad request\n", true);
    case Refusal::kRequestLineTooLong:
      return Plain(414, absl::StrCat("request line over ", limits.max_request_line, " bytes\n"),
                   true);
    case Refusal::kHeadersTooLarge:
      return Plain(431,
                   absl::StrCat("request header fields over ", limits.max_header_bytes, " bytes\n"),
                   true);
    case Refusal::kHeaderTimeout:
      return Plain(
          408,
          absl::StrCat("request header not complete within ", Seconds(limits.header_timeout), "\n"),
          true);
    case Refusal::kTooManyConnections:
      return Plain(503, absl::StrCat("too many connections (", limits.max_connections, ")\n"),
                   true);
  }
  return Plain(400, "bad request\n", true);
}

std::string_view PathOf(std::string_view target) {
  const absl::string_view t(target.data(), target.size());
  if (absl::StartsWithIgnoreCase(t, "http://") || absl::StartsWithIgnoreCase(t, "https://")) {
    const size_t authority = target.find("//") + 2;
    const size_t slash = target.find_first_of("/?#", authority);
    if (slash == std::string_view::npos || target[slash] != '/') {
      return "/";
    }
    target.remove_prefix(slash);
  }
  const size_t end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

Answer Route(const RouteRequest& request, const Routes& routes) {
  const bool close = !request.keep_alive || request.has_body;
  if (request.method != "GET" && request.method != "HEAD") {
    Answer answer = Plain(405, "method not allowed\n", close);
    answer.allow = "GET, HEAD";
    return answer;
  }
  const std::string_view path = PathOf(request.target);
  auto it = routes.find(path);
  if (it == routes.end()) {
    Answer answer = Plain(404, "not found\n", close);
    answer.with_body = request.method == "GET";
    return answer;
  }
  Answer answer;
  answer.with_body = request.method == "GET";
  answer.close = close;
  try {
    answer.response = it->second();
  } catch (const std::exception& e) {
    spdlog::error("http: handler for {} failed: {}", std::string(path), e.what());
    answer.response = Response{.status = 500, .body = "internal error\n"};
  }
  return answer;
}

}  // namespace registrar::http
