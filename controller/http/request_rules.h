// File: controller/http/request_rules.h
//
// The rules of the controller's HTTP endpoint, with no sockets, threads or clock: the limits a
// client must stay within (Limits), the answer to each way of breaking them (RefusalAnswer), and
// the answer to a well-formed request (Route: GET and HEAD by exact path, anything else 405).
//
// Flow: the server (server.h) feeds the bytes of a connection to a RequestReader
// (request_reader.h), which applies Limits and ends in a request head or a Refusal. Route() turns
// a head into an Answer by calling the handler registered for its path; RefusalAnswer() turns a
// Refusal (or a timeout, or the connection cap, which the server applies) into one. Every
// refusal, and every request the server cannot safely follow with another on the same
// connection (HTTP/1.0 without keep-alive, `Connection: close`, a request carrying a body, which
// is never read), closes the connection after the answer. No answer repeats a byte of the
// request: TRACE is refused like any other method but GET and HEAD.
//
// Cost: Route is one map lookup plus the handler; RefusalAnswer builds one short string.
// Thread-safety: the functions are pure (Route calls the handler on the caller's thread);
// Routes is read-only once the server has started.
// Ownership: plain values; Route borrows the routes.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace registrar::http {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using Handler = std::function<Response()>;
// Path (exact, e.g. "/healthz") -> handler.
using Routes = std::map<std::string, Handler, std::less<>>;

// What one client may ask of the server. The defaults are the controller's (docs/operations.md,
// "Limits"); tests shorten the timeouts.
struct Limits {
  using Duration = std::chrono::steady_clock::duration;

  // Bytes of the request line ("GET /path HTTP/1.1"), its CRLF not counted. Longer: 414.
  size_t max_request_line = size_t{8} * 1024;
  // Bytes of the header fields after the request line, through the empty line that ends them.
  // More: 431.
  size_t max_header_bytes = size_t{64} * 1024;
  // From a connection's accept (or the first byte of a later request on it) to the end of the
  // request's header. Late: 408 when part of a request came, closed silently when nothing did.
  Duration header_timeout = std::chrono::seconds(10);
  // A kept-alive connection waiting for its next request: closed (no answer) after this.
  Duration idle_timeout = std::chrono::seconds(30);
  // Writing one answer (a client that does not read): closed after this.
  Duration write_timeout = std::chrono::seconds(10);
  // Open connections. The next one is answered 503 and closed at once.
  size_t max_connections = 64;
  // After a refusal the server stops sending and reads (and drops) what the client still sends,
  // at most this long and this much, so that the client sees the answer rather than a reset.
  Duration linger_timeout = std::chrono::seconds(1);
  size_t linger_bytes = size_t{256} * 1024;

  // The most bytes a reader ever holds for one request.
  size_t max_head_bytes() const { return max_request_line + 2 + max_header_bytes; }
};

// Why a request is refused before any handler runs.
enum class Refusal {
  kBadRequest,          // not HTTP/1.0 or HTTP/1.1 syntax (Beast's parser said no) -> 400
  kRequestLineTooLong,  // over Limits::max_request_line -> 414
  kHeadersTooLarge,     // over Limits::max_header_bytes -> 431
  kHeaderTimeout,       // header incomplete after Limits::header_timeout -> 408
  kTooManyConnections,  // Limits::max_connections open already -> 503
};

// "request line too long", ... (for logs).
std::string_view RefusalName(Refusal refusal);

// An answer ready to be written: the response, whether its body is sent (not for HEAD), the
// Allow header (empty: none) and whether the connection closes after it.
struct Answer {
  Response response;
  bool with_body = true;
  std::string allow;
  bool close = false;
};

// The answer to `refusal`: its status, a one-line body naming the limit, and close.
Answer RefusalAnswer(Refusal refusal, const Limits& limits);

// The path of a request target: origin-form "/p?q" -> "/p"; absolute-form
// "http://host:port/p?q" -> "/p" ("http://host" -> "/"); anything else (e.g. "*") as is.
std::string_view PathOf(std::string_view target);

// A well-formed request head, as far as routing cares.
struct RouteRequest {
  std::string_view method;  // case-sensitive: "get" is not GET
  std::string_view target;
  bool keep_alive = true;  // the client asked to keep the connection (HTTP/1.1 default)
  bool has_body = false;   // Content-Length > 0 or chunked: the body is never read
};

// GET/HEAD of a registered path: the handler's response (a handler that throws: 500); an
// unknown path: 404; HEAD never gets a body (its Content-Length is the body's). Any other method,
// whatever the path: 405 with "Allow: GET, HEAD". Closes when !keep_alive or has_body.
Answer Route(const RouteRequest& request, const Routes& routes);

}  // namespace registrar::http
