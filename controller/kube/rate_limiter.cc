#include "controller/kube/rate_limiter.h"

#include <algorithm>

namespace registrar::kube {

RateLimiter::RateLimiter(double qps, int burst, TimePoint now)
    : qps_(qps), burst_(std::max(1, burst)), tokens_(burst_), last_(now) {}

void RateLimiter::Refill(TimePoint now) {
  if (now <= last_) {
    return;
  }
  const double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + seconds * qps_);
  last_ = now;
}

RateLimiter::TimePoint RateLimiter::Reserve(TimePoint now) {
  if (unlimited()) {
    return now;
  }
  Refill(now);
  tokens_ -= 1;
  if (tokens_ >= 0) {
    return now;
  }
  // The debt is paid back at qps: this request starts when the bucket is back at zero.
  const std::chrono::duration<double> wait(-tokens_ / qps_);
  return std::max(now, last_) + std::chrono::ceil<Duration>(wait);
}

void RateLimiter::Give(TimePoint now) {
  if (unlimited()) {
    return;
  }
  Refill(now);
  tokens_ = std::min(burst_, tokens_ + 1);
}

double RateLimiter::Tokens(TimePoint now) const {
  if (now <= last_) {
    return tokens_;
  }
  const double seconds = std::chrono::duration<double>(now - last_).count();
  return std::min(burst_, tokens_ + seconds * qps_);
}

}  // namespace registrar::kube
