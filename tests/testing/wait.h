// File: tests/testing/wait.h
//
// Waiting in tests that run real threads or processes: poll a condition until it holds or a
// deadline passes. The one helper for this in the test tree (instead of a copy per file).
//
// Flow: `ASSERT_TRUE(WaitFor([&] { return seen(); }, 5s)) << why;`. The result is [[nodiscard]]:
// a wait whose outcome is ignored would let a test go on as if the condition held. To measure a
// latency, read the clock around a successful wait.
// A wait is not a way to assert that nothing happened: wait for the event that proves the
// system looked (a log line, a counter, a second event), then assert the absence.
//
// Thread-safety: WaitFor may be called from any thread; `condition` runs on the caller's thread.
// Cost: one call of `condition` per `poll` interval (10 ms by default).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace registrar::testing {

using WaitClock = std::chrono::steady_clock;

// Calls `condition` every `poll` until it returns true (then returns true) or `timeout` has
// passed (then returns false, after one last call made at or after the deadline).
[[nodiscard]] inline bool WaitFor(const std::function<bool()>& condition,
                                  WaitClock::duration timeout,
                                  WaitClock::duration poll = std::chrono::milliseconds(10)) {
  const WaitClock::time_point deadline = WaitClock::now() + timeout;
  while (true) {
    const bool past_deadline = WaitClock::now() >= deadline;
    if (condition()) {
      return true;
    }
    if (past_deadline) {
      return false;
    }
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace registrar::testing
