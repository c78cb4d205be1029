// The revoke debt's rule (revoke_debt.h): which owed revoke is retried when. Time moves only with
// the FakeClock; nothing sleeps.
#include "controller/publisher/revoke_debt.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"

namespace registrar::publisher {
namespace {

using ::registrar::testing::FakeClock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

PendingRevoke Owed(int64_t lease, RevokeReason reason = RevokeReason::kRemoved) {
  return {.lease = lease, .reason = reason, .owner = "ns/a", .full_key = "a.rpc/1"};
}

std::vector<int64_t> Leases(const std::vector<PendingRevoke>& revokes) {
  std::vector<int64_t> out;
  for (const auto& r : revokes) {
    out.push_back(r.lease);
  }
  return out;
}

TEST(RevokeDebt, DelayDoublesFromOneSecondUpToThirty) {
  struct Row {
    int failures;
    RevokeDebt::Duration want;
  };
  const std::vector<Row> rows = {{1, seconds(1)},  {2, seconds(2)},  {3, seconds(4)},
                                 {4, seconds(8)},  {5, seconds(16)}, {6, seconds(30)},
                                 {7, seconds(30)}, {60, seconds(30)}};
  for (const Row& row : rows) {
    EXPECT_EQ(RevokeDebt::Delay(row.failures), row.want) << row.failures << " failures";
  }
}

// Each row: what happens to lease 7, then whether Due() hands it out at `at` after the start.
TEST(RevokeDebt, Table) {
  enum class Step { kFail, kDue, kReconnect, kPaid };
  struct Row {
    std::string name;
    std::vector<std::pair<Step, RevokeDebt::Duration>> steps;  // each at start + duration
    RevokeDebt::Duration at;
    bool due;
  };
  const std::vector<Row> rows = {
      {"failed once: not before one second", {{Step::kFail, seconds(0)}}, milliseconds(999), false},
      {"failed once: due after one second", {{Step::kFail, seconds(0)}}, seconds(1), true},
      {"failed twice: due two seconds after the second failure",
       {{Step::kFail, seconds(0)}, {Step::kDue, seconds(1)}, {Step::kFail, seconds(1)}},
       seconds(2),
       false},
      {"failed twice: due at three seconds",
       {{Step::kFail, seconds(0)}, {Step::kDue, seconds(1)}, {Step::kFail, seconds(1)}},
       seconds(3),
       true},
      {"reconnect: due at once",
       {{Step::kFail, seconds(0)}, {Step::kReconnect, milliseconds(10)}},
       milliseconds(10),
       true},
      {"in flight: not handed out twice",
       {{Step::kFail, seconds(0)}, {Step::kDue, seconds(1)}},
       seconds(100),
       false},
      {"reconnect while in flight: due at once when that attempt fails",
       {{Step::kFail, seconds(0)},
        {Step::kDue, seconds(1)},
        {Step::kReconnect, seconds(2)},
        {Step::kFail, seconds(5)}},
       seconds(5),
       true},
      {"reconnect resets the backoff: one second after the next failure",
       {{Step::kFail, seconds(0)},
        {Step::kDue, seconds(1)},
        {Step::kFail, seconds(1)},
        {Step::kDue, seconds(3)},
        {Step::kFail, seconds(3)},
        {Step::kReconnect, seconds(4)},
        {Step::kDue, seconds(4)},
        {Step::kFail, seconds(4)}},
       seconds(5),
       true},
      {"paid: never again",
       {{Step::kFail, seconds(0)}, {Step::kPaid, milliseconds(1)}},
       seconds(100),
       false},
      {"paid while in flight: never again",
       {{Step::kFail, seconds(0)}, {Step::kDue, seconds(1)}, {Step::kPaid, seconds(2)}},
       seconds(100),
       false},
  };
  for (const Row& row : rows) {
    FakeClock clock;
    RevokeDebt debt;
    const auto start = clock.Now();
    for (const auto& [step, when] : row.steps) {
      switch (step) {
        case Step::kFail:
          debt.Failed(Owed(7), start + when);
          break;
        case Step::kDue:
          ASSERT_THAT(Leases(debt.Due(start + when)), ElementsAre(7)) << row.name;
          break;
        case Step::kReconnect:
          debt.Reconnected(start + when);
          break;
        case Step::kPaid:
          EXPECT_TRUE(debt.Paid(7).has_value()) << row.name;
          break;
      }
    }
    EXPECT_EQ(Leases(debt.Due(start + row.at)).size(), row.due ? 1u : 0u) << row.name;
  }
}

TEST(RevokeDebt, EntersOnceAndKeepsWhatItWas) {
  FakeClock clock;
  RevokeDebt debt;
  EXPECT_TRUE(debt.Failed(Owed(7, RevokeReason::kPaused), clock.Now()));
  EXPECT_TRUE(debt.Contains(7));
  EXPECT_EQ(debt.size(), 1u);
  EXPECT_EQ(debt.failures(7), 1);
  clock.Advance(seconds(1));
  auto due = debt.Due(clock.Now());
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].reason, RevokeReason::kPaused);
  EXPECT_EQ(due[0].owner, "ns/a");
  EXPECT_EQ(due[0].full_key, "a.rpc/1");
  EXPECT_FALSE(debt.Failed(due[0], clock.Now())) << "already owed: not new";
  EXPECT_EQ(debt.failures(7), 2);
  auto paid = debt.Paid(7);
  ASSERT_TRUE(paid.has_value());
  EXPECT_EQ(paid->reason, RevokeReason::kPaused);
  EXPECT_FALSE(debt.Paid(7).has_value());
  EXPECT_TRUE(debt.empty());
  EXPECT_EQ(debt.NextCheck(), std::nullopt);
}

TEST(RevokeDebt, NextCheckIsTheEarliestEntryNotInFlight) {
  FakeClock clock;
  RevokeDebt debt;
  const auto t0 = clock.Now();
  debt.Failed(Owed(1), t0);               // due t0 + 1 s
  debt.Failed(Owed(2), t0 + seconds(5));  // due t0 + 6 s
  EXPECT_THAT(debt.NextCheck(), Optional(t0 + seconds(1)));
  EXPECT_THAT(Leases(debt.Due(t0 + seconds(1))), ElementsAre(1));
  EXPECT_THAT(debt.NextCheck(), Optional(t0 + seconds(6))) << "1 is in flight";
  EXPECT_THAT(debt.Due(t0 + seconds(2)), IsEmpty());
  debt.Reconnected(t0 + seconds(3));
  EXPECT_THAT(debt.NextCheck(), Optional(t0 + seconds(3)));
  EXPECT_THAT(Leases(debt.Due(t0 + seconds(3))), ElementsAre(2));
  EXPECT_EQ(debt.NextCheck(), std::nullopt) << "both in flight";
  EXPECT_THAT(debt.leases(), ElementsAre(1, 2));
}

TEST(RevokeDebt, ReasonsHaveNames) {
  EXPECT_STREQ(RevokeReasonName(RevokeReason::kOrphan), "orphan");
  EXPECT_STREQ(RevokeReasonName(RevokeReason::kUnansweredGrant), "unanswered grant");
  EXPECT_STREQ(RevokeReasonName(RevokeReason::kSettle), "settle");
}

}  // namespace
}  // namespace registrar::publisher
