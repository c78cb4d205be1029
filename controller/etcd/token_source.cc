#include "controller/etcd/token_source.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "spdlog/spdlog.h"

namespace registrar::etcd {

namespace {

bool IsAuthNotEnabled(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) &&
         absl::StrContains(status.message(), "authentication is not enabled");
}

constexpr char kRejectedPrefix[] = "etcd authentication failed for user ";

}  // namespace

bool IsCredentialsRejected(const absl::Status& status) {
  return absl::IsUnauthenticated(status) && absl::StartsWith(status.message(), kRejectedPrefix);
}

bool TokenSource::RetryNow() {
  absl::MutexLock lock(&mu_);
  const bool held = !rejected_.ok();
  rejected_ = absl::OkStatus();
  return held;
}

void TokenSource::Get(TokenCallback ready) {
  std::string token;
  bool have_token = false;
  absl::Status rejected;
  bool start = false;
  {
    absl::MutexLock lock(&mu_);
    if (!token_.empty() || auth_disabled_) {
      token = token_;
      have_token = true;
    } else if (!rejected_.ok() && !in_flight_) {
      // Ask the hook only while held down: it may read a file.
      if (clock_.Now() < rejected_until_ && !(credentials_changed_ && credentials_changed_())) {
        rejected = rejected_;
      } else {
        rejected_ = absl::OkStatus();
      }
    }
    if (!have_token && rejected.ok()) {
      waiters_.push_back(std::move(ready));
      start = !in_flight_;
      in_flight_ = true;
    }
  }
  // `ready` was moved into waiters_ only when neither of these holds.
  if (have_token) {
    ready(std::move(token));  // NOLINT(bugprone-use-after-move): see above
    return;
  }
  if (!rejected.ok()) {
    ready(std::move(rejected));  // NOLINT(bugprone-use-after-move): see above
    return;
  }
  if (start) {
    ++attempts_;
    authenticate_(
        [this](absl::StatusOr<std::string> result) { OnAuthenticated(std::move(result)); });
  }
}

void TokenSource::Invalidate(const std::string& token) {
  absl::MutexLock lock(&mu_);
  if (token.empty()) {
    if (auth_disabled_) {
      auth_disabled_ = false;
      spdlog::info(
          "etcd {}: a token is needed now (authentication was enabled): "
          "authenticating as user {}",
          target_, username_);
    }
    return;
  }
  if (token_ == token) {
    token_.clear();
  }
}

void TokenSource::OnAuthenticated(absl::StatusOr<std::string> token) {
  bool disabled = false;
  if (token.ok()) {
    ++authentications_;
  } else if (IsAuthNotEnabled(token.status())) {
    disabled = true;
    token = std::string();
  } else if (absl::IsInvalidArgument(token.status()) &&
             absl::StrContains(token.status().message(), "authentication failed")) {
    token = absl::UnauthenticatedError(
        absl::StrCat(kRejectedPrefix, username_, ": ", token.status().message()));
  }
  std::vector<TokenCallback> waiters;
  bool log_disabled = false;
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
    if (disabled) {
      auth_disabled_ = true;
      log_disabled = !logged_disabled_;
      logged_disabled_ = true;
    } else if (token.ok()) {
      token_ = *token;
    } else if (absl::IsUnauthenticated(token.status())) {
      rejected_ = token.status();
      rejected_until_ = clock_.Now() + kRejectedHoldDown;
    }
    waiters.swap(waiters_);
  }
  if (log_disabled) {
    spdlog::warn(
        "etcd {}: authentication is not enabled there, so user {} is not needed: "
        "working without a token until etcd asks for one",
        target_, username_);
  }
  for (auto& waiter : waiters) {
    waiter(token);
  }
}

}  // namespace registrar::etcd
