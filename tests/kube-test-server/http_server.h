// File: tests/kube-test-server/http_server.h
//
// The HTTP/1.1 layer of the test server (Boost.Beast over Asio, synchronous, one thread per
// connection). It parses requests (path, decoded query, headers, body), keeps connections alive,
// and lets a handler either send one response or stream a chunked body (watch streams: one chunk
// per event, flushed as written). It knows nothing about Kubernetes.
//
// Flow: Listen() binds 127.0.0.1:port (0 = a free port); Serve() runs the accept loop on the
// calling thread and starts a std::jthread per connection; finished connection threads are joined
// on the next accept.
//
// Thread-safety: the handler is called concurrently from connection threads. A ResponseWriter
// belongs to one connection thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace registrar::kts {

struct HttpRequest {
  std::string method;  // GET, POST, ...
  std::string target;  // raw request target
  std::string path;    // percent-decoded path, no query
  std::string raw_query;
  std::multimap<std::string, std::string> query;  // decoded
  std::map<std::string, std::string> headers;     // lower-case names
  std::string body;

  // The first value of a query parameter, or "" when absent.
  std::string Query(const std::string& name) const;
  bool HasQuery(const std::string& name) const { return query.count(name) > 0; }
  std::string Header(const std::string& lower_name) const;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // One complete response. Returns false when the peer is gone.
  virtual bool Send(int status, const std::string& content_type, const std::string& body,
                    const HttpHeaders& extra = {}) = 0;
  // Starts a chunked response; then WriteChunk per piece, EndStream once.
  virtual bool BeginStream(int status, const std::string& content_type) = 0;
  virtual bool WriteChunk(const std::string& data) = 0;
  virtual void EndStream() = 0;
  // True when the peer closed its side (checked without blocking).
  virtual bool PeerClosed() = 0;
  // Shuts the connection down from any thread, so a write blocked on a stuck peer returns.
  virtual void Abort() = 0;
  virtual int status() const = 0;
};

using HttpHandler = std::function<void(const HttpRequest&, ResponseWriter&)>;

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  virtual int port() const = 0;
  // Accept loop; returns only on a fatal listener error.
  virtual void Serve() = 0;
};

// Binds 127.0.0.1:port (port 0 picks a free one). Fails when the address is in use.
absl::StatusOr<std::unique_ptr<HttpServer>> ListenHttp(int port, HttpHandler handler);

// Percent-decoding for paths and query components ('+' is a space only in queries).
std::string PercentDecode(const std::string& in, bool plus_is_space);

}  // namespace registrar::kts
