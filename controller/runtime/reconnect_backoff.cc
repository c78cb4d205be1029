#include "controller/runtime/reconnect_backoff.h"

#include <algorithm>

namespace registrar::runtime {

void ReconnectBackoff::OnSuccess(TimePoint now) {
  if (!healthy_since_) {
    healthy_since_ = now;
  }
}

ReconnectBackoff::Duration ReconnectBackoff::OnFailure(TimePoint now, double random01) {
  if (healthy_since_ && now - *healthy_since_ >= options_.reset_after) {
    failures_ = 0;
  }
  healthy_since_.reset();
  ++failures_;
  const Duration ceiling = Ceiling(failures_);
  const double draw = std::clamp(random01, 0.0, 1.0);
  return std::chrono::duration_cast<Duration>(ceiling * ((1.0 + draw) / 2.0));
}

ReconnectBackoff::Duration ReconnectBackoff::Ceiling(int failures) const {
  Duration ceiling = options_.initial;
  for (int i = 1; i < failures && ceiling < options_.max; ++i) {
    ceiling *= 2;
  }
  return std::min(ceiling, options_.max);
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
