#include "controller/runtime/work_queue.h"

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"

namespace registrar::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::Optional;

WorkQueue::Options ManualOptions() {
  WorkQueue::Options options;
  options.delay_thread = false;
  return options;
}

TEST(WorkQueue, AddDeduplicatesQueuedKeys) {
  testing::FakeClock clock;
  WorkQueue queue(clock, ManualOptions());
  queue.Add("a");
  queue.Add("b");
  queue.Add("a");
  EXPECT_EQ(queue.Len(), 2);
  EXPECT_THAT(queue.Get(), Optional(std::string("a")));
  EXPECT_THAT(queue.Get(), Optional(std::string("b")));
  EXPECT_EQ(queue.Len(), 0);
}

TEST(WorkQueue, KeyBeingProcessedIsNotHandedOutAgain) {
  testing::FakeClock clock;
  WorkQueue queue(clock, ManualOptions());
  queue.Add("a");
  ASSERT_THAT(queue.Get(), Optional(std::string("a")));
  queue.Add("a");
  queue.Add("b");
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_THAT(queue.Get(), Optional(std::string("b")));  // not "a": it is still processing
  EXPECT_EQ(queue.Len(), 0);
}

TEST(WorkQueue, ReAddWhileProcessingRequeuesOnceAfterDone) {
  testing::FakeClock clock;
  WorkQueue queue(clock, ManualOptions());
  queue.Add("a");
  ASSERT_THAT(queue.Get(), Optional(std::string("a")));
  queue.Add("a");
  queue.Add("a");
  EXPECT_EQ(queue.Len(), 0);
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 1);
  ASSERT_THAT(queue.Get(), Optional(std::string("a")));
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 0);
}

TEST(WorkQueue, DoneWithoutReAddDoesNotRequeue) {
  testing::FakeClock clock;
  WorkQueue queue(clock, ManualOptions());
  queue.Add("a");
  ASSERT_THAT(queue.Get(), Optional(std::string("a")));
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 0);
  queue.Add("a");  // after Done it can be queued again
  EXPECT_EQ(queue.Len(), 1);
}

TEST(WorkQueue, PerKeyBackoffDoublesUpToCapAndForgetResets) {
  testing::FakeClock clock;
  WorkQueue::Options options = ManualOptions();
  options.burst = 1000000;  // keep the overall limit out of the way
  WorkQueue queue(clock, options);
  const auto start = clock.Now();

  queue.AddRateLimited("a");
  EXPECT_EQ(queue.NumRequeues("a"), 1);
  EXPECT_THAT(queue.NextDue(), Optional(start + milliseconds(5)));
  clock.Advance(milliseconds(4));
  EXPECT_EQ(queue.ProcessDue(), 0);
  EXPECT_EQ(queue.Len(), 0);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(queue.ProcessDue(), 1);
  ASSERT_THAT(queue.Get(), Optional(std::string("a")));
  queue.Done("a");

  const auto t1 = clock.Now();
  queue.AddRateLimited("a");
  EXPECT_THAT(queue.NextDue(), Optional(t1 + milliseconds(10)));
  clock.Advance(milliseconds(10));
  EXPECT_EQ(queue.ProcessDue(), 1);
  ASSERT_THAT(queue.Get(), Optional(std::string("a")));
  queue.Done("a");

  queue.AddRateLimited("a");
  EXPECT_EQ(queue.NumRequeues("a"), 3);
  EXPECT_THAT(queue.NextDue(), Optional(clock.Now() + milliseconds(20)));

  // Re-delaying a waiting key keeps its earliest due time, but every failure counts.
  queue.AddRateLimited("b");
  queue.AddRateLimited("b");
  queue.AddRateLimited("b");
  EXPECT_EQ(queue.NumRequeues("b"), 3);
  clock.Advance(milliseconds(5));
  EXPECT_EQ(queue.ProcessDue(), 1);  // "b"
  clock.Advance(milliseconds(15));
  EXPECT_EQ(queue.ProcessDue(), 1);  // "a"
  EXPECT_EQ(queue.Len(), 2);

  queue.Forget("b");
  EXPECT_EQ(queue.NumRequeues("b"), 0);
  queue.Forget("a");
  EXPECT_EQ(queue.NumRequeues("a"), 0);
}

TEST(WorkQueue, PerKeyBackoffIsCappedAt1000Seconds) {
  testing::FakeClock clock;
  WorkQueue::Options options = ManualOptions();
  options.burst = 1000000;
  WorkQueue queue(clock, options);
  for (int i = 0; i < 40; ++i) {
    queue.AddRateLimited("a");
    clock.Advance(seconds(2000));
    ASSERT_EQ(queue.ProcessDue(), 1) << "failure " << i;
    ASSERT_THAT(queue.Get(), Optional(std::string("a")));
    queue.Done("a");
  }
  queue.AddRateLimited("a");
  EXPECT_THAT(queue.NextDue(), Optional(clock.Now() + seconds(1000)));
  queue.Forget("a");
  clock.Advance(seconds(2000));
  ASSERT_EQ(queue.ProcessDue(), 1);
  ASSERT_THAT(queue.Get(), Optional(std::string("a")));
  queue.Done("a");
  queue.AddRateLimited("a");
  EXPECT_THAT(queue.NextDue(), Optional(clock.Now() + milliseconds(5)));
}

