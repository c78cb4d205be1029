#include "controller/runtime/controller_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "controller/common/thread_name.h"
#include "spdlog/spdlog.h"

namespace registrar::runtime {

namespace {

bool IsTerminal(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ||
         status.code() == absl::StatusCode::kFailedPrecondition;
}

// Calls `fn` when leaving the scope (Done() on every path).
template <typename F>
class ScopeGuard {
 public:
  explicit ScopeGuard(F fn) : fn_(std::move(fn)) {}
  ~ScopeGuard() { fn_(); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  F fn_;
};

}  // namespace

ControllerLoop::ControllerLoop(std::string name, WorkQueue& queue, Reconciler& reconciler,
                               Clock& clock, int workers, Hooks hooks)
    : name_(std::move(name)),
      queue_(queue),
      reconciler_(reconciler),
      clock_(clock),
      workers_(workers),
      hooks_(std::move(hooks)) {
  if (workers_ < 1) {
    spdlog::critical("controller {}: workers must be >= 1, got {}", name_, workers_);
    std::abort();
  }
}

ControllerLoop::~ControllerLoop() { Stop(); }

void ControllerLoop::Start() {
  if (!threads_.empty()) {
    spdlog::critical("controller {}: Start() called twice", name_);
    std::abort();
  }
  for (int i = 0; i < workers_; ++i) {
    threads_.emplace_back([this, i] {
      SetCurrentThreadName(absl::StrCat("worker-", i));
      while (ProcessNextWorkItem()) {
      }
    });
  }
}

void ControllerLoop::Stop() {
  queue_.ShutDown();
  threads_.clear();  // joins
}

bool ControllerLoop::ProcessNextWorkItem() {
  std::optional<std::string> key = queue_.Get();
  if (!key) {
    return false;
  }
  ScopeGuard done([&] { queue_.Done(*key); });

  const Clock::TimePoint start = clock_.Now();
  absl::StatusOr<Reconciler::Result> result = reconciler_.Reconcile(*key);
  const double seconds = std::chrono::duration<double>(clock_.Now() - start).count();

  std::string_view outcome;
  if (!result.ok()) {
    outcome = "error";
    if (IsTerminal(result.status())) {
      spdlog::warn("controller {}: reconcile {} failed, not retrying until it changes: {}", name_,
                   *key, result.status().ToString());
      queue_.Forget(*key);
    } else {
      Clock::Duration at_least = Clock::Duration::zero();
      if (hooks_.retry_after) {
        if (std::optional<Clock::Duration> asked = hooks_.retry_after(result.status())) {
          at_least = std::min(*asked, kMaxRetryAfter);
        }
      }
      if (at_least > Clock::Duration::zero()) {
        spdlog::info(
            "controller {}: reconcile {} failed, retrying in {} s at the earliest (the "
            "server's Retry-After): {}",
            name_, *key, std::chrono::duration_cast<std::chrono::seconds>(at_least).count(),
            result.status().ToString());
      } else {
        spdlog::info("controller {}: reconcile {} failed, retrying with backoff: {}", name_, *key,
                     result.status().ToString());
      }
      queue_.AddRateLimited(*key, at_least);
    }
  } else if (result->requeue_after && *result->requeue_after > Clock::Duration::zero()) {
    outcome = "requeue_after";
    queue_.Forget(*key);
    queue_.AddAfter(*key, *result->requeue_after);
  } else {
    outcome = "success";
    queue_.Forget(*key);
  }
  if (hooks_.reconciled) {
    hooks_.reconciled(outcome, seconds);
  }
  return true;
}

}  // namespace registrar::runtime
