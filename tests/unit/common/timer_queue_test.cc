#include "controller/common/timer_queue.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"

namespace registrar {
namespace {

using std::chrono::seconds;
using TimePoint = Clock::TimePoint;

TimePoint At(int s) { return TimePoint{} + seconds(s); }

// One operation on a TimerQueue<std::string> and what it must answer.
struct Op {
  enum Kind { kSchedule, kCancel, kPopAll } kind;
  std::string key;
  int at = 0;                         // kSchedule: due; kPopAll: now
  bool result = false;                // kSchedule: earliest moved earlier; kCancel: was waiting
  std::vector<std::string> popped{};  // kPopAll: keys due, in order
  std::optional<int> next_due{};      // NextDue() after the operation
};

struct Case {
  std::string name;
  std::vector<Op> ops;
};

TEST(TimerQueue, Rules) {
  const std::vector<Case> cases = {
      {"earliest first",
       {{Op::kSchedule, "b", 5, true, {}, 5},
        {Op::kSchedule, "a", 3, true, {}, 3},
        {Op::kSchedule, "c", 9, false, {}, 3},
        {Op::kPopAll, "", 5, false, {"a", "b"}, 9}}},
      {"equal times in scheduling order",
       {{Op::kSchedule, "x", 4, true, {}, 4},
        {Op::kSchedule, "y", 4, false, {}, 4},
        {Op::kSchedule, "w", 4, false, {}, 4},
        {Op::kPopAll, "", 4, false, {"x", "y", "w"}, std::nullopt}}},
      {"a waiting key keeps the earlier time",
       {{Op::kSchedule, "a", 5, true, {}, 5},
        {Op::kSchedule, "a", 8, false, {}, 5},
        {Op::kPopAll, "", 5, false, {"a"}, std::nullopt}}},
      {"rescheduled earlier moves, and counts as scheduled last among equals",
       {{Op::kSchedule, "a", 9, true, {}, 9},
        {Op::kSchedule, "b", 2, true, {}, 2},
        {Op::kSchedule, "a", 2, false, {}, 2},
        {Op::kPopAll, "", 2, false, {"b", "a"}, std::nullopt}}},
      {"nothing due before its time",
       {{Op::kSchedule, "a", 5, true, {}, 5}, {Op::kPopAll, "", 4, false, {}, 5}}},
      {"cancel",
       {{Op::kSchedule, "a", 1, true, {}, 1},
        {Op::kSchedule, "b", 2, false, {}, 1},
        {Op::kCancel, "a", 0, true, {}, 2},
        {Op::kCancel, "a", 0, false, {}, 2},
        {Op::kPopAll, "", 9, false, {"b"}, std::nullopt}}},
      {"popped keys can be scheduled again",
       {{Op::kSchedule, "a", 1, true, {}, 1},
        {Op::kPopAll, "", 1, false, {"a"}, std::nullopt},
        {Op::kSchedule, "a", 7, true, {}, 7}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TimerQueue<std::string> queue;
    for (size_t i = 0; i < c.ops.size(); ++i) {
      SCOPED_TRACE(i);
      const Op& op = c.ops[i];
      switch (op.kind) {
        case Op::kSchedule:
          EXPECT_EQ(queue.Schedule(op.key, At(op.at)), op.result);
          break;
        case Op::kCancel:
          EXPECT_EQ(queue.Cancel(op.key), op.result);
          break;
        case Op::kPopAll: {
          std::vector<std::string> popped;
          while (auto key = queue.PopDue(At(op.at))) {
            popped.push_back(*key);
          }
          EXPECT_EQ(popped, op.popped);
          break;
        }
      }
      EXPECT_EQ(queue.NextDue(),
                op.next_due ? std::optional<TimePoint>(At(*op.next_due)) : std::nullopt);
    }
  }
}

// The thread sleeps until its deadline on a FakeClock: advancing the clock (not real time)
// makes the step run, and short of the deadline it does not.
TEST(TimerThread, SleepsUntilTheDeadlineOnTheClock) {
  testing::FakeClock clock;
  const TimePoint deadline = clock.Now() + seconds(10);
  absl::Mutex mu;
  int runs = 0;
  bool ran_at_deadline = false;
  TimerThread thread(clock, "test-timer", [&]() -> std::optional<TimePoint> {
    absl::MutexLock lock(&mu);
    ++runs;
    if (clock.Now() >= deadline) {
      ran_at_deadline = true;
      return std::nullopt;
    }
    return deadline;
  });
  thread.Start();
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* r) { return *r >= 1; }, &runs));
  }
  clock.Advance(seconds(9));  // wakes the sleeper, which measures again and sleeps on
  clock.Advance(seconds(1));
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&ran_at_deadline));
  EXPECT_EQ(runs, 2);  // the start and the deadline: the 9 s advance did not run the step
}

TEST(TimerThread, WakeAtAnEarlierTimeRunsTheStep) {
  testing::FakeClock clock;
  absl::Mutex mu;
  int runs = 0;
  TimerThread thread(clock, "test-timer", [&]() -> std::optional<TimePoint> {
    absl::MutexLock lock(&mu);
    ++runs;
    return clock.Now() + seconds(60);
  });
  thread.Start();
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* r) { return *r >= 1; }, &runs));
  }
  thread.WakeAt(clock.Now() + seconds(120));  // later than planned: nothing to do
  thread.WakeAt(clock.Now());                 // due now
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* r) { return *r >= 2; }, &runs));
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(thread.steps(), 2);
}

TEST(TimerThread, StopJoinsASleepingThreadAndRestarts) {
  testing::FakeClock clock;
  absl::Mutex mu;
  int runs = 0;
  TimerThread thread(clock, "test-timer", [&]() -> std::optional<TimePoint> {
    absl::MutexLock lock(&mu);
    ++runs;
    return std::nullopt;
  });
  thread.Start();
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* r) { return *r >= 1; }, &runs));
  }
  thread.Stop();  // joins the thread sleeping with no deadline
  EXPECT_TRUE(thread.stopping());
  thread.Wake();  // nothing runs a stopped thread's step
  clock.Advance(seconds(100));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(runs, 1);
  }
  thread.Start();
  EXPECT_FALSE(thread.stopping());
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* r) { return *r >= 2; }, &runs));
  EXPECT_EQ(runs, 2);
}

}  // namespace
}  // namespace registrar