TEST(WorkQueue, OverallTokenBucketLimitsAllKeys) {
  testing::FakeClock clock;
  WorkQueue::Options options = ManualOptions();
  options.qps = 1;
  options.burst = 2;
  WorkQueue queue(clock, options);
  const auto start = clock.Now();

  queue.AddRateLimited("a");  // token 1: per-key 5 ms decides
  queue.AddRateLimited("b");  // token 2
  queue.AddRateLimited("c");  // bucket empty: 1 s
  queue.AddRateLimited("d");  // 2 s
  EXPECT_THAT(queue.NextDue(), Optional(start + milliseconds(5)));
  clock.Advance(milliseconds(5));
  EXPECT_EQ(queue.ProcessDue(), 2);
  clock.Advance(milliseconds(994));
  EXPECT_EQ(queue.ProcessDue(), 0);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(queue.ProcessDue(), 1);
  EXPECT_THAT(queue.NextDue(), Optional(start + seconds(2)));
  clock.Advance(seconds(1));
  EXPECT_EQ(queue.ProcessDue(), 1);
  EXPECT_EQ(queue.Len(), 4);

  // The bucket refills at qps: after 10 s it is full (burst 2) again.
  clock.Advance(seconds(10));
  const auto refilled = clock.Now();
  queue.AddRateLimited("e");
  queue.AddRateLimited("f");
  queue.AddRateLimited("g");
  EXPECT_THAT(queue.NextDue(), Optional(refilled + milliseconds(5)));
  clock.Advance(milliseconds(5));
  EXPECT_EQ(queue.ProcessDue(), 2);
  EXPECT_THAT(queue.NextDue(), Optional(refilled + seconds(1)));
}

TEST(WorkQueue, AddAfterQueuesInDueOrderAndKeepsEarliest) {
  testing::FakeClock clock;
  WorkQueue queue(clock, ManualOptions());
  queue.AddAfter("c", milliseconds(30));
  queue.AddAfter("a", milliseconds(10));
  queue.AddAfter("b", milliseconds(20));
  queue.AddAfter("a", milliseconds(50));  // later: ignored
  queue.AddAfter("c", milliseconds(5));   // earlier: wins
  EXPECT_EQ(queue.Len(), 0);
  clock.Advance(milliseconds(5));
  EXPECT_EQ(queue.ProcessDue(), 1);
  clock.Advance(milliseconds(25));
  EXPECT_EQ(queue.ProcessDue(), 2);
  EXPECT_EQ(queue.NextDue(), std::nullopt);
  EXPECT_THAT(queue.Get(), Optional(std::string("c")));
  EXPECT_THAT(queue.Get(), Optional(std::string("a")));
  EXPECT_THAT(queue.Get(), Optional(std::string("b")));
}

TEST(WorkQueue, AddAfterWithoutDelayQueuesAtOnceAndDedupsWithQueued) {
  testing::FakeClock clock;
  WorkQueue queue(clock, ManualOptions());
  queue.AddAfter("a", std::chrono::nanoseconds(0));
  EXPECT_EQ(queue.Len(), 1);
  queue.AddAfter("a", milliseconds(1));
  clock.Advance(milliseconds(1));
  EXPECT_EQ(queue.ProcessDue(), 1);
  EXPECT_EQ(queue.Len(), 1);  // already queued: not twice
}

TEST(WorkQueue, ShutDownUnblocksGetAndIgnoresAdds) {
  testing::FakeClock clock;
  WorkQueue queue(clock, ManualOptions());
  std::optional<std::string> got = "unset";
  std::jthread getter([&] { got = queue.Get(); });
  queue.ShutDown();
  getter.join();
  EXPECT_EQ(got, std::nullopt);
  EXPECT_TRUE(queue.ShuttingDown());
  queue.Add("a");
  queue.AddRateLimited("b");
  EXPECT_EQ(queue.Len(), 0);
  EXPECT_EQ(queue.Get(), std::nullopt);
}

TEST(WorkQueue, HooksCountAddsRetriesAndDepth) {
  testing::FakeClock clock;
  int adds = 0;
  int retries = 0;
  int64_t depth = -1;
  WorkQueue queue(clock, ManualOptions(),
                  {.depth = [&](int64_t d) { depth = d; },
                   .add = [&] { ++adds; },
                   .retry = [&] { ++retries; }});
  queue.Add("a");
  queue.Add("a");
  queue.Add("b");
  EXPECT_EQ(adds, 2);
  EXPECT_EQ(depth, 2);
  ASSERT_TRUE(queue.Get().has_value());
  EXPECT_EQ(depth, 1);
  queue.AddRateLimited("c");
  EXPECT_EQ(retries, 1);
  EXPECT_EQ(adds, 2);  // still waiting
  clock.Advance(milliseconds(5));
  ASSERT_EQ(queue.ProcessDue(), 1);
  EXPECT_EQ(adds, 3);
  EXPECT_EQ(depth, 2);
}

