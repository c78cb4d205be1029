#include "controller/runtime/controller_loop.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"

namespace registrar::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::Optional;
using ::testing::Pair;

// Returns scripted results in order and records the keys it saw; each reconcile takes `cost`
// of fake time.
class ScriptedReconciler final : public Reconciler {
 public:
  ScriptedReconciler(testing::FakeClock& clock, std::vector<absl::StatusOr<Result>> script)
      : clock_(clock), script_(script.begin(), script.end()) {}

  absl::StatusOr<Result> Reconcile(const std::string& key) override {
    keys.push_back(key);
    clock_.Advance(milliseconds(250));
    auto next = script_.front();
    script_.pop_front();
    return next;
  }

  std::vector<std::string> keys;

 private:
  testing::FakeClock& clock_;
  std::deque<absl::StatusOr<Result>> script_;
};

struct Fixture {
  explicit Fixture(std::vector<absl::StatusOr<Reconciler::Result>> script)
      : queue(clock, Options()),
        reconciler(clock, std::move(script)),
        loop("test", queue, reconciler, clock, 1,
             {.reconciled =
                  [this](std::string_view result, double seconds) {
                    results.emplace_back(std::string(result), seconds);
                  },
              .retry_after = {}}) {}

  static WorkQueue::Options Options() {
    WorkQueue::Options options;
    options.delay_thread = false;
    return options;
  }

  testing::FakeClock clock;
  WorkQueue queue;
  ScriptedReconciler reconciler;
  std::vector<std::pair<std::string, double>> results;
  ControllerLoop loop;
};

TEST(ControllerLoop, ErrorRequeuesWithGrowingBackoffAndSuccessForgets) {
  Fixture f(
      {absl::UnavailableError("etcd down"), absl::AbortedError("conflict"), Reconciler::Result{}});
  f.queue.Add("ns/a");
  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  EXPECT_EQ(f.queue.NumRequeues("ns/a"), 1);
  EXPECT_EQ(f.queue.Len(), 0);
  EXPECT_THAT(f.queue.NextDue(), Optional(f.clock.Now() + milliseconds(5)));

  f.clock.Advance(milliseconds(5));
  ASSERT_EQ(f.queue.ProcessDue(), 1);
  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  EXPECT_EQ(f.queue.NumRequeues("ns/a"), 2);
  EXPECT_THAT(f.queue.NextDue(), Optional(f.clock.Now() + milliseconds(10)));

  f.clock.Advance(milliseconds(10));
  ASSERT_EQ(f.queue.ProcessDue(), 1);
  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  EXPECT_EQ(f.queue.NumRequeues("ns/a"), 0);
  EXPECT_EQ(f.queue.NextDue(), std::nullopt);
  EXPECT_EQ(f.queue.Len(), 0);
  EXPECT_THAT(f.reconciler.keys, ElementsAre("ns/a", "ns/a", "ns/a"));
  EXPECT_THAT(f.results,
              ElementsAre(Pair("error", 0.25), Pair("error", 0.25), Pair("success", 0.25)));
}

TEST(ControllerLoop, TerminalErrorsForgetAndDoNotRequeue) {
  Fixture f({absl::UnavailableError("transient"), absl::InvalidArgumentError("bad spec"),
             absl::FailedPreconditionError("key held by another owner")});
  f.queue.Add("ns/a");
  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  ASSERT_EQ(f.queue.NumRequeues("ns/a"), 1);
  f.clock.Advance(milliseconds(5));
  ASSERT_EQ(f.queue.ProcessDue(), 1);

  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  EXPECT_EQ(f.queue.NumRequeues("ns/a"), 0);
  EXPECT_EQ(f.queue.NextDue(), std::nullopt);
  EXPECT_EQ(f.queue.Len(), 0);

  f.queue.Add("ns/a");  // a change brings it back
  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  EXPECT_EQ(f.queue.NextDue(), std::nullopt);
  EXPECT_EQ(f.queue.Len(), 0);
  EXPECT_THAT(f.results,
              ElementsAre(Pair("error", 0.25), Pair("error", 0.25), Pair("error", 0.25)));
}

TEST(ControllerLoop, RequeueAfterForgetsAndDelays) {
  Fixture f(
      {absl::UnavailableError("transient"), Reconciler::Result{seconds(30)}, Reconciler::Result{}});
  f.queue.Add("ns/a");
  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  f.clock.Advance(milliseconds(5));
  ASSERT_EQ(f.queue.ProcessDue(), 1);
  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  EXPECT_EQ(f.queue.NumRequeues("ns/a"), 0);
  EXPECT_THAT(f.queue.NextDue(), Optional(f.clock.Now() + seconds(30)));
  f.clock.Advance(seconds(29));
  EXPECT_EQ(f.queue.ProcessDue(), 0);
  f.clock.Advance(seconds(1));
  ASSERT_EQ(f.queue.ProcessDue(), 1);
  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  EXPECT_THAT(f.results,
              ElementsAre(Pair("error", 0.25), Pair("requeue_after", 0.25), Pair("success", 0.25)));
}

