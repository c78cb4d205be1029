// Integration tests of the engine's settle writes against a real etcd (write_scheduler.h, rule
// 4): after a burst of key writes on a connection holding at least 1 000 leases, one record is
// rewritten with the same value and lease, then — in a later etcd commit — a throwaway lease is
// granted and revoked. Nothing else may change: no DELETE, no value change, no extra lease left.
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/fixtures/etcd_watch_recorder.h"
#include "tests/integration/publisher/engine_testing.h"

namespace registrar::publisher::testing {
namespace {

using registrar::testing::EtcdctlTarget;
using registrar::testing::EtcdWatchRecorder;
using registrar::testing::WatchEvent;

constexpr char kOwner[] = "owner-s";

// Every request the engine finished, with the time it finished.
struct RequestLog {
  struct Entry {
    std::string method;
    Steady::time_point at;
    bool ok = false;
  };
  absl::Mutex mu;
  std::vector<Entry> entries ABSL_GUARDED_BY(mu);

  void Attach(EngineOptions& options) {
    options.on_request = [this](const char* method, double, const absl::Status& status) {
      absl::MutexLock lock(&mu);
      entries.push_back(Entry{method, Steady::now(), status.ok()});
    };
  }
  std::vector<Entry> Of(const std::string& method) {
    absl::MutexLock lock(&mu);
    std::vector<Entry> out;
    for (const auto& e : entries) {
      if (e.method == method) {
        out.push_back(e);
      }
    }
    return out;
  }
};

std::vector<std::string> Register(Engine& engine, int count) {
  std::vector<std::string> ids;
  for (int i = 1; i <= count; ++i) {
    Desired d = MakeDesired(absl::StrCat("s-", i), absl::StrCat("settle", i % 10, ".rpc"), 0,
                            absl::StrCat("10.2.", i / 256, ".", i % 256, ":80"), /*ttl=*/10);
    ids.push_back(d.id);
    engine.Upsert(std::move(d));
  }
  engine.MarkComplete({});
  return ids;
}

using SettleTest = EngineIntegrationTest;

TEST_F(SettleTest, AfterABurstOneRecordIsRewrittenThenAThrowawayLeaseComesAndGoes) {
  constexpr int kCount = 1000;  // the engine settles from 1 000 leases on a connection
  auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(*etcd_), "");
  ASSERT_TRUE(recorder.ok()) << recorder.status();
  RequestLog log;
  EngineOptions options = ControllerOptions(*etcd_, kOwner);
  log.Attach(options);
  Engine* engine = NewStartedEngine(std::move(options));
  ASSERT_NE(engine, nullptr);
  std::vector<std::string> ids = Register(*engine, kCount);
  ASSERT_TRUE(Eventually([&] { return AllRegistered(*engine, ids); }, seconds(60)))
      << Describe(*engine);

  // The key write: a Put of one of our records, same value, same lease.
  const std::string records = RecordKeyOf(kOwner, "");
  std::optional<WatchEvent> rewrite;
  Eventually(
      [&] {
        std::vector<WatchEvent> events = (*recorder)->events();
        for (const WatchEvent& e : events) {
          if (e.type != WatchEvent::Type::kPut || !absl::StartsWith(e.key, records)) {
            continue;
          }
          for (const WatchEvent& earlier : events) {
            if (earlier.key == e.key && earlier.mod_revision < e.mod_revision &&
                earlier.value == e.value && earlier.lease == e.lease) {
              rewrite = e;
              return true;
            }
          }
        }
        return false;
      },
      seconds(5), milliseconds(100));
  ASSERT_TRUE(rewrite.has_value()) << "no record was rewritten after the burst";

  // The lease write: one more LeaseGrant than registrations, at least one commit interval
  // (100 ms) after the Put, and its lease revoked.
  ASSERT_TRUE(Eventually([&] { return log.Of("LeaseGrant").size() == kCount + 1u; }, seconds(5)))
      << log.Of("LeaseGrant").size() << " grants";
  auto puts = log.Of("Put");
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_TRUE(puts[0].ok);
  auto grants = log.Of("LeaseGrant");
  auto settle_grant = grants.back();
  EXPECT_TRUE(settle_grant.ok);
  auto gap = std::chrono::duration_cast<milliseconds>(settle_grant.at - puts[0].at).count();
  std::printf("[figure] settle: throwaway lease granted %lld ms after the record rewrite\n",
              static_cast<long long>(gap));
  EXPECT_GE(gap, 100) << "the two settle writes must land in different etcd commits";
  ASSERT_TRUE(Eventually(
      [&] {
        auto leases = Leases(*client_);
        return leases.has_value() && leases->size() == static_cast<size_t>(kCount);
      },
      seconds(5)))
      << "the throwaway lease was not revoked";

  // Nothing else changed.
  EXPECT_EQ((*recorder)->CountDeletes(), 0);
  for (const auto& id : ids) {
    auto state = engine->Get(id);
    ASSERT_TRUE(state.has_value());
    auto record = GetKey(*client_, RecordKeyOf(kOwner, state->full_key));
    ASSERT_TRUE(record.has_value()) << id;
    EXPECT_EQ(record->lease(), state->lease_id) << id;
  }
  EXPECT_TRUE((*recorder)->status().ok()) << (*recorder)->status();
}

TEST_F(SettleTest, FewLeasesAreNotWorthASettle) {
  RequestLog log;
  EngineOptions options = ControllerOptions(*etcd_, kOwner);
  log.Attach(options);
  Engine* engine = NewStartedEngine(std::move(options));
  ASSERT_NE(engine, nullptr);
  std::vector<std::string> ids = Register(*engine, 20);
  ASSERT_TRUE(Eventually([&] { return AllRegistered(*engine, ids); }, seconds(20)))
      << Describe(*engine);
  std::this_thread::sleep_for(milliseconds(800));  // well past the 150 ms quiet period, twice
  EXPECT_EQ(log.Of("Put").size(), 0u);
  EXPECT_EQ(log.Of("LeaseGrant").size(), 20u);
}

}  // namespace
}  // namespace registrar::publisher::testing
