// File: controller/kube/rate_limiter.h
//
// The client-side rate limit of the Kubernetes API client: a token bucket, as a pure rule (no
// threads, no clock: every method takes `now`). The REST client (client_impl.h) asks Reserve(now)
// under its lock and waits, outside the lock, until the time it returns.
//
// Rule: the bucket holds at most `burst` tokens and gains `qps` tokens per second; it starts
// full. Each request takes one token. Reserve(now) takes it even when the bucket is empty: the
// bucket goes into debt, and the request may start once the debt is paid back at `qps`, so
// requests that arrive together start in arrival order, 1/qps apart, after the first `burst`.
// Give(now) returns the token of a reservation that was not used (a request whose deadline
// would pass before its start). qps <= 0 means no limit: every request starts at once.
//
// Why 50 / 100 by default (client-go's defaults are 5 / 10): at start the controller writes to
// every ServiceRegistration it finds: a finalizer patch and a status patch each, so 2 000
// resources need about 4 000 requests before the status of every one is true. At 5 qps that is
// 13 minutes during which kubectl shows stale phases; at 50 qps it is 80 s, a load the API server
// handles easily (its default max-mutating-requests-inflight is 200, and each patch takes a few
// milliseconds). The burst of 100 lets a handful of changes and the first page of a relist go
// out at once. Both are flags (--kube-api-qps, --kube-api-burst) for clusters that need less.
//
// Cost: O(1) time and space per call.
// Thread-safety: none; the owner serializes calls (the client holds a mutex around them).
#pragma once

#include <chrono>

#include "controller/common/clock.h"

namespace registrar::kube {

class RateLimiter {
 public:
  using TimePoint = Clock::TimePoint;
  using Duration = Clock::Duration;

  // `qps` tokens per second, at most `burst` (at least 1) in the bucket; full at `now`.
  RateLimiter(double qps, int burst, TimePoint now);

  // Takes one token; returns when the request may start (`now` when a token was there).
  TimePoint Reserve(TimePoint now);
  // Returns one token taken by Reserve (a reservation that will not be used).
  void Give(TimePoint now);

  // Tokens in the bucket at `now` (negative: debt owed by reservations waiting to start).
  double Tokens(TimePoint now) const;
  bool unlimited() const { return qps_ <= 0; }

 private:
  void Refill(TimePoint now);

  double qps_;
  double burst_;
  double tokens_;
  TimePoint last_;
};

}  // namespace registrar::kube
