#include "controller/runtime/reconnect_backoff.h"

#include <algorithm>

namespace registrar::runtime {

ReconnectBackoff::ReconnectBackoff(Options options)
    : options_(options),
      backoff_(std::chrono::duration_cast<Backoff::Duration>(options.initial),
               std::chrono::duration_cast<Backoff::Duration>(options.max)) {}

void ReconnectBackoff::OnSuccess(TimePoint now) {
  if (!healthy_since_) {
    healthy_since_ = now;
  }
}

ReconnectBackoff::Duration ReconnectBackoff::OnFailure(TimePoint now, double random01) {
  if (healthy_since_ && now - *healthy_since_ >= options_.reset_after) {
    backoff_.Reset();
  }
  healthy_since_.reset();
  return backoff_.Next(random01);
}

ReconnectBackoff::Duration ReconnectBackoff::Ceiling(int failures) const {
  return backoff_.Ceiling(std::max(failures, 1) - 1);
}

bool ErrorLogLimiter::ShouldLog(const std::string& message, TimePoint now) {
  ++failures_;
  if (message == last_message_ && last_logged_ && now - *last_logged_ < interval_) {
    return false;
  }
  last_message_ = message;
  last_logged_ = now;
  return true;
}

int ErrorLogLimiter::Recovered() {
  const int failures = failures_;
  failures_ = 0;
  last_message_.clear();
  last_logged_.reset();
  return failures;
}

}  // namespace registrar::runtime
