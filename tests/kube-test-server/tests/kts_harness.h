// File: tests/kube-test-server/tests/kts_harness.h
//
// Harness for the kube-test-server's own suite: a real etcd (EtcdProcess) plus the server binary
// as a child process on a free port, a small blocking HTTP/1.1 client (one connection per
// request), and a WatchReader that reads a chunked watch stream line by line on its own thread.
// The server binary is ${ER_BINARY_DIR}/tests/kube-test-server/kube-test-server.
//
// Thread-safety: KtsServer and Http are used from the test thread; a WatchReader's Next() from
// one thread while its reader thread fills the queue.
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
#include "tests/fixtures/child_process.h"
#include "tests/fixtures/etcd_process.h"

namespace registrar::kts::testing {

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
  std::string user_agent = "kts-test/1.0";
};

class Http {
 public:
  explicit Http(int port) : port_(port) {}
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
  int port() const { return port_; }

 private:
  int port_;
};

// A watch stream: status and headers at Open(), then one parsed JSON event per line.
class WatchReader {
 public:
  static std::unique_ptr<WatchReader> Open(int port, const std::string& target,
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

  int fd_ = -1;
  int status_ = 0;
  std::string error_body_;
  std::string pending_;  // bytes already read past the headers
  absl::Mutex mu_;
  std::deque<nlohmann::json> events_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::jthread reader_;
};

// Sends a GET and never reads the answer (a stuck consumer). Returns the socket; close it.
int SendAndNeverRead(int port, const std::string& target);

class KtsServer {
 public:
  // Starts etcd and the server (extra flags appended); nullptr plus a test failure on error.
  static std::unique_ptr<KtsServer> Start(const std::vector<std::string>& extra_flags = {});
  // Kills the server (not etcd) and starts a new one on the same etcd; false plus a test
  // failure when it does not come up.
  bool RestartServer();
  int port() const { return port_; }
  Http http() const { return Http(port_); }
  registrar::testing::EtcdProcess& etcd() { return *etcd_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Describe() const { return server_->Describe(); }

 private:
  bool Launch();

  std::unique_ptr<registrar::testing::EtcdProcess> etcd_;
  std::vector<std::string> flags_;
  std::unique_ptr<registrar::testing::ChildProcess> server_;
  int port_ = 0;
};

// The CRD of crds/serviceregistrations.yaml as JSON (from ${ER_SOURCE_DIR}).
nlohmann::json LoadCrd();

}  // namespace registrar::kts::testing
