// Integration tests of the engine's ownership records, adoption after a SIGKILL, orphan
// collection and what Stop leaves behind (issue 3, DESIGN.md §2), against a real etcd.
#include <cstdio>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "nlohmann/json.hpp"
#include "tests/fixtures/etcd_watch_recorder.h"
#include "tests/integration/publisher/engine_testing.h"

namespace registrar::publisher::testing {
namespace {

using registrar::testing::EtcdctlTarget;
using registrar::testing::EtcdWatchRecorder;
using ::testing::UnorderedElementsAreArray;

constexpr int64_t kTtl = 5;

std::vector<std::string> IdsOf(const std::vector<Desired>& desired) {
  std::vector<std::string> ids;
  for (const auto& d : desired) {
    ids.push_back(d.id);
  }
  return ids;
}

// What etcd holds for one registration, found through its ownership record.
struct Held {
  std::string full_key;
  int64_t lease = 0;
};

// uid -> (full key, lease) for every record of `owner` whose key exists with the record's lease.
std::map<std::string, Held> HeldByUid(const EtcdInspector& inspector, const std::string& owner) {
  std::map<std::string, Held> out;
  std::string prefix = RecordKeyOf(owner, "");
  for (const auto& rec : GetPrefix(inspector, prefix)) {
    auto j = nlohmann::json::parse(rec.value(), nullptr, false);
    std::string full_key = rec.key().substr(prefix.size());
    auto key = GetKey(inspector, full_key);
    if (!j.is_object() || !j.contains("uid") || !key || key->lease() != rec.lease()) {
      continue;
    }
    out[j["uid"].get<std::string>()] = Held{full_key, rec.lease()};
  }
  return out;
}

using AdoptionTest = EngineIntegrationTest;

TEST_F(AdoptionTest, OwnershipRecordIsWrittenWithTheKeysLease) {
  EngineOptions options = ControllerOptions(*etcd_, "owner-1");
  Engine* engine = NewStartedEngine(options);
  ASSERT_NE(engine, nullptr);
  Desired with_id = MakeDesired("with-id", "user.rpc", 3, "10.0.0.1:8080", kTtl);
  Desired without_id = MakeDesired("no-id", "user.rpc", 0, "10.0.0.2:8080", kTtl);
  engine->Upsert(with_id);
  engine->Upsert(without_id);
  engine->MarkComplete({});
  ASSERT_TRUE(WaitFor(
      [&] {
        return AllRegistered(*engine, {with_id.id, without_id.id});
      },
      seconds(10)))
      << Describe(*engine);

  for (const Desired& d : {with_id, without_id}) {
    auto state = engine->Get(d.id);
    ASSERT_TRUE(state.has_value());
    std::string full_key = absl::StrCat("user.rpc/", d.key_id >= 1 ? d.key_id : state->lease_id);
    EXPECT_EQ(state->full_key, full_key);
    auto key = GetKey(*inspector_, full_key);
    ASSERT_TRUE(key.has_value()) << full_key;
    EXPECT_EQ(key->value(), d.value);
    EXPECT_EQ(key->lease(), state->lease_id);
    EXPECT_GT(LeaseTtl(*inspector_, state->lease_id), 0);

    std::string record_key = "/etcd-registrar/owners/owner-1/" + full_key;
    auto record = GetKey(*inspector_, record_key);
    ASSERT_TRUE(record.has_value()) << record_key;
    EXPECT_EQ(record->lease(), key->lease()) << "record and key must share the lease";
    // Written in the same Txn as the key.
    EXPECT_EQ(record->mod_revision(), key->mod_revision());
    auto j = nlohmann::json::parse(record->value(), nullptr, false);
    ASSERT_TRUE(j.is_object()) << record->value();
    EXPECT_EQ(j.value("uid", ""), d.uid);
    EXPECT_EQ(j.value("namespace", ""), "ns");
    EXPECT_EQ(j.value("name", ""), d.name);
    EXPECT_EQ(j.value("value", ""), d.value);
    EXPECT_EQ(j.value("ttl", int64_t{0}), kTtl);
    EXPECT_EQ(j.value("cluster", ""), kCluster);
  }
}

TEST_F(AdoptionTest, RestartedEngineAdoptsEveryLeaseWithoutADelete) {
  std::vector<Desired> desired;
  for (int i = 1; i <= 20; ++i) {
    // Half on key/<id>, half on key/<lease>.
    desired.push_back(MakeDesired(absl::StrCat("svc-", i), "adopt.rpc", i % 2 == 0 ? i : 0,
                                  absl::StrCat("10.0.1.", i, ":8080"), kTtl));
  }
  auto host = StartHost(*etcd_, "owner-a", desired, /*mark_complete=*/true, dir_);
  ASSERT_TRUE(host.ok()) << host.status();
  std::map<std::string, Held> before;
  ASSERT_TRUE(WaitFor(
      [&] {
        before = HeldByUid(*inspector_, "owner-a");
        return before.size() == desired.size();
      },
      seconds(15)))
      << "host A registered " << before.size() << " of 20\n"
      << (*host)->Describe();

  auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(*etcd_), "");
  ASSERT_TRUE(recorder.ok()) << recorder.status();
  (*host)->Kill();  // SIGKILL: no revoke, no goodbye

