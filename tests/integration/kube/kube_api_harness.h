// File: tests/integration/kube/kube_api_harness.h
//
// Clients for tests against the real kube-apiserver: an ApiTarget (base URL + credentials: CA
// file, client cert/key or bearer token) is all they need. Http is a blocking HTTP/1.1 client (one
// connection per request, TLS through OpenSSL), WatchReader reads a chunked watch stream line by
// line on its own thread, SendAndNeverRead makes a stuck consumer. Backend wraps
// KubeControlPlane::Shared() (one control plane per test binary) as admin (client certificate).
//
// Thread-safety: Backend and Http are used from the test thread; a WatchReader's Next() from
// one thread while its reader thread fills the queue.
// Ownership: the control plane belongs to KubeControlPlane::Shared() and outlives every Backend.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "tests/fixtures/kube_control_plane.h"

struct ssl_ctx_st;

namespace registrar::kube_testing {

// Where the API is and how to authenticate. `tls` = https; then only `ca_file` is trusted.
struct ApiTarget {
  std::string host = "127.0.0.1";
  int port = 0;
  bool tls = false;
  std::string ca_file;
  std::string client_cert_file;  // with client_key_file: mutual TLS
  std::string client_key_file;
  std::string bearer_token;  // sent as "Authorization: Bearer ..." when set
  std::string url() const;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
  std::string Header(const std::string& lower) const {
    auto it = headers.find(lower);
    return it == headers.end() ? "" : it->second;
  }
};

struct RequestOptions {
  std::string content_type = "application/json";
  std::string accept = "application/json";
  std::string user_agent = "kube-api-test/1.0";
};

// One connection (plain TCP or TLS) to the target. Closed by the destructor.
class Connection {
 public:
  // nullptr when the connection or the TLS handshake fails. `receive_timeout_s` 0 = block.
  static std::unique_ptr<Connection> Open(const ApiTarget& target, ssl_ctx_st* ctx,
                                          int receive_timeout_s);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  bool WriteAll(const std::string& data);
  // As recv(): > 0 bytes read, <= 0 at the end of the stream or on error.
  long Read(char* buf, size_t size);
  // Makes a blocked Read() return (shutdown of the socket); safe from another thread.
  void Shutdown();
  int fd() const { return fd_; }

 private:
  Connection() = default;
  int fd_ = -1;
  void* ssl_ = nullptr;  // SSL*
};

class Http {
 public:
  explicit Http(ApiTarget target);
  HttpResponse Do(const std::string& method, const std::string& target,
                  const std::string& body = "", const RequestOptions& opts = {}) const;
  HttpResponse Get(const std::string& target) const { return Do("GET", target); }
  HttpResponse Post(const std::string& target, const nlohmann::json& body) const {
    return Do("POST", target, body.dump());
  }
  HttpResponse Put(const std::string& target, const nlohmann::json& body) const {
    return Do("PUT", target, body.dump());
  }
  HttpResponse Patch(const std::string& target, const std::string& content_type,
                     const nlohmann::json& body) const {
    return Do("PATCH", target, body.dump(), {.content_type = content_type});
  }
  HttpResponse Delete(const std::string& target, const std::string& body = "") const {
    return Do("DELETE", target, body);
  }
  const ApiTarget& target() const { return target_; }
  std::unique_ptr<Connection> Connect(int receive_timeout_s) const;
  // The request head (+ body) as sent, with the target's Authorization header.
  std::string RequestText(const std::string& method, const std::string& path,
                          const std::string& body, const RequestOptions& opts) const;

 private:
  ApiTarget target_;
  std::shared_ptr<ssl_ctx_st> ctx_;  // TLS only
};

// A watch stream: status and headers at Open(), then one parsed JSON event per line.
class WatchReader {
 public:
  static std::unique_ptr<WatchReader> Open(const Http& http, const std::string& target,
                                           const std::string& accept = "application/json");
  ~WatchReader();
  int status() const { return status_; }
  // The next event, or nullopt at the deadline or when the stream ended with nothing queued.
  std::optional<nlohmann::json> Next(std::chrono::milliseconds timeout);
  // True once the server ended the stream (chunked EOF or connection close).
  bool WaitEnded(std::chrono::milliseconds timeout);
  std::string error_body() const { return error_body_; }

 private:
  WatchReader() = default;
  void ReadLoop();

  std::unique_ptr<Connection> conn_;
  int status_ = 0;
  std::string error_body_;
  std::string pending_;  // bytes already read past the headers
  absl::Mutex mu_;
  std::deque<nlohmann::json> events_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::jthread reader_;
};

// Sends a GET and never reads the answer (a stuck consumer, with a small receive buffer).
std::unique_ptr<Connection> SendAndNeverRead(const Http& http, const std::string& target);

class Backend {
 public:
  // The shared control plane as admin; nullptr plus a test failure when it does not start.
  static std::unique_ptr<Backend> Start();
  Http http() const { return Http(target_); }
  const ApiTarget& target() const { return target_; }
  // kubectl flags that reach the server as admin.
  std::vector<std::string> KubectlConnectionArgs() const;
  registrar::testing::KubeControlPlane& plane() const { return *plane_; }

 private:
  registrar::testing::KubeControlPlane* plane_ = nullptr;  // not owned
  ApiTarget target_;
};

// The CRD of crds/serviceregistrations.yaml as JSON (from ${ER_SOURCE_DIR}).
nlohmann::json LoadCrd();
// Creates the CRD (409 AlreadyExists is fine: one control plane serves a whole binary) and waits
// until the group version is served; false plus a test failure otherwise.
bool EnsureCrd(const Http& http);
// Creates namespace `name` with a JSON POST; false plus a test failure otherwise.
bool CreateNamespace(const Http& http, const std::string& name);

}  // namespace registrar::kube_testing
