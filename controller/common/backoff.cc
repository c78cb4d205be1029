#include "controller/common/backoff.h"

#include <algorithm>
#include <random>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace registrar {

namespace {
double DefaultRandom() {
  static absl::Mutex mu(absl::kConstInit);
  static std::mt19937_64 rng ABSL_GUARDED_BY(mu){std::random_device{}()};
  absl::MutexLock lock(&mu);
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}
}  // namespace

Backoff::Backoff(Duration base, Duration max, std::function<double()> random01)
    : base_(base), max_(max), random01_(std::move(random01)) {}

Backoff::Backoff(Duration base, Duration max) : Backoff(base, max, DefaultRandom) {}

Backoff::Duration Backoff::Ceiling(int attempt) const {
  int64_t ms = base_.count();
  for (int i = 0; i < attempt && ms < max_.count(); ++i) {
    ms *= 2;
  }
  return Duration(std::min<int64_t>(ms, max_.count()));
}

Backoff::Duration Backoff::Next() { return Next(random01_()); }

Backoff::Duration Backoff::Next(double draw) {
  Duration ceiling = Ceiling(attempt_);
  ++attempt_;
  double r = std::clamp(draw, 0.0, 1.0);
  auto half = ceiling.count() / 2;
  return Duration(half + static_cast<int64_t>(r * static_cast<double>(ceiling.count() - half)));
}

}  // namespace registrar
