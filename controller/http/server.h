// File: controller/http/server.h
//
// The controller's HTTP endpoint on --http-addr (loopback by default): a cpprest http_listener
// dispatching GET and HEAD requests by exact path to handlers the caller registers, so this
// class knows nothing about etcd or registrations. app/controller.cc wires /healthz and /readyz
// (health.h), /metrics (metrics.h, with the registration families refreshed by
// registrations_view.h) and /registrations (registrations_view.h).
//
// Flow: Server(addr) -> Handle(path, handler)... -> Start() -> ... -> Stop().
// Unknown paths answer 404, methods other than GET and HEAD 405, a handler that throws 500;
// HEAD gets the handler's status and headers without the body.
//
// Thread-safety: Handle() before Start() only (from the owner thread). Handlers run on cpprest's
// thread pool, possibly concurrently: they must be thread-safe, quick and never block (read
// cached state; never call etcd from a handler). Start/Stop from the owner thread.
// cpprest exceptions are caught inside this module and never escape it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace registrar::http {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using Handler = std::function<Response()>;

class Server {
 public:
  // `addr` is host:port (e.g. "127.0.0.1:8080", "0.0.0.0:8080", "[::1]:8080").
  explicit Server(std::string addr);
  ~Server();  // Stop()

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves `path` (exact match, e.g. "/healthz") with `handler`. REQUIRES: before Start().
  void Handle(std::string path, Handler handler);

  // Starts listening. Errors: kUnavailable naming the address when it cannot listen (port taken,
  // address not local), kInvalidArgument for an address that is not host:port,
  // kFailedPrecondition when already started.
  absl::Status Start();
  // Stops listening; in-flight requests finish. Idempotent.
  void Stop();

  const std::string& addr() const { return addr_; }

 private:
  struct Listener;  // cpprest's listener, kept out of this header

  const std::string addr_;
  std::map<std::string, Handler> handlers_;  // owner thread until Start(), then read-only
  std::unique_ptr<Listener> listener_;  // owner thread only (Start/Stop); no lock
};

}  // namespace registrar::http
