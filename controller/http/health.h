// File: controller/http/health.h
//
// Named health checks served as one endpoint, controller-runtime's healthz pattern:
// app/controller.cc keeps one HealthChecks for /healthz (a single "ping" check: it answers while
// the process serves HTTP; it never depends on etcd and does not look at the source or workers)
// and one for /readyz (source synced, etcd reachable), and registers Serve() as the handler.
//
// Serve() runs every check: all OK -> 200 "ok"; otherwise 503 with one line per check,
// "[+]name ok" or "[-]name failed: reason", then "<endpoint> check failed".
// Checks run on the HTTP server thread: they must be quick and non-blocking (read cached state).
//
// Thread-safety: Add() and Serve() are safe from any thread.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

#include "controller/http/server.h"

namespace registrar::http {

using Checker = std::function<absl::Status()>;

class HealthChecks {
 public:
  // `endpoint` names the endpoint in the failure line, e.g. "readyz".
  explicit HealthChecks(std::string endpoint) : endpoint_(std::move(endpoint)) {}

  void Add(std::string name, Checker checker);
  Response Serve() const;

 private:
  const std::string endpoint_;
  mutable absl::Mutex mu_;
  std::vector<std::pair<std::string, Checker>> checks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace registrar::http
