// File: tests/unit/runtime/fake_kube_client.h
//
// A fake of our own kube::Client interface for unit tests of the reflector and the Kubernetes
// source (decision logic only; integration tests use the real kube-apiserver).
//
// Flow: Call() answers list requests from a FIFO of scripted answers (a body, or an error
// status made by kube::StatusFromResponse as the real client would); with none left it answers
// kUnavailable. Watch() pops a scripted open failure if any, else opens a FakeWatch the test
// drives afterwards: Push(line) delivers an event, End() ends it cleanly, Break(status) breaks it.
// Every request is recorded, so tests can read the query parameters sent.
//
// Thread-safety: every method is safe from any thread (the reflector thread calls Call/Watch,
// the test thread scripts and inspects). Ownership: the client owns its FakeWatches (shared).
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

#include "controller/kube/api_status.h"
#include "controller/kube/client.h"

namespace registrar::kube::testing {

// One scripted watch stream.
class FakeWatch {
 public:
  void Push(const std::string& line) { Add(Item{line, std::nullopt, false}); }
  void Push(const nlohmann::json& event) { Push(event.dump()); }
  void End() { Add(Item{"", std::nullopt, true}); }
  void Break(absl::Status status) { Add(Item{"", std::move(status), false}); }

  absl::StatusOr<std::optional<std::string>> Next() {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return cancelled_ || !items_.empty(); };
    mu_.Await(absl::Condition(&ready));
    if (cancelled_) {
      return absl::CancelledError("watch cancelled");
    }
    Item item = std::move(items_.front());
    items_.pop_front();
    if (item.error) {
      return *item.error;
    }
    if (item.end) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(item.line);
  }
  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  bool cancelled() const {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

 private:
  struct Item {
    std::string line;
    std::optional<absl::Status> error;
    bool end = false;
  };
  void Add(Item item) {
    absl::MutexLock lock(&mu_);
    items_.push_back(std::move(item));
  }

  mutable absl::Mutex mu_;
  std::deque<Item> items_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

class FakeClient final : public Client {
 public:
  // The next Call() answers 200 with `body`.
  void AnswerList(const nlohmann::json& body) {
    absl::MutexLock lock(&mu_);
    answers_.push_back(body.dump());
  }
  // The next Call() fails with the status the real client makes of this HTTP answer.
  void FailCall(int code, const nlohmann::json& status_body) {
    absl::MutexLock lock(&mu_);
    answers_.push_back(StatusFromResponse(code, status_body.dump()));
  }
  // The next Watch() fails to open with this HTTP answer.
  void FailWatch(int code, const nlohmann::json& status_body) {
    absl::MutexLock lock(&mu_);
    watch_failures_.push_back(StatusFromResponse(code, status_body.dump()));
  }

  absl::StatusOr<std::string> Call(const Request& request) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(request);
    if (answers_.empty()) {
      return absl::UnavailableError("fake: no scripted answer");
    }
    absl::StatusOr<std::string> answer = std::move(answers_.front());
    answers_.pop_front();
    return answer;
  }

  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const Request& request,
                                                     std::chrono::milliseconds) override {
    absl::MutexLock lock(&mu_);
    watch_requests_.push_back(request);
    if (!watch_failures_.empty()) {
      absl::Status failure = std::move(watch_failures_.front());
      watch_failures_.pop_front();
      return failure;
    }
    auto watch = std::make_shared<FakeWatch>();
    watches_.push_back(watch);
    return std::unique_ptr<WatchStream>(new Stream(watch));
  }

  std::vector<Request> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<Request> watch_requests() const {
    absl::MutexLock lock(&mu_);
    return watch_requests_;
  }
  size_t watch_count() const {
    absl::MutexLock lock(&mu_);
    return watches_.size();
  }
  // The i-th watch opened (0-based). REQUIRES: i < watch_count().
  std::shared_ptr<FakeWatch> watch(size_t i) const {
    absl::MutexLock lock(&mu_);
    return watches_.at(i);
  }
  size_t pending_answers() const {
    absl::MutexLock lock(&mu_);
    return answers_.size();
  }

 private:
  class Stream final : public WatchStream {
   public:
    explicit Stream(std::shared_ptr<FakeWatch> watch) : watch_(std::move(watch)) {}
    absl::StatusOr<std::optional<std::string>> Next() override { return watch_->Next(); }
    void Cancel() override { watch_->Cancel(); }

   private:
    std::shared_ptr<FakeWatch> watch_;
  };

  mutable absl::Mutex mu_;
  std::deque<absl::StatusOr<std::string>> answers_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::Status> watch_failures_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> watch_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<FakeWatch>> watches_ ABSL_GUARDED_BY(mu_);
};

// The value of query parameter `name` in `request` ("" when absent).
inline std::string QueryValue(const Request& request, const std::string& name) {
  for (const auto& [key, value] : request.query) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

// A list answer: items, the list's resourceVersion and a continue token.
inline nlohmann::json ListBody(std::vector<nlohmann::json> items, const std::string& rv,
                               const std::string& continue_token = "") {
  nlohmann::json meta = {{"resourceVersion", rv}};
  if (!continue_token.empty()) {
    meta["continue"] = continue_token;
  }
  return {{"apiVersion", "registrar.dev/v1alpha1"},
          {"kind", "ServiceRegistrationList"},
          {"metadata", meta},
          {"items", items}};
}

// A metav1.Status body.
inline nlohmann::json StatusBody(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"}, {"apiVersion", "v1"},  {"metadata", nlohmann::json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"code", code}};
}

inline nlohmann::json Event(const std::string& type, const nlohmann::json& object) {
  return {{"type", type}, {"object", object}};
}

inline nlohmann::json Bookmark(const std::string& rv) {
  return Event("BOOKMARK", {{"kind", "ServiceRegistration"},
                            {"apiVersion", "registrar.dev/v1alpha1"},
                            {"metadata", {{"resourceVersion", rv}}}});
}

}  // namespace registrar::kube::testing
