// SourcedController: the source's change handler and the first-sync handshake, with real worker
// threads. The reconciler fake blocks inside Reconcile and notices a second caller for a key
// that is already being reconciled, which the Reconciler contract forbids.
#include "controller/runtime/sourced_controller.h"

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"
#include "tests/testing/wait.h"

namespace registrar::runtime {
namespace {

using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Counts the reconciles in progress per key and records every overlap (a second Reconcile of a
// key entered before the first returned). The first Reconcile of `blocking_key` waits inside
// until Release().
class OverlapDetectingReconciler final : public Reconciler {
 public:
  explicit OverlapDetectingReconciler(std::string blocking_key)
      : blocking_key_(std::move(blocking_key)) {}

  absl::StatusOr<Result> Reconcile(const std::string& key) override {
    bool block = false;
    {
      absl::MutexLock lock(&mu_);
      if (in_flight_[key]++ > 0) {
        overlaps_.push_back(key);
      }
      ++calls_[key];
      block = key == blocking_key_ && !blocked_once_;
      blocked_once_ = blocked_once_ || block;
    }
    if (block) {
      blocked_.Notify();
      release_.WaitForNotificationWithTimeout(absl::Seconds(30));
    }
    absl::MutexLock lock(&mu_);
    --in_flight_[key];
    ++finished_[key];
    return Result{};
  }

  // True once a worker waits inside Reconcile(blocking_key).
  bool blocked() const { return blocked_.HasBeenNotified(); }
  void Release() { release_.Notify(); }

  std::vector<std::string> overlaps() const {
    absl::MutexLock lock(&mu_);
    return overlaps_;
  }
  int calls(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(key);
    return it == calls_.end() ? 0 : it->second;
  }
  int finished(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    auto it = finished_.find(key);
    return it == finished_.end() ? 0 : it->second;
  }

 private:
  const std::string blocking_key_;
  absl::Notification blocked_;
  absl::Notification release_;
  mutable absl::Mutex mu_;
  bool blocked_once_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, int> in_flight_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> finished_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> overlaps_ ABSL_GUARDED_BY(mu_);
};

// A source as the handshake sees it: a listing and a synced flag the test flips; the keys
// handed to on_first_sync, with the queue length seen at that moment.
struct Fixture {
  explicit Fixture(int workers, std::string blocking_key = "")
      : queue(clock, QueueOptions()),
        reconciler(std::move(blocking_key)),
        controller(queue, reconciler, clock, {.name = "test", .workers = workers, .hooks = {}},
                   {.synced = [this] { return synced.load(); }, .keys = [this] { return listing; }},
                   [this](std::vector<std::string> keys) {
                     absl::MutexLock lock(&mu);
                     first_syncs.push_back(std::move(keys));
                     queued_at_first_sync = queue.Len();
                   }) {}

  static WorkQueue::Options QueueOptions() {
    WorkQueue::Options options;
    options.delay_thread = false;  // nothing here is delayed: every reconcile succeeds
    return options;
  }

  std::vector<std::vector<std::string>> FirstSyncs() {
    absl::MutexLock lock(&mu);
    return first_syncs;
  }

  testing::FakeClock clock;
  WorkQueue queue;
  OverlapDetectingReconciler reconciler;
  std::atomic<bool> synced{false};
  std::vector<std::string> listing;  // written before the source thread reads it
  absl::Mutex mu;
  std::vector<std::vector<std::string>> first_syncs ABSL_GUARDED_BY(mu);
  int queued_at_first_sync ABSL_GUARDED_BY(mu) = -1;
  SourcedController controller;
};

// The bug this handshake replaced: at the first sync the controller reconciled every listed key
// on the source thread while the workers were running, so a key a worker was reconciling at
// that moment was reconciled by two threads at once (and the result was thrown away).
TEST(SourcedController, FirstSyncWhileAWorkerReconcilesAKeyDoesNotReconcileItAgain) {
  Fixture f(/*workers=*/2, /*blocking_key=*/"ns/a");
  f.listing = {"ns/a", "ns/b"};
  f.controller.Start();

  // The source's partial listing: the keys are queued, a worker takes ns/a and stays inside.
  std::thread source([&] { f.controller.OnChange({"ns/a", "ns/b"}); });
  source.join();
  ASSERT_TRUE(testing::WaitFor([&] { return f.reconciler.blocked(); }, seconds(10)));
  ASSERT_TRUE(testing::WaitFor([&] { return f.reconciler.finished("ns/b") == 1; }, seconds(10)));
  EXPECT_FALSE(f.controller.first_sync_done());

  // The first complete listing arrives while ns/a is still being reconciled.
  f.synced = true;
  source = std::thread([&] { f.controller.OnChange({}); });
  source.join();

  EXPECT_THAT(f.reconciler.overlaps(), IsEmpty());
  EXPECT_EQ(f.reconciler.calls("ns/a"), 1) << "only the worker reconciles ns/a";
  EXPECT_EQ(f.reconciler.calls("ns/b"), 1) << "ns/b was reconciled once, by a worker";
  EXPECT_THAT(f.FirstSyncs(), ElementsAre(ElementsAre("ns/a", "ns/b")));
  EXPECT_TRUE(f.controller.first_sync_done());

  f.reconciler.Release();
  ASSERT_TRUE(testing::WaitFor([&] { return f.reconciler.finished("ns/a") == 1; }, seconds(10)));
  f.controller.Stop();
  EXPECT_THAT(f.reconciler.overlaps(), IsEmpty());
  EXPECT_EQ(f.reconciler.calls("ns/a"), 1);
}

TEST(SourcedController, FirstSyncComesOnceAfterTheKeysOfItsCallAreQueued) {
  Fixture f(/*workers=*/1);  // not started: keys stay in the queue
  f.listing = {"ns/a", "ns/b", "ns/c"};
  f.controller.OnChange({"ns/a"});
  EXPECT_THAT(f.FirstSyncs(), IsEmpty()) << "not synced yet: an absent key is not deleted";

  f.synced = true;
  f.controller.OnChange({"ns/b", "ns/c"});
  EXPECT_THAT(f.FirstSyncs(), ElementsAre(ElementsAre("ns/a", "ns/b", "ns/c")));
  {
    absl::MutexLock lock(&f.mu);
    EXPECT_EQ(f.queued_at_first_sync, 3) << "the keys of the syncing call were queued first";
  }

  f.controller.OnChange({"ns/d"});
  f.controller.OnChange({});
  EXPECT_EQ(f.FirstSyncs().size(), 1u) << "the handshake happens once";
  EXPECT_EQ(f.queue.Len(), 4);
  EXPECT_EQ(f.reconciler.calls("ns/a"), 0) << "OnChange never reconciles";
}

TEST(SourcedController, ChangesAfterTheFirstSyncGoBeforeTheListedKeys) {
  Fixture f(/*workers=*/1);  // not started: the test takes the keys itself
  f.listing = {"ns/a", "ns/b"};
  f.synced = true;
  f.controller.OnChange({"ns/a", "ns/b"});  // the initial listing: low priority
  f.controller.OnChange({"ns/z"});          // a change after it
  f.queue.Add("ns/b");                      // e.g. the engine: ns/b went live
  for (const char* want : {"ns/z", "ns/b", "ns/a"}) {
    EXPECT_THAT(f.queue.Get(), ::testing::Optional(std::string(want)));
  }
}

TEST(SourcedController, SyncedAtTheFirstCallWithAnEmptyListing) {
  Fixture f(/*workers=*/1);
  f.synced = true;
  f.controller.OnChange({});
  EXPECT_THAT(f.FirstSyncs(), ElementsAre(IsEmpty()));
  EXPECT_TRUE(f.controller.first_sync_done());
}

}  // namespace
}  // namespace registrar::runtime
