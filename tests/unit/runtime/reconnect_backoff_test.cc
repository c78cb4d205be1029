// Table tests of the watcher's reconnect rules: exact delays for given draws, no clock.
#include "controller/runtime/reconnect_backoff.h"

#include <chrono>

#include "gtest/gtest.h"

namespace registrar::runtime {
namespace {

using namespace std::chrono_literals;
using Duration = ReconnectBackoff::Duration;
using TimePoint = ReconnectBackoff::TimePoint;

const TimePoint kT0{std::chrono::hours(1)};

Duration Ms(int64_t ms) { return std::chrono::milliseconds(ms); }

TEST(ReconnectBackoff, CeilingDoublesFrom800MsAndCapsAt30s) {
  ReconnectBackoff backoff;
  struct Row {
    int failures;
    Duration ceiling;
  };
  for (const Row& row : {Row{0, Ms(800)}, Row{1, Ms(800)}, Row{2, Ms(1600)}, Row{3, Ms(3200)},
                         Row{4, Ms(6400)}, Row{5, Ms(12800)}, Row{6, Ms(25600)},
                         Row{7, Ms(30000)}, Row{8, Ms(30000)}, Row{100, Ms(30000)}}) {
    EXPECT_EQ(backoff.Ceiling(row.failures), row.ceiling) << row.failures;
  }
}

TEST(ReconnectBackoff, EqualJitterKeepsTheDelayBetweenHalfTheCeilingAndTheCeiling) {
  struct Row {
    double draw;
    Duration first_delay;
  };
  for (const Row& row : {Row{0.0, Ms(400)}, Row{0.5, Ms(600)}, Row{0.999999, Ms(799)},
                         Row{-1.0, Ms(400)}, Row{2.0, Ms(800)}}) {
    ReconnectBackoff backoff;
    Duration delay = backoff.OnFailure(kT0, row.draw);
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(delay), row.first_delay)
        << row.draw;
  }
}

TEST(ReconnectBackoff, ConsecutiveFailuresGrowToTheCap) {
  ReconnectBackoff backoff;
  TimePoint now = kT0;
  const Duration expected[] = {Ms(800), Ms(1600), Ms(3200), Ms(6400), Ms(12800),
                               Ms(25600), Ms(30000), Ms(30000)};
  for (Duration want : expected) {
    EXPECT_EQ(backoff.OnFailure(now, 1.0), want);
    now += 1s;
  }
  EXPECT_EQ(backoff.failures(), 8);
}

TEST(ReconnectBackoff, AWatchThatOpensAndBreaksSoonKeepsBackingOff) {
  ReconnectBackoff backoff;
  TimePoint now = kT0;
  EXPECT_EQ(backoff.OnFailure(now, 1.0), Ms(800));
  backoff.OnSuccess(now + 1s);  // the watch opened...
  now += 1min;                  // ...and broke a minute later: not healthy for two minutes
  EXPECT_EQ(backoff.OnFailure(now, 1.0), Ms(1600));
  backoff.OnSuccess(now + 1s);
  EXPECT_EQ(backoff.OnFailure(now + 1s + 119s, 1.0), Ms(3200));
}

TEST(ReconnectBackoff, TwoMinutesHealthyResetsToTheInitialDelay) {
  ReconnectBackoff backoff;
  TimePoint now = kT0;
  for (int i = 0; i < 6; ++i) {
    (void)backoff.OnFailure(now, 1.0);
  }
  backoff.OnSuccess(now);
  backoff.OnSuccess(now + 100s);  // a later success does not move the start of the healthy run
  EXPECT_EQ(backoff.OnFailure(now + 120s, 1.0), Ms(800));
  EXPECT_EQ(backoff.failures(), 1);
}

TEST(ReconnectBackoff, AFailureWithoutASuccessBeforeItNeverResets) {
  ReconnectBackoff backoff;
  EXPECT_EQ(backoff.OnFailure(kT0, 1.0), Ms(800));
  EXPECT_EQ(backoff.OnFailure(kT0 + 10min, 1.0), Ms(1600));
}

TEST(ErrorLogLimiter, LogsANewMessageAtOnceAndARepeatOncePerMinute) {
  ErrorLogLimiter limiter;
  struct Row {
    const char* message;
    Duration at;
    bool logged;
  };
  for (const Row& row : {Row{"a", 0s, true}, Row{"a", 1s, false}, Row{"a", 59s, false},
                         Row{"a", 60s, true}, Row{"b", 61s, true}, Row{"a", 62s, true},
                         Row{"a", 63s, false}}) {
    EXPECT_EQ(limiter.ShouldLog(row.message, kT0 + row.at), row.logged)
        << row.message << " at " << std::chrono::duration_cast<std::chrono::seconds>(row.at).count();
  }
  EXPECT_EQ(limiter.Recovered(), 7);
  EXPECT_EQ(limiter.Recovered(), 0);
  EXPECT_TRUE(limiter.ShouldLog("a", kT0 + 64s)) << "after a recovery the next failure is news";
}

}  // namespace
}  // namespace registrar::runtime
