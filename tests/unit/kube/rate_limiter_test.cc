#include "controller/kube/rate_limiter.h"

#include <chrono>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using TimePoint = RateLimiter::TimePoint;

const TimePoint kStart{std::chrono::hours(1)};

// One step of a table: at `at` (after kStart), Reserve() answers `start` (after kStart); or,
// with `give`, a token is given back.
struct Step {
  milliseconds at;
  milliseconds start;
  bool give = false;
};

void RunTable(double qps, int burst, const std::vector<Step>& steps) {
  RateLimiter limiter(qps, burst, kStart);
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    if (s.give) {
      limiter.Give(kStart + s.at);
      continue;
    }
    EXPECT_EQ(limiter.Reserve(kStart + s.at) - kStart, s.start)
        << "step " << i << " at +" << s.at.count() << " ms";
  }
}

TEST(RateLimiter, BurstStartsAtOnceThenOneEveryInterval) {
  // qps 10, burst 3: three at once, then one every 100 ms, in arrival order.
  RunTable(10, 3,
           {{milliseconds(0), milliseconds(0)},
            {milliseconds(0), milliseconds(0)},
            {milliseconds(0), milliseconds(0)},
            {milliseconds(0), milliseconds(100)},
            {milliseconds(0), milliseconds(200)},
            {milliseconds(50), milliseconds(300)}});
}

TEST(RateLimiter, RefillsAtQpsUpToTheBurst) {
  RunTable(10, 2,
           {{milliseconds(0), milliseconds(0)},
            {milliseconds(0), milliseconds(0)},
            // 100 ms: one token back.
            {milliseconds(100), milliseconds(100)},
            {milliseconds(100), milliseconds(200)},
            // Idle for 10 s: the bucket is full again, but never holds more than the burst.
            {milliseconds(10'000), milliseconds(10'000)},
            {milliseconds(10'000), milliseconds(10'000)},
            {milliseconds(10'000), milliseconds(10'100)}});
}

TEST(RateLimiter, DebtIsPaidBackBeforeNewTokens) {
  // Reservations waiting to start are owed: a later arrival queues behind them.
  RunTable(2, 1,
           {{milliseconds(0), milliseconds(0)},
            {milliseconds(0), milliseconds(500)},
            {milliseconds(0), milliseconds(1000)},
            {milliseconds(600), milliseconds(1500)},
            {milliseconds(3000), milliseconds(3000)}});
}

TEST(RateLimiter, AGivenBackTokenGoesToTheNextRequest) {
  RunTable(10, 1,
           {{milliseconds(0), milliseconds(0)},
            {milliseconds(0), milliseconds(100)},
            // The second reservation was not used (its deadline was earlier): it gives back.
            {milliseconds(0), milliseconds(0), /*give=*/true},
            {milliseconds(0), milliseconds(100)},
            // Giving never fills the bucket beyond the burst.
            {milliseconds(5000), milliseconds(0), true},
            {milliseconds(5000), milliseconds(5000)},
            {milliseconds(5000), milliseconds(5100)}});
}

TEST(RateLimiter, ZeroQpsMeansNoLimit) {
  RateLimiter limiter(0, 1, kStart);
  EXPECT_TRUE(limiter.unlimited());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(limiter.Reserve(kStart), kStart);
  }
}

TEST(RateLimiter, BurstBelowOneCountsAsOne) {
  RunTable(10, 0, {{milliseconds(0), milliseconds(0)}, {milliseconds(0), milliseconds(100)}});
}

TEST(RateLimiter, DefaultsSpreadAStartOfFourThousandWritesOverAboutEightySeconds) {
  // The defaults' reasoning (rate_limiter.h): 2 000 resources, a finalizer and a status patch
  // each, all asked for at once.
  RateLimiter limiter(50, 100, kStart);
  TimePoint last;
  for (int i = 0; i < 4000; ++i) {
    last = limiter.Reserve(kStart);
  }
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(last - kStart), milliseconds(78'000));
  EXPECT_DOUBLE_EQ(limiter.Tokens(kStart), -3900);
  EXPECT_NEAR(limiter.Tokens(kStart + seconds(78)), 0, 1e-9);
}

TEST(RateLimiter, AnEarlierNowThanTheLastCallDoesNotRefill) {
  // Two threads may read the clock in one order and take the lock in the other.
  RateLimiter limiter(10, 1, kStart + milliseconds(100));
  EXPECT_EQ(limiter.Reserve(kStart + milliseconds(100)), kStart + milliseconds(100));
  EXPECT_EQ(limiter.Reserve(kStart), kStart + milliseconds(200));
}

}  // namespace
}  // namespace registrar::kube
