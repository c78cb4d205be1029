#include "controller/etcd/token_source.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace registrar::etcd {

void TokenSource::Get(TokenCallback ready) {
  std::string token;
  bool start = false;
  {
    absl::MutexLock lock(&mu_);
    if (!token_.empty()) {
      token = token_;
    } else {
      waiters_.push_back(std::move(ready));
      start = !in_flight_;
      in_flight_ = true;
    }
  }
  if (!token.empty()) {
    ready(std::move(token));
    return;
  }
  if (start) {
    authenticate_(
        [this](absl::StatusOr<std::string> result) { OnAuthenticated(std::move(result)); });
  }
}

void TokenSource::Invalidate(const std::string& token) {
  absl::MutexLock lock(&mu_);
  if (token_ == token) {
    token_.clear();
  }
}

void TokenSource::OnAuthenticated(absl::StatusOr<std::string> token) {
  if (token.ok()) {
    ++authentications_;
  } else if (absl::IsInvalidArgument(token.status()) &&
             absl::StrContains(token.status().message(), "authentication failed")) {
    token = absl::UnauthenticatedError(absl::StrCat("etcd authentication failed for user ",
                                                    username_, ": ", token.status().message()));
  }
  std::vector<TokenCallback> waiters;
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
    if (token.ok()) {
      token_ = *token;
    }
    waiters.swap(waiters_);
  }
  for (auto& waiter : waiters) {
    waiter(token);
  }
}

}  // namespace registrar::etcd
