#include "controller/publisher/write_scheduler.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"

namespace registrar::publisher {
namespace {

using ::registrar::testing::FakeClock;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

// No keep-alive outstanding (WriteScheduler::Ready's `renewals_silent_since`).
constexpr std::nullopt_t kIdle = std::nullopt;

// Records which operations ran, by name.
struct Recorder {
  std::vector<std::string> ran;
  WriteScheduler::Op Op(std::string name) {
    return [this, name] { ran.push_back(name); };
  }
  void Run(std::vector<WriteScheduler::Op> ops) {
    for (auto& op : ops) {
      op();
    }
  }
  // One write of `kind` submitted, started (keep-alives idle) and answered at `now`.
  void WriteAndAnswer(WriteScheduler& s, WriteKind kind, const std::string& name,
                      WriteScheduler::TimePoint now) {
    s.Submit(kind, Op(name), /*first=*/true);
    Run(s.Ready(now, kIdle));
    ASSERT_FALSE(ran.empty());
    ASSERT_EQ(ran.back(), name);
    s.Done(kind, now);
  }
};

TEST(WriteScheduler, BoundsWritesInFlight) {
  FakeClock clock;
  WriteScheduler s(2);
  Recorder r;
  for (const char* name : {"a", "b", "c"}) {
    s.Submit(WriteKind::kKey, r.Op(name), /*first=*/false);
  }
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_THAT(r.ran, ElementsAre("a", "b"));
  EXPECT_EQ(s.in_flight(), 2);
  EXPECT_THAT(s.Ready(clock.Now(), kIdle), IsEmpty());
  s.Done(WriteKind::kKey, clock.Now());
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_THAT(r.ran, ElementsAre("a", "b", "c"));
}

TEST(WriteScheduler, NothingStartsWhileKeepAlivesAreOutstanding) {
  FakeClock clock;
  WriteScheduler s(8);
  Recorder r;
  s.Submit(WriteKind::kKey, r.Op("a"), false);
  EXPECT_THAT(s.Ready(clock.Now(), /*renewals_silent_since=*/clock.Now()), IsEmpty());
  EXPECT_EQ(s.queued(), 1u);
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_THAT(r.ran, ElementsAre("a"));
}

// Rule 2 as a table: whether a queued write starts, by how long the keep-alive stream has been
// silent with renewals outstanding, against the limit (the connection's request timeout).
TEST(WriteScheduler, RenewFirstHoldsWritesOnlyWhileTheStreamIsNotSilentForTheLimit) {
  struct Case {
    const char* name;
    std::optional<int> silent_ms;  // empty: no keep-alive outstanding
    int limit_ms;
    bool starts;
  };
  const Case cases[] = {
      {"idle", std::nullopt, 2000, true},          {"just sent", 0, 2000, false},
      {"answering slowly", 1999, 2000, false},     {"silent for the limit", 2000, 2000, true},
      {"silent past the limit", 9000, 2000, true}, {"default limit, 4.9 s", 4900, -1, false},
      {"default limit, 5 s", 5000, -1, true},
  };
  for (const Case& c : cases) {
    FakeClock clock;
    WriteScheduler s =
        c.limit_ms < 0 ? WriteScheduler(8) : WriteScheduler(8, milliseconds(c.limit_ms));
    Recorder r;
    s.Submit(WriteKind::kLease, r.Op("revoke"), /*first=*/true);
    std::optional<WriteScheduler::TimePoint> since;
    if (c.silent_ms) {
      since = clock.Now();
      clock.Advance(milliseconds(*c.silent_ms));
    }
    r.Run(s.Ready(clock.Now(), since));
    EXPECT_EQ(r.ran.size(), c.starts ? 1u : 0u) << c.name;
    EXPECT_EQ(s.queued(), c.starts ? 0u : 1u) << c.name;
  }
}

TEST(WriteScheduler, AHeldWriteAsksToBeLookedAtWhenTheSilenceReachesTheLimit) {
  FakeClock clock;
  WriteScheduler s(8, milliseconds(2000));
  Recorder r;
  s.Submit(WriteKind::kLease, r.Op("revoke"), true);
  const auto sent = clock.Now();  // a keep-alive went out and was never answered
  clock.Advance(milliseconds(300));
  EXPECT_THAT(s.Ready(clock.Now(), sent), IsEmpty());
  EXPECT_THAT(s.NextCheck(), Optional(sent + milliseconds(2000)));
  clock.Advance(milliseconds(1700));
  r.Run(s.Ready(clock.Now(), sent));
  EXPECT_THAT(r.ran, ElementsAre("revoke"));
  EXPECT_EQ(s.NextCheck(), std::nullopt);
}

TEST(WriteScheduler, FollowUpsGoFirstInTheirOwnOrder) {
  FakeClock clock;
  WriteScheduler s(1);
  Recorder r;
  s.Submit(WriteKind::kLease, r.Op("grant1"), /*first=*/false);
  s.Submit(WriteKind::kLease, r.Op("grant2"), false);
  s.Submit(WriteKind::kLease, r.Op("revoke1"), /*first=*/true);
  s.Submit(WriteKind::kLease, r.Op("revoke2"), true);
  for (int i = 0; i < 4; ++i) {
    r.Run(s.Ready(clock.Now(), kIdle));
    s.Done(WriteKind::kLease, clock.Now());
  }
  EXPECT_THAT(r.ran, ElementsAre("revoke1", "revoke2", "grant1", "grant2"));
}

TEST(WriteScheduler, KindsAlternateAndAPhaseWaitsForItsWritesToBeAnswered) {
  FakeClock clock;
  WriteScheduler s(100);
  Recorder r;
  s.Submit(WriteKind::kKey, r.Op("txn1"), true);
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_EQ(s.phase(), WriteKind::kKey);
  // A lease write arrives; the key phase has no more work, but txn1 is still in flight.
  s.Submit(WriteKind::kLease, r.Op("grant1"), false);
  EXPECT_THAT(s.Ready(clock.Now(), kIdle), IsEmpty());
  s.Submit(WriteKind::kKey, r.Op("txn2"), true);  // too late: the phase is ending
  EXPECT_THAT(s.Ready(clock.Now(), kIdle), IsEmpty());
  s.Done(WriteKind::kKey, clock.Now());
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_EQ(s.phase(), WriteKind::kLease);
  EXPECT_THAT(r.ran, ElementsAre("txn1", "grant1"));
  s.Done(WriteKind::kLease, clock.Now());
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_THAT(r.ran, ElementsAre("txn1", "grant1", "txn2"));
}

TEST(WriteScheduler, ABusyPhaseEndsAfterTheMinimumWhenTheOtherKindWaits) {
  FakeClock clock;
  WriteScheduler s(1);
  Recorder r;
  for (int i = 0; i < 10; ++i) {
    s.Submit(WriteKind::kLease, r.Op("grant" + std::to_string(i)), false);
  }
  r.Run(s.Ready(clock.Now(), kIdle));  // switches to the lease phase at t0
  ASSERT_EQ(s.phase(), WriteKind::kLease);
  s.Submit(WriteKind::kKey, r.Op("txn"), true);
  EXPECT_THAT(s.NextCheck(), Optional(clock.Now() + WriteScheduler::kMinPhase));
  clock.Advance(WriteScheduler::kMinPhase - milliseconds(1));
  s.Done(WriteKind::kLease, clock.Now());
  r.Run(s.Ready(clock.Now(), kIdle));  // still the lease phase: grant1
  EXPECT_EQ(r.ran.back(), "grant1");
  clock.Advance(milliseconds(1));
  s.Done(WriteKind::kLease, clock.Now());
  r.Run(s.Ready(clock.Now(), kIdle));  // the phase is over and nothing is in flight
  EXPECT_EQ(s.phase(), WriteKind::kKey);
  EXPECT_EQ(r.ran.back(), "txn");
  EXPECT_EQ(s.queued(), 8u);
}

TEST(WriteScheduler, SettlesWithAKeyWriteThenALeaseWriteAfterQuietPeriods) {
  FakeClock clock;
  WriteScheduler s(8);
  Recorder r;
  s.Submit(WriteKind::kKey, r.Op("txn"), true);
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_EQ(s.SettleDue(clock.Now()), std::nullopt);  // in flight
  s.Done(WriteKind::kKey, clock.Now());
  EXPECT_THAT(s.NextCheck(), Optional(clock.Now() + WriteScheduler::kSettleAfter));
  clock.Advance(WriteScheduler::kSettleAfter - milliseconds(1));
  EXPECT_EQ(s.SettleDue(clock.Now()), std::nullopt);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(s.SettleDue(clock.Now()), WriteKind::kKey);
  s.Settled(WriteKind::kKey);
  s.Submit(WriteKind::kKey, r.Op("settle-put"), true, /*cost=*/1, /*settle=*/true);
  r.Run(s.Ready(clock.Now(), kIdle));
  s.Done(WriteKind::kKey, clock.Now());
  clock.Advance(WriteScheduler::kSettleAfter);
  EXPECT_EQ(s.SettleDue(clock.Now()), WriteKind::kLease);  // the settle put did not restart it
  s.Settled(WriteKind::kLease);
  s.Submit(WriteKind::kLease, r.Op("settle-grant"), true, 1, true);
  r.Run(s.Ready(clock.Now(), kIdle));
  s.Done(WriteKind::kLease, clock.Now());
  clock.Advance(WriteScheduler::kSettleAfter);
  EXPECT_EQ(s.SettleDue(clock.Now()), std::nullopt);
  EXPECT_EQ(s.NextCheck(), std::nullopt);
  EXPECT_THAT(r.ran, ElementsAre("txn", "settle-put", "settle-grant"));
}

TEST(WriteScheduler, SettlesWhileKeepAlivesStarveTheQueuedWrites) {
  FakeClock clock;
  WriteScheduler s(8);
  Recorder r;
  r.WriteAndAnswer(s, WriteKind::kKey, "txn1", clock.Now());
  s.Submit(WriteKind::kKey, r.Op("txn2"), true);
  EXPECT_THAT(s.Ready(clock.Now(), /*renewals_silent_since=*/clock.Now()), IsEmpty());
  clock.Advance(WriteScheduler::kSettleAfter);
  // Keep-alives are slow and writes wait: the settle write still goes, ahead of txn2.
  ASSERT_EQ(s.SettleDue(clock.Now()), WriteKind::kKey);
  s.Settled(WriteKind::kKey);
  s.Submit(WriteKind::kKey, r.Op("settle-put"), true, 1, /*settle=*/true);
  r.Run(s.Ready(clock.Now(), clock.Now()));
  EXPECT_THAT(r.ran, ElementsAre("txn1", "settle-put"));
  EXPECT_EQ(s.queued(), 1u);
}

TEST(WriteScheduler, BudgetPacesEntriesPerSecondInTenthsOfASecond) {
  FakeClock clock;
  WriteScheduler s(100);
  Recorder r;
  s.SetBudget(1000, clock.Now());  // 100 entries per 100 ms
  for (int i = 0; i < 5; ++i) {
    s.Submit(WriteKind::kKey, r.Op("txn" + std::to_string(i)), true, /*cost=*/40);
  }
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_EQ(r.ran.size(), 2u);  // 100 tokens: 40 + 40, and 20 left
  EXPECT_THAT(s.NextCheck(), Optional(clock.Now() + milliseconds(20)));  // 20 more at 1/ms
  clock.Advance(milliseconds(19));
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_EQ(r.ran.size(), 2u);
  clock.Advance(milliseconds(1));
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_EQ(r.ran.size(), 3u);
  s.SetBudget(0, clock.Now());  // no limit any more
  r.Run(s.Ready(clock.Now(), kIdle));
  EXPECT_EQ(r.ran.size(), 5u);
}

TEST(WriteScheduler, TheLeaseSettleWaitsForTheKeySettleToBeWrittenInItsPhase) {
  FakeClock clock;
  WriteScheduler s(8);
  Recorder r;
  r.WriteAndAnswer(s, WriteKind::kKey, "txn", clock.Now());
  s.Submit(WriteKind::kLease, r.Op("grant"), false);  // the lease phase begins
  r.Run(s.Ready(clock.Now(), kIdle));
  s.Done(WriteKind::kLease, clock.Now());
  s.Submit(WriteKind::kLease, r.Op("grant2"), false);
  clock.Advance(WriteScheduler::kSettleAfter);
  ASSERT_EQ(s.SettleDue(clock.Now()), WriteKind::kKey);
  s.Settled(WriteKind::kKey);
  s.Submit(WriteKind::kKey, r.Op("settle-put"), true, 1, /*settle=*/true);
  // Still the lease phase (it is younger than kMinPhase and has work): the settle put waits, and
  // the lease settle must not be asked for in the same breath.
  EXPECT_THAT(s.Ready(clock.Now(), clock.Now()), IsEmpty());
  EXPECT_EQ(s.SettleDue(clock.Now()), std::nullopt);
  clock.Advance(WriteScheduler::kMinPhase);
  r.Run(s.Ready(clock.Now(), clock.Now()));
  EXPECT_THAT(r.ran, ElementsAre("txn", "grant", "settle-put"));
  s.Done(WriteKind::kKey, clock.Now());
  EXPECT_EQ(s.SettleDue(clock.Now()), std::nullopt);
  clock.Advance(WriteScheduler::kSettleAfter);
  EXPECT_EQ(s.SettleDue(clock.Now()), WriteKind::kLease);
}

TEST(WriteScheduler, LeaseWritesAloneNeedNoSettle) {
  FakeClock clock;
  WriteScheduler s(8);
  Recorder r;
  r.WriteAndAnswer(s, WriteKind::kLease, "revoke", clock.Now());
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(s.SettleDue(clock.Now()), std::nullopt);
}

TEST(WriteScheduler, NewKeyWritesDuringASettleStartItOver) {
  FakeClock clock;
  WriteScheduler s(8);
  Recorder r;
  r.WriteAndAnswer(s, WriteKind::kKey, "txn1", clock.Now());
  clock.Advance(WriteScheduler::kSettleAfter);
  ASSERT_EQ(s.SettleDue(clock.Now()), WriteKind::kKey);
  s.Settled(WriteKind::kKey);
  s.Submit(WriteKind::kKey, r.Op("txn2"), true);  // a real write before the lease step
  r.Run(s.Ready(clock.Now(), kIdle));
  s.Done(WriteKind::kKey, clock.Now());
  clock.Advance(WriteScheduler::kSettleAfter);
  EXPECT_EQ(s.SettleDue(clock.Now()), WriteKind::kKey);
}

}  // namespace
}  // namespace registrar::publisher
