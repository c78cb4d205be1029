// OneThreadEventEngine (controller/etcd/event_engine.h) on its own, without gRPC: closures run on
// its one thread in time order, Cancel keeps a closure from running and drops it, closures may
// schedule and cancel from the thread, the last reference may go on the thread, and what it does
// not provide answers UNIMPLEMENTED asynchronously.
#include "controller/etcd/event_engine.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::etcd {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;

constexpr absl::Duration kWait = absl::Seconds(10);

// What ran, in order.
class Log {
 public:
  void Add(std::string what) {
    absl::MutexLock lock(&mu_);
    entries_.push_back(std::move(what));
  }
  // Waits until `n` entries are in; all of them.
  std::vector<std::string> Wait(size_t n) {
    absl::MutexLock lock(&mu_);
    want_ = n;
    mu_.AwaitWithTimeout(absl::Condition(this, &Log::Enough), kWait);
    return entries_;
  }
  std::vector<std::string> entries() {
    absl::MutexLock lock(&mu_);
    return entries_;
  }

 private:
  bool Enough() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entries_.size() >= want_; }

  absl::Mutex mu_;
  std::vector<std::string> entries_ ABSL_GUARDED_BY(mu_);
  size_t want_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(OneThreadEventEngine, RunsClosuresOnItsThreadInTimeOrder) {
  auto engine = std::make_shared<OneThreadEventEngine>();
  EXPECT_FALSE(engine->IsWorkerThread());
  Log log;
  std::thread::id ran_on;
  bool worker = false;
  engine->RunAfter(milliseconds(300), [&] { log.Add("late"); });
  engine->RunAfter(milliseconds(100), [&] { log.Add("early"); });
  engine->Run([&] {
    ran_on = std::this_thread::get_id();
    worker = engine->IsWorkerThread();
    log.Add("now");
  });
  EXPECT_THAT(log.Wait(3), ElementsAre("now", "early", "late"));
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_TRUE(worker);
  // The count goes up after a closure returns, so just after "late" was logged it may still be 2.
  for (int i = 0; i < 300 && engine->ran() < 3; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(engine->ran(), 3);
}

TEST(OneThreadEventEngine, CancelledClosureNeverRunsAndIsDropped) {
  auto engine = std::make_shared<OneThreadEventEngine>();
  Log log;
  auto held = std::make_shared<int>(7);
  std::weak_ptr<int> watch = held;
  auto handle =
      engine->RunAfter(milliseconds(200), [&log, held = std::move(held)] { log.Add("cancelled"); });
  engine->RunAfter(milliseconds(400), [&] { log.Add("kept"); });
  EXPECT_TRUE(engine->Cancel(handle));
  EXPECT_TRUE(watch.expired()) << "a cancelled closure is destroyed at once";
  EXPECT_FALSE(engine->Cancel(handle)) << "cancelled twice";
  EXPECT_THAT(log.Wait(1), ElementsAre("kept"));
  EXPECT_FALSE(engine->Cancel(handle));
}

TEST(OneThreadEventEngine, CancelAfterRunIsFalse) {
  auto engine = std::make_shared<OneThreadEventEngine>();
  Log log;
  auto handle = engine->RunAfter(milliseconds(1), [&] { log.Add("ran"); });
  EXPECT_THAT(log.Wait(1), ElementsAre("ran"));
  EXPECT_FALSE(engine->Cancel(handle));
  EXPECT_FALSE(engine->Cancel({{12345, 678}})) << "a handle of no engine";
}

TEST(OneThreadEventEngine, ClosuresScheduleAndCancelFromTheThread) {
  auto engine = std::make_shared<OneThreadEventEngine>();
  Log log;
  engine->Run([&] {
    auto doomed = engine->RunAfter(milliseconds(50), [&] { log.Add("doomed"); });
    engine->RunAfter(milliseconds(100), [&] { log.Add("second"); });
    log.Add(engine->Cancel(doomed) ? "cancelled" : "not cancelled");
  });
  EXPECT_THAT(log.Wait(2), ElementsAre("cancelled", "second"));
}

TEST(OneThreadEventEngine, AnEarlierClosureWakesTheSleeper) {
  auto engine = std::make_shared<OneThreadEventEngine>();
  Log log;
  engine->RunAfter(std::chrono::hours(1), [&] { log.Add("in an hour"); });
  const auto start = std::chrono::steady_clock::now();
  engine->RunAfter(milliseconds(50), [&] { log.Add("soon"); });
  EXPECT_THAT(log.Wait(1), ElementsAre("soon"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(OneThreadEventEngine, LastReferenceDroppedOnItsOwnThread) {
  auto engine = std::make_shared<OneThreadEventEngine>();
  absl::Notification done;
  std::weak_ptr<OneThreadEventEngine> watch = engine;
  engine->Run([keep = engine, &done]() mutable {
    keep.reset();  // may be the last reference: the destructor runs here, on the engine's thread
    done.Notify();
  });
  engine.reset();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(watch.expired());
}

TEST(OneThreadEventEngine, DestroyedWithPendingClosuresDropsThem) {
  auto held = std::make_shared<int>(1);
  std::weak_ptr<int> watch = held;
  Log log;
  {
    OneThreadEventEngine engine;
    engine.RunAfter(std::chrono::hours(1), [&log, held = std::move(held)] { log.Add("never"); });
  }
  EXPECT_TRUE(watch.expired());
  EXPECT_TRUE(log.entries().empty());
}

TEST(OneThreadEventEngine, ConnectAndLookupsAnswerUnimplementedAsynchronously) {
  auto engine = std::make_shared<OneThreadEventEngine>();
  Log log;
  auto resolver = engine->GetDNSResolver({});
  ASSERT_NE(resolver, nullptr);
  resolver->LookupHostname(
      [&](absl::StatusOr<std::vector<OneThreadEventEngine::ResolvedAddress>> r) {
        log.Add(absl::IsUnimplemented(r.status()) ? "lookup unimplemented" : "lookup other");
      },
      "localhost", "80", std::chrono::seconds(1));
  EXPECT_FALSE(resolver->CancelLookup({{0, 0}}));
  EXPECT_THAT(log.Wait(1), ElementsAre("lookup unimplemented"));
  EXPECT_FALSE(engine->CancelConnect({{0, 0}}));
}

}  // namespace
}  // namespace registrar::etcd