TEST(WorkQueue, NormalKeysGoBeforeLowOnesEachInArrivalOrder) {
  testing::FakeClock clock;
  WorkQueue queue(clock, ManualOptions());
  queue.Add("listed-1", WorkQueue::Priority::kLow);
  queue.Add("listed-2", WorkQueue::Priority::kLow);
  queue.Add("changed-1");
  queue.Add("listed-3", WorkQueue::Priority::kLow);
  queue.Add("changed-2");
  EXPECT_EQ(queue.Len(), 5);
  for (const char* want : {"changed-1", "changed-2", "listed-1", "listed-2", "listed-3"}) {
    EXPECT_THAT(queue.Get(), Optional(std::string(want)));
  }
  EXPECT_EQ(queue.Len(), 0);
}

TEST(WorkQueue, NormalAddRaisesAQueuedLowKeyAndLowAddNeverLowersOne) {
  testing::FakeClock clock;
  WorkQueue queue(clock, ManualOptions());
  queue.Add("a", WorkQueue::Priority::kLow);
  queue.Add("b", WorkQueue::Priority::kLow);
  queue.Add("c", WorkQueue::Priority::kLow);
  queue.Add("x");
  queue.Add("b");                             // raised: after "x", before "a"
  queue.Add("x", WorkQueue::Priority::kLow);  // stays normal
  EXPECT_EQ(queue.Len(), 4);
  for (const char* want : {"x", "b", "a", "c"}) {
    EXPECT_THAT(queue.Get(), Optional(std::string(want)));
  }
}

TEST(WorkQueue, KeyReAddedWhileProcessingComesBackAtItsHighestPriority) {
  testing::FakeClock clock;
  WorkQueue queue(clock, ManualOptions());
  queue.Add("a", WorkQueue::Priority::kLow);
  queue.Add("b", WorkQueue::Priority::kLow);
  ASSERT_THAT(queue.Get(), Optional(std::string("a")));
  queue.Add("a", WorkQueue::Priority::kLow);
  queue.Add("a");  // e.g. the engine said it went live while its listing was reconciled
  queue.Done("a");
  EXPECT_THAT(queue.Get(), Optional(std::string("a")));  // before the listed "b"
  queue.Done("a");
  queue.Add("a", WorkQueue::Priority::kLow);
  EXPECT_THAT(queue.Get(), Optional(std::string("b")));
  EXPECT_THAT(queue.Get(), Optional(std::string("a")));
}

TEST(WorkQueue, RetryAfterHoldsTheKeyAgainstEarlierAdds) {
  testing::FakeClock clock;
  WorkQueue::Options options = ManualOptions();
  options.burst = 1000000;
  WorkQueue queue(clock, options);
  const auto start = clock.Now();
  queue.AddAfter("a", seconds(2));  // e.g. an earlier requeue
  queue.AddRateLimited("a", seconds(7));
  EXPECT_EQ(queue.NumRequeues("a"), 1);
  queue.Add("a");  // a change meanwhile: held, not queued
  EXPECT_EQ(queue.Len(), 0);
  clock.Advance(seconds(2));
  queue.ProcessDue();  // the earlier requeue comes due: held until start + 7 s
  EXPECT_EQ(queue.Len(), 0);
  EXPECT_THAT(queue.NextDue(), Optional(start + seconds(7)));
  clock.Advance(seconds(5));
  EXPECT_EQ(queue.ProcessDue(), 1);
  ASSERT_THAT(queue.Get(), Optional(std::string("a")));
  queue.Done("a");
  queue.Add("a");  // the hold is over
  EXPECT_EQ(queue.Len(), 1);
}

TEST(WorkQueue, RetryAfterShorterThanTheBackoffKeepsTheBackoff) {
  testing::FakeClock clock;
  WorkQueue::Options options = ManualOptions();
  options.base_backoff = seconds(10);
  options.burst = 1000000;
  WorkQueue queue(clock, options);
  queue.AddRateLimited("a", seconds(3));
  EXPECT_THAT(queue.NextDue(), Optional(clock.Now() + seconds(10)));
}

TEST(WorkQueue, DelayThreadQueuesDueKeysWithRealClock) {
  WorkQueue queue(RealClock::Get());  // default options: the delay thread runs
  queue.AddAfter("a", milliseconds(1));
  EXPECT_THAT(queue.Get(), Optional(std::string("a")));  // blocks until the thread moves it
}

// The delay thread sleeps until the earliest key is due on the queue's Clock; a FakeClock wakes
// it when advanced, so a delayed key reaches Get() without real time passing (before the one
// timer implementation the thread waited 30 real seconds here).
TEST(WorkQueue, DelayThreadFollowsAFakeClock) {
  testing::FakeClock clock;
  WorkQueue queue(clock);  // delay thread on
  queue.AddAfter("a", seconds(30));
  EXPECT_EQ(queue.Len(), 0);
  clock.Advance(seconds(30));
  EXPECT_THAT(queue.Get(), Optional(std::string("a")));
}

}  // namespace
}  // namespace registrar::runtime
