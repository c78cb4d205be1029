// File: controller/kube/client.h
//
// The Kubernetes REST transport (cpprestsdk): one request in, one answer out, or a watch stream.
// Knows HTTP, TLS, bearer tokens, deadlines, rate limits and metav1.Status; knows no resource
// (api.h builds the paths, api_status.h reads the errors).
//
// Flow: Call() takes a token from Credentials, waits for the client-side rate limiter (token
// bucket: `qps` per second, bursts of `burst`), sends the request and waits for the whole answer
// until `timeout`. A 2xx answer returns its body; anything else becomes an absl::Status decoded
// from the metav1.Status body (api_status.h), so callers test IsNotFound(status) and friends.
// A 401 invalidates the token once and retries once. Watch() opens a streaming GET and returns
// a WatchStream that yields the body line by line (one JSON watch event per line).
//
// Threads: Call() and WatchStream::Next() block the calling thread (a worker or the watcher's
// own thread), never a pplx pool thread: every cpprest task is observed (.then chains end in a
// handler that reads the result), so no exception escapes into the pool. A request that misses
// its deadline is cancelled and returns kDeadlineExceeded.
// Thread-safety: Client methods may be called from any thread at once. A WatchStream is read by
// one thread; Cancel() may come from any thread and makes a blocked Next() return.
// Ownership: the client owns the Credentials it is given; a WatchStream must not outlive its Client.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "controller/common/clock.h"
#include "controller/kube/config.h"
#include "controller/kube/credentials.h"

namespace registrar::kube {

struct Request {
  std::string method = "GET";  // GET POST PATCH PUT DELETE
  std::string path;            // "/apis/registrar.dev/v1alpha1/namespaces/ns/serviceregistrations"
  std::vector<std::pair<std::string, std::string>> query;  // not yet escaped
  std::string body;
  std::string content_type;  // "application/json", "application/merge-patch+json", ...
  std::chrono::milliseconds timeout{30'000};
  // For metrics and logs: get, list, watch, create, patch, update, delete.
  std::string verb;
  // For metrics: the resource, e.g. "serviceregistrations", "serviceregistrations/status".
  std::string resource;
};

// A streaming answer (watch): the body one line at a time.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // The next non-empty line; nullopt when the server ended the stream cleanly (timeoutSeconds);
  // an error when the connection broke, the read timed out (no byte for the stream's idle
  // timeout) or Cancel() was called (kCancelled).
  virtual absl::StatusOr<std::optional<std::string>> Next() = 0;
  // Ends the stream from any thread; a blocked Next() returns kCancelled.
  virtual void Cancel() = 0;
};

struct ClientOptions {
  double qps = 50;  // --kube-api-qps
  int burst = 100;  // --kube-api-burst
  std::string user_agent = "etcd-registrar";
  // Called after each request (from the calling thread): verb, resource, HTTP code (0: no
  // answer), seconds.
  std::function<void(const std::string& verb, const std::string& resource, int code,
                     double seconds)>
      on_request;
};

class Client {
 public:
  virtual ~Client() = default;
  // One request; the body of a 2xx answer, else the decoded error.
  virtual absl::StatusOr<std::string> Call(const Request& request) = 0;
  // A streaming GET. `idle_timeout`: the longest silence before the stream counts as broken
  // (the server sends bookmarks about once a minute and ends the watch at timeoutSeconds).
  virtual absl::StatusOr<std::unique_ptr<WatchStream>> Watch(
      const Request& request, std::chrono::milliseconds idle_timeout) = 0;
};

// A client for `config`, authenticating with `credentials` (NewCredentials(config) in the
// product; tests may pass their own). Fails on unreadable TLS material, a bad server URL, or a
// config the transport cannot honour (each error names the field).
absl::StatusOr<std::unique_ptr<Client>> NewClient(const ClusterConfig& config,
                                                  std::unique_ptr<Credentials> credentials,
                                                  ClientOptions options, Clock& clock);

}  // namespace registrar::kube