  auto started = Steady::now();
  Engine* engine = NewStartedEngine(ControllerOptions(*etcd_, "owner-a"));
  ASSERT_NE(engine, nullptr);
  for (const Desired& d : desired) {
    engine->Upsert(d);
  }
  engine->MarkComplete({});
  ASSERT_TRUE(WaitFor([&] { return AllRegistered(*engine, IdsOf(desired)); }, seconds(10)))
      << Describe(*engine);
  auto adoption_ms = std::chrono::duration_cast<milliseconds>(Steady::now() - started).count();
  std::printf("[figure] adoption of 20 registrations by a restarted engine: %lld ms\n",
              static_cast<long long>(adoption_ms));

  for (const Desired& d : desired) {
    auto state = engine->Get(d.id);
    ASSERT_TRUE(state.has_value());
    EXPECT_EQ(state->lease_id, before[d.uid].lease) << d.id << " was not adopted";
    EXPECT_EQ(state->full_key, before[d.uid].full_key) << d.id;
  }
  EXPECT_EQ(engine->stats().adopted, 20);
  EXPECT_EQ(engine->stats().reregistrations, 0);

  // Kept alive by the new engine: still there after three TTLs.
  std::this_thread::sleep_for(seconds(3 * kTtl));
  auto after = HeldByUid(*inspector_, "owner-a");
  EXPECT_EQ(after.size(), desired.size());
  for (const auto& [uid, held] : before) {
    EXPECT_EQ(after[uid].lease, held.lease) << uid;
    EXPECT_GT(LeaseTtl(*inspector_, held.lease), 0) << uid;
  }
  auto leases = Leases(*inspector_);
  ASSERT_TRUE(leases.has_value());
  EXPECT_EQ(leases->size(), desired.size()) << "no registration may hold a second lease";
  EXPECT_TRUE((*recorder)->status().ok()) << (*recorder)->status();
  EXPECT_EQ((*recorder)->CountDeletes(), 0) << "a restarted engine must cause no DELETE";
}

TEST_F(AdoptionTest, OrphanIsRevokedOnlyAfterMarkComplete) {
  std::vector<Desired> desired = {MakeDesired("orphan", "orph.rpc", 1, "10.0.2.1:80", kTtl),
                                  MakeDesired("keep-b", "orph.rpc", 2, "10.0.2.2:80", kTtl),
                                  MakeDesired("keep-c", "orph.rpc", 0, "10.0.2.3:80", kTtl)};
  auto host = StartHost(*etcd_, "owner-o", desired, /*mark_complete=*/true, dir_);
  ASSERT_TRUE(host.ok()) << host.status();
  std::map<std::string, Held> before;
  ASSERT_TRUE(WaitFor(
      [&] {
        before = HeldByUid(*inspector_, "owner-o");
        return before.size() == 3;
      },
      seconds(10)))
      << (*host)->Describe();
  (*host)->Kill();

  Engine* engine = NewStartedEngine(ControllerOptions(*etcd_, "owner-o"));
  ASSERT_NE(engine, nullptr);
  engine->Upsert(desired[1]);
  engine->Upsert(desired[2]);
  ASSERT_TRUE(WaitFor(
      [&] {
        return AllRegistered(*engine, {desired[1].id, desired[2].id});
      },
      seconds(10)))
      << Describe(*engine);

  // Longer than the TTL (so the new engine must be renewing it) and than a keep-alive period.
  std::this_thread::sleep_for(seconds(kTtl + 2));
  const Held orphan = before["uid-orphan"];
  auto key = GetKey(*inspector_, orphan.full_key);
  ASSERT_TRUE(key.has_value()) << "the orphan was dropped before the view was complete";
  EXPECT_EQ(key->lease(), orphan.lease);
  EXPECT_GT(LeaseTtl(*inspector_, orphan.lease), 0);
  EXPECT_EQ(engine->stats().orphans_revoked, 0);

  engine->MarkComplete({});
  ASSERT_TRUE(WaitFor([&] { return LeaseTtl(*inspector_, orphan.lease) == -1; }, seconds(3)))
      << "orphan lease " << orphan.lease << " not revoked after MarkComplete";
  EXPECT_FALSE(GetKey(*inspector_, orphan.full_key).has_value());
  EXPECT_FALSE(GetKey(*inspector_, RecordKeyOf("owner-o", orphan.full_key)).has_value());
  EXPECT_TRUE(WaitFor([&] { return engine->stats().orphans_revoked == 1; }, seconds(2)));
  for (const char* uid : {"uid-keep-b", "uid-keep-c"}) {
    auto kept = GetKey(*inspector_, before[uid].full_key);
    ASSERT_TRUE(kept.has_value()) << uid;
    EXPECT_EQ(kept->lease(), before[uid].lease) << uid;
  }
}

TEST_F(AdoptionTest, PublishModeStopWithRevokeLeavesNoLease) {
  EngineOptions options;
  options.default_target = etcd_->client_options();
  options.ownership_records = false;
  Engine* engine = NewStartedEngine(options);
  ASSERT_NE(engine, nullptr);
  std::vector<Desired> desired;
  for (int i = 1; i <= 5; ++i) {
    desired.push_back(MakeDesired(absl::StrCat("pub-", i), "pub.rpc", i <= 3 ? i : 0,
                                  absl::StrCat("10.0.3.", i, ":80"), kTtl));
    engine->Upsert(desired.back());
  }
  ASSERT_TRUE(WaitFor([&] { return AllRegistered(*engine, IdsOf(desired)); }, seconds(10)))
      << Describe(*engine);
  EXPECT_EQ(GetPrefix(*inspector_, "pub.rpc/").size(), 5u);
  EXPECT_TRUE(GetPrefix(*inspector_, kOwnerPrefix).empty()) << "publish mode writes no records";
  auto leases = Leases(*inspector_);
  ASSERT_TRUE(leases.has_value());
  EXPECT_EQ(leases->size(), 5u);

  engine->Stop(/*revoke=*/true);
  leases = Leases(*inspector_);
  ASSERT_TRUE(leases.has_value());
  EXPECT_TRUE(leases->empty()) << leases->size() << " lease(s) left after Stop(revoke=true)";
  EXPECT_TRUE(GetPrefix(*inspector_, "pub.rpc/").empty());
}

TEST_F(AdoptionTest, ControllerStopKeepsLeasesForTheNextEngine) {
  Engine* first = NewStartedEngine(ControllerOptions(*etcd_, "owner-s"));
  ASSERT_NE(first, nullptr);
  std::vector<Desired> desired;
  for (int i = 1; i <= 5; ++i) {
    desired.push_back(MakeDesired(absl::StrCat("ctl-", i), "ctl.rpc", i <= 3 ? i : 0,
                                  absl::StrCat("10.0.4.", i, ":80"), kTtl));
    first->Upsert(desired.back());
  }
  first->MarkComplete({});
  ASSERT_TRUE(WaitFor([&] { return AllRegistered(*first, IdsOf(desired)); }, seconds(10)))
      << Describe(*first);
  std::vector<int64_t> held;
  for (const auto& d : desired) {
    held.push_back(first->Get(d.id)->lease_id);
  }

  first->Stop(/*revoke=*/false);
  std::this_thread::sleep_for(seconds(1));
  auto leases = Leases(*inspector_);
  ASSERT_TRUE(leases.has_value());
  EXPECT_THAT(*leases, UnorderedElementsAreArray(held));
  for (int64_t lease : held) {
    EXPECT_GT(LeaseTtl(*inspector_, lease), 0) << lease;
  }
  EXPECT_EQ(GetPrefix(*inspector_, "ctl.rpc/").size(), 5u);

  Engine* second = NewStartedEngine(ControllerOptions(*etcd_, "owner-s"));
  ASSERT_NE(second, nullptr);
  for (const auto& d : desired) {
    second->Upsert(d);
  }
  second->MarkComplete({});
  ASSERT_TRUE(WaitFor([&] { return AllRegistered(*second, IdsOf(desired)); }, seconds(10)))
      << Describe(*second);
  for (size_t i = 0; i < desired.size(); ++i) {
    EXPECT_EQ(second->Get(desired[i].id)->lease_id, held[i]) << desired[i].id;
  }
  EXPECT_EQ(second->stats().adopted, 5);
}

}  // namespace
}  // namespace registrar::publisher::testing
