#include "controller/etcd/keepalive_schedule.h"

#include <chrono>
#include <cstdint>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"

namespace registrar::etcd {
namespace {

using ::registrar::testing::FakeClock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

TEST(KeepAliveSchedule, RenewsAtAThirdOfTheTtl) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 9, clock.Now(), /*renew_now=*/false);
  EXPECT_EQ(schedule.NextWakeup(), clock.Now() + seconds(3));
  clock.Advance(milliseconds(2999));
  EXPECT_THAT(schedule.Due(clock.Now()), IsEmpty());
  clock.Advance(milliseconds(1));
  EXPECT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
  EXPECT_EQ(schedule.outstanding(), 1u);
  EXPECT_TRUE(schedule.OnResponse(1, 9));
  EXPECT_EQ(schedule.outstanding(), 0u);
  EXPECT_EQ(schedule.NextWakeup(), clock.Now() + seconds(3));
  clock.Advance(seconds(3));
  EXPECT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
}

// Found by fuzz_etcd_replies: a keep-alive or grant answer with TTL 2^63-1 overflowed
// ttl * 1000 (int64) and the interval came out as the 100 ms floor. TTLs count as at most
// kMaxTtlSeconds.
TEST(KeepAliveSchedule, ClampsTtlsAHostileEtcdReports) {
  const int64_t huge = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(KeepAliveSchedule::Interval(huge),
            KeepAliveSchedule::Interval(KeepAliveSchedule::kMaxTtlSeconds));
  EXPECT_EQ(KeepAliveSchedule::Interval(huge), milliseconds(1'000'000'000 / 3));
  EXPECT_EQ(KeepAliveSchedule::StaleAfter(huge), milliseconds(1'000'000'000 / 3) + seconds(1));
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 5, clock.Now(), /*renew_now=*/true);
  EXPECT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
  EXPECT_TRUE(schedule.OnResponse(1, huge));  // the answer reports a huge TTL
  clock.Advance(KeepAliveSchedule::Interval(5));
  EXPECT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
  EXPECT_TRUE(schedule.OnResponse(1, huge));
  EXPECT_EQ(schedule.NextWakeup(), clock.Now() + milliseconds(1'000'000'000 / 3));
}

TEST(KeepAliveSchedule, RenewNowIsDueImmediately) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(7, 30, clock.Now(), /*renew_now=*/true);
  EXPECT_THAT(schedule.Due(clock.Now()), ElementsAre(7));
  EXPECT_THAT(schedule.Due(clock.Now()), IsEmpty());
}

TEST(KeepAliveSchedule, AdoptsTheTtlEtcdGranted) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 3, clock.Now(), false);
  clock.Advance(seconds(1));
  ASSERT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
  // etcd answers with a larger TTL than was asked for: the next-but-one interval uses it.
  EXPECT_TRUE(schedule.OnResponse(1, 12));
  EXPECT_EQ(schedule.min_ttl(), 12);
  clock.Advance(seconds(1));
  ASSERT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
  EXPECT_EQ(schedule.NextWakeup(), clock.Now() + seconds(4));
}

TEST(KeepAliveSchedule, StaleExactlyAtMinTtlThirdPlusOneSecond) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 30, clock.Now(), true);
  schedule.Add(2, 6, clock.Now(), true);
  auto sent_at = clock.Now();
  ASSERT_THAT(schedule.Due(clock.Now()), UnorderedElementsAre(1, 2));
  // min TTL 6 -> stale after 6/3 + 1 = 3 s.
  EXPECT_EQ(KeepAliveSchedule::StaleAfter(6), seconds(3));
  clock.Advance(seconds(2));
  ASSERT_THAT(schedule.Due(clock.Now()), ElementsAre(2));  // renewal of lease 2 also went out
  EXPECT_EQ(schedule.NextWakeup(), sent_at + seconds(3));
  clock.Advance(milliseconds(999));
  EXPECT_FALSE(schedule.IsStreamStale(clock.Now()));
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(schedule.IsStreamStale(clock.Now()));
}

TEST(KeepAliveSchedule, AnsweredRequestsAreNotStale) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 3, clock.Now(), true);
  ASSERT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
  EXPECT_TRUE(schedule.OnResponse(1, 3));
  clock.Advance(seconds(10));
  EXPECT_FALSE(schedule.IsStreamStale(clock.Now()));
}

TEST(KeepAliveSchedule, StaleUsesTheOldestUnansweredRequest) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 3, clock.Now(), true);  // stale after 2 s
  ASSERT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
  clock.Advance(seconds(1));
  ASSERT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
  EXPECT_TRUE(schedule.OnResponse(1, 3));  // answers the first request only
  clock.Advance(milliseconds(1999));
  EXPECT_FALSE(schedule.IsStreamStale(clock.Now()));
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(schedule.IsStreamStale(clock.Now()));
}

