// Integration tests of the engine's settle writes against a real etcd (write_scheduler.h, rule
// 4): after a burst of key writes on a connection holding at least 1 000 leases, one record is
// rewritten with the same value and lease, then — in a later etcd commit — a throwaway lease is
// granted and revoked. Nothing else may change: no DELETE, no value change, no extra lease left.
// The settle writes help etcd 3.4 only (controller/etcd/server_version.h): by default the engine
// learns each connection's server version and sends them to 3.4 alone; SettleWrites::kOn forces
// them, so the mechanism is tested on every version of the etcd matrix.
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/publisher/write_scheduler.h"
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
    std::chrono::system_clock::time_point wall;  // `at` on the clock of State::last_renewal
  };
  absl::Mutex mu;
  std::vector<Entry> entries ABSL_GUARDED_BY(mu);

  void Attach(EngineOptions& options) {
    options.on_request = [this](const char* method, double, const absl::Status& status) {
      absl::MutexLock lock(&mu);
      entries.push_back(
          Entry{method, Steady::now(), status.ok(), std::chrono::system_clock::now()});
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
  // When the last request finished (wall clock); the epoch when there was none.
  std::chrono::system_clock::time_point LastWall() {
    absl::MutexLock lock(&mu);
    return entries.empty() ? std::chrono::system_clock::time_point{} : entries.back().wall;
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
  options.settle_writes = SettleWrites::kOn;  // whatever the server's version
  log.Attach(options);
  Engine* engine = NewStartedEngine(std::move(options));
  ASSERT_NE(engine, nullptr);
  std::vector<std::string> ids = Register(*engine, kCount);
  ASSERT_TRUE(WaitFor([&] { return AllRegistered(*engine, ids); }, seconds(60)))
      << Describe(*engine);

  // The key write: a Put of one of our records, same value, same lease.
  const std::string records = RecordKeyOf(kOwner, "");
  std::optional<WatchEvent> rewrite;
  ASSERT_TRUE(WaitFor(
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
      seconds(5), milliseconds(100)))
      << "no record was rewritten after the burst";

  // The lease write: one more LeaseGrant than registrations, at least one commit interval
  // (100 ms) after the Put, and its lease revoked.
  ASSERT_TRUE(WaitFor([&] { return log.Of("LeaseGrant").size() == kCount + 1u; }, seconds(5)))
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
  ASSERT_TRUE(WaitFor(
      [&] {
        auto leases = Leases(*inspector_);
        return leases.has_value() && leases->size() == static_cast<size_t>(kCount);
      },
      seconds(5)))
      << "the throwaway lease was not revoked";

  // Nothing else changed.
  EXPECT_EQ((*recorder)->CountDeletes(), 0);
  // One read of every record (one etcdctl call per record took a minute on a loaded machine).
  std::map<std::string, int64_t> record_leases;
  for (const etcd::pb::KeyValue& kv : GetPrefix(*inspector_, records)) {
    record_leases[kv.key()] = kv.lease();
  }
  for (const auto& id : ids) {
    auto state = engine->Get(id);
    ASSERT_TRUE(state.has_value());
    auto record = record_leases.find(RecordKeyOf(kOwner, state->full_key));
    ASSERT_NE(record, record_leases.end()) << id;
    EXPECT_EQ(record->second, state->lease_id) << id;
  }
  EXPECT_TRUE((*recorder)->status().ok()) << (*recorder)->status();
}

// The default (kAuto): the settle writes go to etcd 3.4 and to no later version.
TEST_F(SettleTest, OnlyEtcd34GetsTheSettleWrites) {
  constexpr int kCount = 1000;
  const bool want_settle = etcd_->version() == "3.4";
  RequestLog log;
  EngineOptions options = ControllerOptions(*etcd_, kOwner);
  log.Attach(options);
  Engine* engine = NewStartedEngine(std::move(options));
  ASSERT_NE(engine, nullptr);
  std::vector<std::string> ids = Register(*engine, kCount);
  ASSERT_TRUE(WaitFor([&] { return AllRegistered(*engine, ids); }, seconds(60)))
      << Describe(*engine);
  if (want_settle) {
    ASSERT_TRUE(WaitFor(
        [&] { return log.Of("Put").size() == 1u && log.Of("LeaseGrant").size() == kCount + 1u; },
        seconds(5)))
        << "etcd " << etcd_->version() << ": " << log.Of("Put").size() << " puts, "
        << log.Of("LeaseGrant").size() << " grants";
    return;
  }
  // As in FewLeasesAreNotWorthASettle: every lease renewed after both settle checks were due.
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto checked = log.LastWall() + 2 * WriteScheduler::kSettleAfter;
        for (const auto& id : ids) {
          auto state = engine->Get(id);
          if (!state || !state->last_renewal || *state->last_renewal < checked) {
            return false;
          }
        }
        return true;
      },
      seconds(30)))
      << "no keep-alive answered after the settle checks were due\n"
      << Describe(*engine);
  EXPECT_EQ(log.Of("Put").size(), 0u) << "etcd " << etcd_->version() << " got a settle write";
  EXPECT_EQ(log.Of("LeaseGrant").size(), static_cast<size_t>(kCount));
}

TEST_F(SettleTest, FewLeasesAreNotWorthASettle) {
  RequestLog log;
  EngineOptions options = ControllerOptions(*etcd_, kOwner);
  log.Attach(options);
  Engine* engine = NewStartedEngine(std::move(options));
  ASSERT_NE(engine, nullptr);
  std::vector<std::string> ids = Register(*engine, 20);
  ASSERT_TRUE(WaitFor([&] { return AllRegistered(*engine, ids); }, seconds(20)))
      << Describe(*engine);
  // The engine checks for a settle write kSettleAfter after the last write, and for the second
  // one kSettleAfter later. Wait for proof that it went past both: every lease renewed (its
  // keep-alive answered) after them. Only then is "no settle write" an observation.
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto checked = log.LastWall() + 2 * WriteScheduler::kSettleAfter;
        for (const auto& id : ids) {
          auto state = engine->Get(id);
          if (!state || !state->last_renewal || *state->last_renewal < checked) {
            return false;
          }
        }
        return true;
      },
      seconds(20)))
      << "no keep-alive answered after the settle checks were due\n"
      << Describe(*engine);
  EXPECT_EQ(log.Of("Put").size(), 0u);
  EXPECT_EQ(log.Of("LeaseGrant").size(), 20u);
}

}  // namespace
}  // namespace registrar::publisher::testing
