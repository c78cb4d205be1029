// Integration tests of the engine's recovery paths against a real etcd: etcd losing all its data
// under 1 000 registrations, a lease revoked behind the engine's back (the put on a vanished
// lease fails the whole Txn), and keys deleted by someone else (put back on the same lease).
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/publisher/records.h"
#include "tests/integration/publisher/engine_testing.h"

namespace registrar::publisher::testing {
namespace {

constexpr int64_t kTtl = 5;
constexpr char kOwner[] = "owner-r";

// The number of keys under `prefix`; -1 when the read failed.
int64_t CountPrefix(const EtcdInspector& inspector, const std::string& prefix) {
  auto kvs = inspector.Get(prefix);
  return kvs.ok() ? static_cast<int64_t>(kvs->size()) : -1;
}

int64_t Ms(Steady::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

using RecoveryTest = EngineIntegrationTest;

TEST_F(RecoveryTest, EtcdDataLossRegistersAllThousandAnewWithOneLeaseEach) {
  constexpr int kCount = 1000;
  Engine* engine = NewStartedEngine(ControllerOptions(*etcd_, kOwner));
  ASSERT_NE(engine, nullptr);
  std::vector<std::string> ids;
  auto started = Steady::now();
  for (int i = 1; i <= kCount; ++i) {
    // Half on key/<id>, half on key/<lease>.
    bool with_id = i % 2 == 0;
    Desired d = MakeDesired(absl::StrCat("dl-", i), with_id ? "dl.rpc" : "dl0.rpc", with_id ? i : 0,
                            absl::StrCat("10.1.", i / 256, ".", i % 256, ":80"), kTtl);
    ids.push_back(d.id);
    engine->Upsert(std::move(d));
  }
  engine->MarkComplete({});
  ASSERT_TRUE(WaitFor([&] { return AllRegistered(*engine, ids); }, seconds(60), milliseconds(50)));
  std::printf("[figure] cold start of %d registrations: %lld ms\n", kCount,
              static_cast<long long>(Ms(Steady::now() - started)));
  ASSERT_EQ(CountPrefix(*inspector_, "dl.rpc/") + CountPrefix(*inspector_, "dl0.rpc/"), kCount);

  std::set<int64_t> old_leases;
  for (const auto& id : ids) {
    old_leases.insert(engine->Get(id)->lease_id);
  }
  auto restarting = Steady::now();
  ASSERT_TRUE(etcd_->Restart(/*wipe_data=*/true).ok());
  auto restarted = Steady::now();
  std::printf("[figure] etcd wiped restart (kill to healthy): %lld ms\n",
              static_cast<long long>(Ms(restarted - restarting)));
  bool recovered = WaitFor(
      [&] {
        return CountPrefix(*inspector_, "dl.rpc/") == kCount / 2 &&
               CountPrefix(*inspector_, "dl0.rpc/") == kCount / 2 &&
               CountPrefix(*inspector_, RecordKeyOf(kOwner, "")) == kCount;
      },
      seconds(30), milliseconds(50));
  auto recovery_ms = Ms(Steady::now() - restarted);
  ASSERT_TRUE(recovered) << "after 30 s: " << CountPrefix(*inspector_, "dl.rpc/") << " + "
                         << CountPrefix(*inspector_, "dl0.rpc/") << " keys, "
                         << CountPrefix(*inspector_, RecordKeyOf(kOwner, "")) << " records";
  std::printf(
      "[figure] data-loss recovery of %d registrations (keys + records back): %lld ms after "
      "etcd was healthy, %lld ms after the restart began\n",
      kCount, static_cast<long long>(recovery_ms),
      static_cast<long long>(Ms(Steady::now() - restarting)));
  // etcd shows a batched Txn's keys a moment before the engine has handled its answer.
  EXPECT_TRUE(WaitFor([&] { return engine->stats().reregistrations >= kCount; }, seconds(5)))
      << engine->stats().reregistrations << " re-registrations counted";

  // Settle: exactly one lease per registration, every one of them the key's and record's lease.
  std::optional<std::vector<int64_t>> leases;
  EXPECT_TRUE(WaitFor(
      [&] {
        leases = Leases(*inspector_);
        return leases && leases->size() == static_cast<size_t>(kCount);
      },
      seconds(10), milliseconds(200)))
      << (leases ? leases->size() : 0) << " leases";
  ASSERT_TRUE(WaitFor([&] { return AllRegistered(*engine, ids); }, seconds(10)));
  std::this_thread::sleep_for(seconds(2));
  leases = Leases(*inspector_);
  ASSERT_TRUE(leases.has_value());
  EXPECT_EQ(leases->size(), static_cast<size_t>(kCount)) << "a registration holds two leases";

  std::map<std::string, int64_t> key_lease;
  for (const char* prefix : {"dl.rpc/", "dl0.rpc/"}) {
    for (const auto& kv : GetPrefix(*inspector_, prefix)) {
      key_lease[kv.key()] = kv.lease();
    }
  }
  for (const auto& kv : GetPrefix(*inspector_, RecordKeyOf(kOwner, ""))) {
    std::string full_key = kv.key().substr(RecordKeyOf(kOwner, "").size());
    EXPECT_EQ(key_lease[full_key], kv.lease()) << full_key;
  }
  int mismatched = 0;
  int old_kept = 0;
  for (const auto& id : ids) {
    auto s = engine->Get(id);
    mismatched += !s || key_lease[s->full_key] != s->lease_id || s->lease_id == 0;
    old_kept += s && old_leases.count(s->lease_id) > 0;
  }
  EXPECT_EQ(mismatched, 0);
  EXPECT_EQ(old_kept, 0) << "etcd lost every lease: each registration needs a new one";
}

TEST_F(RecoveryTest, RevokedLeaseIsRegisteredAnewQuickly) {
  Engine* engine = NewStartedEngine(ControllerOptions(*etcd_, kOwner));
  ASSERT_NE(engine, nullptr);
  Desired with_id = MakeDesired("rv", "rv.rpc", 1, "10.0.12.1:80", kTtl);
  Desired without_id = MakeDesired("rv0", "rv0.rpc", 0, "10.0.12.2:80", kTtl);
  engine->Upsert(with_id);
  engine->Upsert(without_id);
  engine->MarkComplete({});
  ASSERT_TRUE(WaitFor(
      [&] {
        return AllRegistered(*engine, {with_id.id, without_id.id});
      },
      seconds(5)))
      << Describe(*engine);

  for (const Desired& d : {with_id, without_id}) {
    SCOPED_TRACE(d.id);
    State before = *engine->Get(d.id);
    ASSERT_TRUE(etcd_->Etcdctl({"lease", "revoke", absl::StrCat(absl::Hex(before.lease_id))}).ok());
    auto revoked = Steady::now();
    std::optional<State> after;
    ASSERT_TRUE(WaitFor(
        [&] {
          after = engine->Get(d.id);
          if (!after || after->phase != Phase::kRegistered || after->lease_id == 0 ||
              after->lease_id == before.lease_id) {
            return false;
          }
          auto kv = GetKey(*inspector_, after->full_key);
          return kv && kv->lease() == after->lease_id && kv->value() == d.value;
        },
        seconds(3)))
        << "not registered anew within 3 s\n"
        << Describe(*engine);
    std::printf("[figure] %s: lease revoked externally -> registered anew: %lld ms\n", d.id.c_str(),
                static_cast<long long>(Ms(Steady::now() - revoked)));
    EXPECT_GE(after->reregistrations, 1);
    EXPECT_EQ(after->full_key, FullKey(d.key, d.key_id, after->lease_id));
    auto record = GetKey(*inspector_, RecordKeyOf(kOwner, after->full_key));
    ASSERT_TRUE(record.has_value());
    EXPECT_EQ(record->lease(), after->lease_id);
    EXPECT_EQ(LeaseTtl(*inspector_, before.lease_id), -1);
  }
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(Leases(*inspector_).value_or(std::vector<int64_t>{}).size(), 2u);
}

TEST_F(RecoveryTest, DeletedKeyIsPutBackWithinASecondOnTheSameLease) {
  Engine* engine = NewStartedEngine(ControllerOptions(*etcd_, kOwner));
  ASSERT_NE(engine, nullptr);
  Desired with_id = MakeDesired("del", "del.rpc", 1, "10.0.13.1:80", kTtl);
  Desired without_id = MakeDesired("del0", "del.rpc", 0, "10.0.13.2:80", kTtl);
  engine->Upsert(with_id);
  engine->Upsert(without_id);
  engine->MarkComplete({});
  ASSERT_TRUE(WaitFor(
      [&] {
        return AllRegistered(*engine, {with_id.id, without_id.id});
      },
      seconds(5)))
      << Describe(*engine);

  for (const Desired& d : {with_id, without_id}) {
    SCOPED_TRACE(d.id);
    State before = *engine->Get(d.id);
    etcd::pb::DeleteRangeRequest del;
    del.set_key(before.full_key);
    auto deleted = client_->DeleteRangeSync(std::move(del));
    ASSERT_TRUE(deleted.ok()) << deleted.status();
    ASSERT_EQ(deleted->deleted(), 1);
    auto at = Steady::now();
    ASSERT_TRUE(WaitFor(
        [&] {
          auto kv = GetKey(*inspector_, before.full_key);
          return kv && kv->lease() == before.lease_id && kv->value() == d.value;
        },
        seconds(1), milliseconds(5)))
        << "not put back within 1 s\n"
        << Describe(*engine);
    std::printf("[figure] %s: key deleted externally -> put back: %lld ms\n", d.id.c_str(),
                static_cast<long long>(Ms(Steady::now() - at)));
    EXPECT_TRUE(WaitFor([&] { return engine->Get(d.id)->key_reputs >= 1; }, seconds(1)));
    EXPECT_EQ(engine->Get(d.id)->lease_id, before.lease_id);
  }
  EXPECT_EQ(Leases(*inspector_).value_or(std::vector<int64_t>{}).size(), 2u);
}

}  // namespace
}  // namespace registrar::publisher::testing
