// File: tests/kube-test-server/controls.h
//
// Test controls, served under /_test/ only (never under /api or /apis; see
// docs/kube-test-server.md for the HTTP API): the JSONL request log, error injection into the next
// N matching requests, closing every open watch (optionally refusing new ones for a while),
// forcing 410 for watches below a resourceVersion, compacting etcd now, and the watch count.
//
// Thread-safety: all methods are safe to call concurrently (absl::Mutex).
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/kube-test-server/api_error.h"
#include "tests/kube-test-server/http_server.h"
#include "tests/kube-test-server/storage.h"
#include "tests/kube-test-server/watch.h"

namespace registrar::kts {

class TestControls {
 public:
  TestControls(Storage& storage, WatchHub& hub) : storage_(storage), hub_(hub) {}

  // Serves a /_test/... request.
  void Handle(const HttpRequest& req, ResponseWriter& out);

  // Appends one request to the log (and to the log file, if any).
  void LogRequest(const HttpRequest& req, int status, double latency_ms);
  void SetLogFile(std::FILE* file) { log_file_ = file; }

  // The injected error for this request, if a rule matches (consumes one use).
  std::optional<ApiError> TakeInjection(const HttpRequest& req);
  bool WatchesRefused();
  int64_t MinWatchRv();

 private:
  struct Injection {
    std::string method;  // "" or "*" = any
    std::regex path;
    std::string path_text;
    std::optional<std::regex> user_agent;
    int code = 500;
    int remaining = 1;
    int retry_after_seconds = 0;
    std::string message;
  };

  Storage& storage_;
  WatchHub& hub_;
  std::FILE* log_file_ = nullptr;
  absl::Mutex mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  std::vector<Injection> injections_ ABSL_GUARDED_BY(mu_);
  absl::Time refuse_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t min_watch_rv_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace registrar::kts
