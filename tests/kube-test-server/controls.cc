#include "tests/kube-test-server/controls.h"

#include <cstdio>

namespace registrar::kts {
namespace {

using json = nlohmann::json;

void SendJson(ResponseWriter& out, int status, const json& body) {
  out.Send(status, "application/json", body.dump() + "\n");
}

void SendError(ResponseWriter& out, int status, const std::string& message) {
  SendJson(out, status, {{"error", message}});
}

}  // namespace

void TestControls::LogRequest(const HttpRequest& req, int status, double latency_ms) {
  std::string field_manager = req.Query("fieldManager");
  json line = {{"time", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone())},
               {"method", req.method},
               {"path", req.path},
               {"query", req.raw_query},
               {"userAgent", req.Header("user-agent")},
               {"fieldManager", field_manager},
               {"contentType", req.Header("content-type")},
               {"status", status},
               {"latencyMs", latency_ms}};
  std::string text = line.dump();
  absl::MutexLock lock(&mu_);
  log_.push_back(text);
  if (log_file_) {
    std::fprintf(log_file_, "%s\n", text.c_str());
    std::fflush(log_file_);
  }
}

std::optional<ApiError> TestControls::TakeInjection(const HttpRequest& req) {
  absl::MutexLock lock(&mu_);
  for (auto it = injections_.begin(); it != injections_.end(); ++it) {
    if (!it->method.empty() && it->method != "*" && it->method != req.method) continue;
    if (!std::regex_search(req.path, it->path)) continue;
    if (it->user_agent && !std::regex_search(req.Header("user-agent"), *it->user_agent)) continue;
    ApiError err = FromCode(it->code,
                            it->message.empty() ? "injected error (kube-test-server /_test/inject)"
                                                : it->message,
                            it->retry_after_seconds);
    if (--it->remaining <= 0) injections_.erase(it);
    return err;
  }
  return std::nullopt;
}

bool TestControls::WatchesRefused() {
  absl::MutexLock lock(&mu_);
  return absl::Now() < refuse_until_;
}

int64_t TestControls::MinWatchRv() {
  absl::MutexLock lock(&mu_);
  return min_watch_rv_;
}

void TestControls::Handle(const HttpRequest& req, ResponseWriter& out) {
  const std::string& p = req.path;
  if (p == "/_test/requests" && req.method == "GET") {
    std::string body;
    {
      absl::MutexLock lock(&mu_);
      for (const std::string& l : log_) body += l + "\n";
    }
    out.Send(200, "application/jsonl", body);
    return;
  }
  if (p == "/_test/requests" && req.method == "DELETE") {
    absl::MutexLock lock(&mu_);
    log_.clear();
    out.Send(200, "application/json", "{\"cleared\":true}\n");
    return;
  }
  if (p == "/_test/watches" && req.method == "GET") {
    SendJson(out, 200, {{"open", hub_.count()}});
    return;
  }
  if (p == "/_test/close-watches" && req.method == "POST") {
    int refuse = 0;
    std::string r = req.Query("refuseSeconds");
    if (!r.empty()) {
      try {
        refuse = std::stoi(r);
      } catch (...) {
        SendError(out, 400, "refuseSeconds must be an integer, got \"" + r + "\"");
        return;
      }
    }
    {
      absl::MutexLock lock(&mu_);
      refuse_until_ = absl::Now() + absl::Seconds(refuse);
    }
    int closed = hub_.CloseAll();
    SendJson(out, 200, {{"closed", closed}, {"refuseSeconds", refuse}});
    return;
  }
  if (p == "/_test/inject" && req.method == "POST") {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      SendError(out, 400, "body must be a JSON object like {\"method\":\"PUT\",\"path\":\"regex\","
                          "\"code\":409,\"count\":1}");
      return;
    }
    Injection inj;
    try {
      inj.method = body.value("method", "*");
      inj.path_text = body.value("path", ".*");
      inj.path = std::regex(inj.path_text);
      if (body.contains("userAgent")) inj.user_agent = std::regex(body["userAgent"].get<std::string>());
      inj.code = body.value("code", 500);
      inj.remaining = body.value("count", 1);
      inj.retry_after_seconds = body.value("retryAfterSeconds", inj.code == 429 ? 1 : 0);
      inj.message = body.value("message", "");
    } catch (const std::exception& e) {
      SendError(out, 400, std::string("bad injection rule: ") + e.what());
      return;
    }
    if (inj.code < 400 || inj.code > 599) {
      SendError(out, 400, "code must be an HTTP error code (400..599), got " + std::to_string(inj.code));
      return;
    }
    json echo = {{"method", inj.method}, {"path", inj.path_text}, {"code", inj.code},
                 {"count", inj.remaining}, {"retryAfterSeconds", inj.retry_after_seconds}};
    absl::MutexLock lock(&mu_);
    injections_.push_back(std::move(inj));
    SendJson(out, 200, echo);
    return;
  }
  if (p == "/_test/inject" && req.method == "DELETE") {
    absl::MutexLock lock(&mu_);
    injections_.clear();
    SendJson(out, 200, {{"cleared", true}});
    return;
  }
  if (p == "/_test/expire-watches" && req.method == "POST") {
    std::string r = req.Query("belowResourceVersion");
    int64_t rv = 0;
    try {
      rv = std::stoll(r);
    } catch (...) {
      SendError(out, 400, "belowResourceVersion must be an integer, got \"" + r + "\"");
      return;
    }
    absl::MutexLock lock(&mu_);
    min_watch_rv_ = rv;
    SendJson(out, 200, {{"belowResourceVersion", rv}});
    return;
  }
  if (p == "/_test/compact" && req.method == "POST") {
    auto rev = storage_.CompactNow();
    if (!rev.ok()) {
      SendError(out, 500, "compaction failed: " + std::string(rev.status().message()));
      return;
    }
    SendJson(out, 200, {{"compactedRevision", *rev}});
    return;
  }
  SendError(out, 404, "unknown control " + req.method + " " + p +
                          " (see docs/kube-test-server.md)");
}

}  // namespace registrar::kts