// etcd busy applying writes answers keep-alives late but does answer: a stream whose responses
// keep arriving is slow, not dead, however old its oldest request; it is stale once silent.
TEST(KeepAliveSchedule, SlowButAnsweringStreamIsNotStaleUntilSilent) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 3, clock.Now(), true);  // stale after 2 s of silence
  schedule.Add(2, 3, clock.Now(), true);
  schedule.Add(3, 3, clock.Now(), true);
  ASSERT_THAT(schedule.Due(clock.Now()), UnorderedElementsAre(1, 2, 3));
  clock.Advance(milliseconds(1500));
  schedule.NoteResponse(clock.Now());
  EXPECT_TRUE(schedule.OnResponse(1, 3));
  EXPECT_EQ(schedule.outstanding(), 2u);  // two still unanswered since t0
  clock.Advance(milliseconds(1500));      // 3 s after the oldest request
  EXPECT_FALSE(schedule.IsStreamStale(clock.Now()));
  clock.Advance(milliseconds(500));  // 2 s of silence since the last response
  EXPECT_TRUE(schedule.IsStreamStale(clock.Now()));
  schedule.NoteResponse(clock.Now());
  EXPECT_TRUE(schedule.OnResponse(2, 3));
  EXPECT_TRUE(schedule.OnResponse(3, 3));
  EXPECT_EQ(schedule.outstanding(), 0u);
  EXPECT_FALSE(schedule.IsStreamStale(clock.Now()));
}

TEST(KeepAliveSchedule, SilentSinceIsTheOldestUnansweredRequestOrTheLastResponse) {
  FakeClock clock;
  KeepAliveSchedule s;
  s.Add(1, 30, clock.Now(), /*renew_now=*/true);
  s.Add(2, 30, clock.Now(), /*renew_now=*/false);
  EXPECT_EQ(s.silent_since(), std::nullopt);  // nothing sent
  const auto first_sent = clock.Now();
  ASSERT_EQ(s.Due(clock.Now()).size(), 1u);
  EXPECT_EQ(s.silent_since(), first_sent);
  clock.Advance(std::chrono::seconds(10));
  ASSERT_EQ(s.Due(clock.Now()).size(), 2u);  // both renewed; lease 1's first still unanswered
  EXPECT_EQ(s.silent_since(), first_sent);
  clock.Advance(std::chrono::seconds(1));
  s.NoteResponse(clock.Now());
  ASSERT_TRUE(s.OnResponse(1, 30));
  EXPECT_EQ(s.silent_since(), clock.Now()) << "an answer ends the silence";
  ASSERT_TRUE(s.OnResponse(1, 30));
  ASSERT_TRUE(s.OnResponse(2, 30));
  EXPECT_EQ(s.silent_since(), std::nullopt);  // all answered
}

TEST(KeepAliveSchedule, ResetRenewsEveryLeaseAtOnceAndForgetsOutstanding) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 30, clock.Now(), false);
  schedule.Add(2, 60, clock.Now(), false);
  schedule.Add(3, 90, clock.Now(), true);
  ASSERT_THAT(schedule.Due(clock.Now()), ElementsAre(3));
  clock.Advance(seconds(1));
  schedule.OnStreamReset(clock.Now());
  EXPECT_EQ(schedule.outstanding(), 0u);
  EXPECT_FALSE(schedule.IsStreamStale(clock.Now() + seconds(100)));
  EXPECT_THAT(schedule.Due(clock.Now()), UnorderedElementsAre(1, 2, 3));
  EXPECT_EQ(schedule.outstanding(), 3u);
  EXPECT_THAT(schedule.Due(clock.Now()), IsEmpty());
}

TEST(KeepAliveSchedule, LostLeaseIsForgotten) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 3, clock.Now(), true);
  schedule.Add(2, 3, clock.Now(), true);
  ASSERT_THAT(schedule.Due(clock.Now()), ElementsAre(1, 2));
  EXPECT_TRUE(schedule.OnResponse(1, 0));
  EXPECT_TRUE(schedule.OnResponse(2, 3));
  EXPECT_FALSE(schedule.Contains(1));
  EXPECT_EQ(schedule.size(), 1u);
  clock.Advance(seconds(1));
  EXPECT_THAT(schedule.Due(clock.Now()), ElementsAre(2));
}

