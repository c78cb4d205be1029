// File: controller/runtime/reconnect_backoff.h
//
// The timing rules of a watcher's reconnects, with no threads and no clock: every method takes
// `now` (and the random draw), so tests give exact delays.
//
// ReconnectBackoff: how long to wait after a failed list or watch before the next attempt.
// The ceiling starts at `initial` (0.8 s) and doubles per consecutive failure up to `max` (30 s),
// kube-rs' DefaultBackoff: common/backoff.h's Backoff, with a draw per call. Jitter is "equal
// jitter": the delay is uniform in [ceiling/2, ceiling], so retries of many controllers spread out
// while no retry ever comes sooner than half the ceiling (never a hot loop, unlike full jitter's
// [0, ceiling], whose draws near 0 retry at once). OnSuccess(now) notes that a list completed or a
// watch opened; the run of failures is forgotten only when the next failure comes `reset_after` (2
// min) or more after the first success since the previous failure: a watch that opens and breaks
// every few seconds keeps backing off, one that served for two minutes starts again from 0.8 s.
//
// ErrorLogLimiter: when to log a failure. The first occurrence of a message is logged, the same
// message again at most once per `interval` (1 min); a different message is logged at once.
//
// Cost: O(1) per call, a few words of state. Thread-safety: none; the owner serializes calls.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "controller/common/backoff.h"
#include "controller/common/clock.h"

namespace registrar::runtime {

class ReconnectBackoff {
 public:
  using Duration = Clock::Duration;
  using TimePoint = Clock::TimePoint;

  struct Options {
    Duration initial = std::chrono::milliseconds(800);
    Duration max = std::chrono::seconds(30);
    Duration reset_after = std::chrono::minutes(2);
  };

  ReconnectBackoff() : ReconnectBackoff(Options{}) {}
  explicit ReconnectBackoff(Options options);

  // A list completed or a watch opened at `now`. Only the first success after a failure counts
  // as the start of the healthy period.
  void OnSuccess(TimePoint now);
  // A failure at `now`; returns the delay before the next attempt. `random01` is a draw in
  // [0, 1): the delay is ceiling * (1 + random01) / 2.
  Duration OnFailure(TimePoint now, double random01);

  // The ceiling after `failures` consecutive failures: initial * 2^(failures - 1), capped at max
  // (`failures` <= 0 gives initial).
  Duration Ceiling(int failures) const;
  // Consecutive failures counted so far.
  int failures() const { return backoff_.attempt(); }

 private:
  Options options_;
  Backoff backoff_;  // its attempt() is the run of failures
  std::optional<TimePoint> healthy_since_;
};

class ErrorLogLimiter {
 public:
  using Duration = Clock::Duration;
  using TimePoint = Clock::TimePoint;

  explicit ErrorLogLimiter(Duration interval = std::chrono::minutes(1)) : interval_(interval) {}

  // Whether `message`, failing at `now`, is to be logged; if so it counts as logged at `now`.
  bool ShouldLog(const std::string& message, TimePoint now);
  // The failures are over: returns how many occurred since the last Recovered() (0: nothing to
  // report), and the next failure is logged at once.
  int Recovered();

 private:
  Duration interval_;
  std::string last_message_;
  std::optional<TimePoint> last_logged_;
  int failures_ = 0;
};

}  // namespace registrar::runtime