TEST(ControllerLoop, RetryAfterInTheErrorDelaysTheRetryCappedAtAMinute) {
  Fixture f({absl::UnavailableError("HTTP 429 TooManyRequests, retry after 7 s"),
             absl::UnavailableError("HTTP 429 TooManyRequests, retry after 3600 s"),
             absl::UnavailableError("HTTP 503")});
  ControllerLoop loop("test", f.queue, f.reconciler, f.clock, 1,
                      {.reconciled = {},
                       .retry_after = [](const absl::Status& s) -> std::optional<Clock::Duration> {
                         if (absl::StrContains(s.message(), "after 7 s")) {
                           return seconds(7);
                         }
                         if (absl::StrContains(s.message(), "after 3600 s")) {
                           return seconds(3600);
                         }
                         return std::nullopt;
                       }});
  f.queue.Add("ns/a");
  ASSERT_TRUE(loop.ProcessNextWorkItem());
  EXPECT_THAT(f.queue.NextDue(), Optional(f.clock.Now() + seconds(7)));
  f.queue.Add("ns/a");  // a change meanwhile does not bring it sooner
  EXPECT_EQ(f.queue.Len(), 0);
  f.clock.Advance(seconds(7));
  ASSERT_EQ(f.queue.ProcessDue(), 1);
  ASSERT_TRUE(loop.ProcessNextWorkItem());
  EXPECT_THAT(f.queue.NextDue(), Optional(f.clock.Now() + ControllerLoop::kMaxRetryAfter));
  f.clock.Advance(ControllerLoop::kMaxRetryAfter);
  ASSERT_EQ(f.queue.ProcessDue(), 1);
  ASSERT_TRUE(loop.ProcessNextWorkItem());  // no Retry-After: the per-key backoff (5 ms * 2^2)
  EXPECT_THAT(f.queue.NextDue(), Optional(f.clock.Now() + milliseconds(20)));
}

TEST(ControllerLoop, DoneIsCalledSoTheKeyCanBeQueuedAgain) {
  Fixture f({Reconciler::Result{}, absl::InvalidArgumentError("bad")});
  f.queue.Add("ns/a");
  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  f.queue.Add("ns/a");
  EXPECT_EQ(f.queue.Len(), 1);  // not stuck as "processing"
  ASSERT_TRUE(f.loop.ProcessNextWorkItem());
  f.queue.Add("ns/a");
  EXPECT_EQ(f.queue.Len(), 1);
}

TEST(ControllerLoop, ProcessNextWorkItemReturnsFalseAfterShutDown) {
  Fixture f({});
  f.queue.ShutDown();
  EXPECT_FALSE(f.loop.ProcessNextWorkItem());
}

// Real worker threads: every key is reconciled, never on two threads at once.
class CountingReconciler final : public Reconciler {
 public:
  explicit CountingReconciler(int expected) : expected_(expected) {}

  absl::StatusOr<Result> Reconcile(const std::string& key) override {
    {
      absl::MutexLock lock(&mu_);
      if (!in_flight_.insert(key).second) {
        overlaps_++;
      }
    }
    absl::MutexLock lock(&mu_);
    in_flight_.erase(key);
    if (++calls_ == expected_) {
      all_done_.Notify();
    }
    return Result{};
  }

  absl::Notification all_done_;
  int overlaps() {
    absl::MutexLock lock(&mu_);
    return overlaps_;
  }

 private:
  const int expected_;
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> in_flight_ ABSL_GUARDED_BY(mu_);
  int overlaps_ ABSL_GUARDED_BY(mu_) = 0;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(ControllerLoop, WorkersReconcileEveryKeyAndStopJoins) {
  testing::FakeClock clock;
  WorkQueue queue(clock, Fixture::Options());
  CountingReconciler reconciler(20);
  ControllerLoop loop("test", queue, reconciler, clock, 4);
  for (int i = 0; i < 20; ++i) {
    queue.Add("ns/k" + std::to_string(i));
  }
  loop.Start();
  ASSERT_TRUE(reconciler.all_done_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  loop.Stop();
  EXPECT_TRUE(queue.ShuttingDown());
  EXPECT_EQ(reconciler.overlaps(), 0);
  loop.Stop();  // idempotent
}

}  // namespace
}  // namespace registrar::runtime