TEST(KeepAliveSchedule, RemovedLeaseIsNotRenewedAndItsLateAnswerIsIgnored) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 3, clock.Now(), true);
  schedule.Add(2, 30, clock.Now(), false);
  ASSERT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
  EXPECT_TRUE(schedule.Remove(1));
  EXPECT_FALSE(schedule.Remove(1));
  EXPECT_EQ(schedule.min_ttl(), 30);
  EXPECT_FALSE(schedule.OnResponse(1, 3));
  EXPECT_EQ(schedule.outstanding(), 0u);
  EXPECT_EQ(schedule.NextWakeup(), clock.Now() + seconds(10));
  clock.Advance(seconds(5));
  EXPECT_THAT(schedule.Due(clock.Now()), IsEmpty());
}

TEST(KeepAliveSchedule, ReAddingUpdatesTtlAndReschedules) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  schedule.Add(1, 30, clock.Now(), false);
  schedule.Add(1, 3, clock.Now(), false);
  EXPECT_EQ(schedule.size(), 1u);
  EXPECT_EQ(schedule.min_ttl(), 3);
  clock.Advance(seconds(1));
  EXPECT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
  clock.Advance(seconds(10));
  // The stale heap entry of the first Add does not produce a second renewal.
  EXPECT_THAT(schedule.Due(clock.Now()), ElementsAre(1));
}

TEST(KeepAliveSchedule, BatchWindowIsAnEighthOfTheShortestIntervalAtMost250Ms) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  EXPECT_EQ(schedule.BatchWindow(), KeepAliveSchedule::Duration::zero());
  schedule.Add(1, 10, clock.Now(), false);
  EXPECT_EQ(schedule.BatchWindow(), milliseconds(250));
  schedule.Add(2, 3, clock.Now(), false);  // interval 1 s
  EXPECT_EQ(schedule.BatchWindow(), milliseconds(125));
  schedule.Remove(2);
  EXPECT_EQ(schedule.BatchWindow(), milliseconds(250));
}

TEST(KeepAliveSchedule, HorizonRenewsEarlyWithoutShiftingTheLattice) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  const auto t0 = clock.Now();
  schedule.Add(1, 9, t0, false);                      // due t0 + 3 s
  schedule.Add(2, 9, t0 + milliseconds(200), false);  // due t0 + 3.2 s
  schedule.Add(3, 9, t0 + milliseconds(400), false);  // due t0 + 3.4 s
  clock.Advance(seconds(3));
  // Everything due within the next 250 ms goes out now, in due order.
  EXPECT_THAT(schedule.Due(clock.Now(), clock.Now() + milliseconds(250)), ElementsAre(1, 2));
  EXPECT_EQ(schedule.outstanding(), 2u);
  // Lease 2 went out 200 ms early; its next renewal stays on its own lattice (t0 + 6.2 s), so
  // early sends never accumulate into more renewals.
  EXPECT_EQ(schedule.NextWakeup(), t0 + milliseconds(3400));
  schedule.OnResponse(1, 9);
  schedule.OnResponse(2, 9);
  clock.Advance(milliseconds(400));
  EXPECT_THAT(schedule.Due(clock.Now(), clock.Now() + milliseconds(250)), ElementsAre(3));
  schedule.OnResponse(3, 9);
  clock.Advance(milliseconds(2600));  // t0 + 6 s: lease 1 due, lease 2 (6.2 s) inside the window
  EXPECT_THAT(schedule.Due(clock.Now(), clock.Now() + milliseconds(250)), ElementsAre(1, 2));
  EXPECT_EQ(schedule.NextWakeup(), t0 + milliseconds(6400));
}

TEST(KeepAliveSchedule, NothingScheduledHasNoWakeup) {
  KeepAliveSchedule schedule;
  EXPECT_FALSE(schedule.NextWakeup().has_value());
  EXPECT_FALSE(schedule.min_ttl().has_value());
}

TEST(KeepAliveSchedule, HundredThousandLeasesSpreadOverTheInterval) {
  FakeClock clock;
  KeepAliveSchedule schedule;
  constexpr int kLeases = 100000;
  for (int i = 0; i < kLeases; ++i) {
    schedule.Add(i + 1, 10, clock.Now(), false);
    clock.Advance(std::chrono::microseconds(33));  // Adds arrive over ~3.3 s
  }
  size_t renewed = 0;
  size_t max_batch = 0;
  // One renewal interval (3.33 s) after the last Add: every lease exactly once.
  for (int tick = 0; tick < 334; ++tick) {
    clock.Advance(milliseconds(10));
    auto due = schedule.Due(clock.Now());
    for (int64_t lease : due) {
      schedule.OnResponse(lease, 10);
    }
    renewed += due.size();
    max_batch = std::max(max_batch, due.size());
  }
  EXPECT_EQ(renewed, static_cast<size_t>(kLeases));
  EXPECT_LT(max_batch, 1000u);  // about 300 per 10 ms tick, never everything at once
  EXPECT_EQ(schedule.outstanding(), 0u);
}

}  // namespace
}  // namespace registrar::etcd
