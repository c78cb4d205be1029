// File: controller/http/server.h
//
// The controller's HTTP endpoint on --http-addr (loopback by default): a small HTTP/1.1 server on
// Boost.Beast and Asio answering GET and HEAD by exact path with handlers the caller registers, so
// this class knows nothing about etcd or registrations. app/controller.cc wires /healthz and
// /readyz (health.h), /metrics (metrics.h, with the registration families refreshed by
// registrations_view.h) and /registrations (registrations_view.h).
//
// Flow: Server(addr[, limits]) -> Handle(path, handler)... -> Start() -> ... -> Stop().
// Each connection reads a request head through a RequestReader (request_reader.h), answers it by
// Route() (request_rules.h: unknown path 404, any method but GET and HEAD 405 with Allow, a
// handler that throws 500, HEAD without the body) and waits for the next one (keep-alive,
// pipelining). Limits (request_rules.h, docs/operations.md "Limits"): request line 414, header
// fields 431, header timeout 408 (or a silent close when nothing came), idle keep-alive closed,
// write timeout closed, connection cap 503; a refused connection is closed after its answer.
//
// Threads: one. Every connection, timer and handler runs on the server's single io_context thread,
// started by Start() and joined by Stop(); a handler that blocks stalls every connection.
// Thread-safety: Handle() before Start() only (from the owner thread). Handlers run on the server
// thread, never two at once, while the owner's threads go on: they must be thread-safe with respect
// to the rest of the program, quick and never block (read cached state; never call etcd from a
// handler). Start/Stop from the owner thread. Exceptions (Asio's, a handler's) never escape this
// module.
// Ownership: the server owns its thread, sockets and connections; Stop() (or the destructor)
// closes every open connection without waiting for it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"

#include "controller/http/request_rules.h"

namespace registrar::http {

class Server {
 public:
  // `addr` is host:port (e.g. "127.0.0.1:8080", "0.0.0.0:8080", "[::1]:8080").
  explicit Server(std::string addr, Limits limits = Limits());
  ~Server();  // Stop()

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  Server(Server&&) = delete;
  Server& operator=(Server&&) = delete;

  // Serves `path` (exact match, e.g. "/healthz") with `handler`. REQUIRES: before Start().
  void Handle(std::string path, Handler handler);

  // Starts listening and the server thread. Errors: kUnavailable naming the address when it
  // cannot listen (port taken, address not local, host unknown), kInvalidArgument for an address
  // that is not host:port, kFailedPrecondition when already started.
  absl::Status Start();
  // Stops listening, closes every connection and joins the server thread. Idempotent.
  void Stop();

  const std::string& addr() const { return addr_; }
  const Limits& limits() const { return limits_; }

 private:
  struct Running;  // the io_context, acceptor and thread, kept out of this header

  const std::string addr_;
  const Limits limits_;
  Routes handlers_;                   // owner thread until Start(), then read-only
  std::unique_ptr<Running> running_;  // owner thread only (Start/Stop); no lock
};

}  // namespace registrar::http
