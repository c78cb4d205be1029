// Black-box tests of `etcd-registrar publish`: registration, keep-alive and recovery from etcd
// faults, against a real etcd (issue 2, DESIGN.md §2). Security and CLI errors are in
// publish_access_test.cc.
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/fixtures/etcd_watch_recorder.h"
#include "tests/fixtures/tcp_proxy.h"
#include "tests/integration/publish/publish_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace registrar::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr auto kRegisterTimeout = seconds(10);

bool IsDelete(const WatchEvent& e) { return e.type == WatchEvent::Type::kDelete; }

class PublishTest : public PublishHarness {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartEtcd()); }

  // Starts publish for `key`=`value` against etcd (or `endpoints`) and waits for its key.
  std::unique_ptr<ChildProcess> Register(const std::string& key, const std::string& value,
                                         StoredKv* registered,
                                         const std::vector<std::string>& extra = {},
                                         const std::string& endpoints = "") {
    auto publish = StartPublish(
        PublishArgs(endpoints.empty() ? etcd().endpoint() : endpoints, key, value, extra));
    if (publish == nullptr) {
      return nullptr;
    }
    const TimePoint start = Now();
    absl::StatusOr<StoredKv> kv = WaitForKey(key + "/", kRegisterTimeout);
    EXPECT_THAT(kv, IsOk()) << publish->Describe();
    if (!kv.ok()) {
      return nullptr;
    }
    ReportMeasurement("first registration", SecondsSince(start));
    *registered = *kv;
    return publish;
  }

  // Asserts that `before` is still the registration: same key, value, lease and create revision
  // (a delete and re-put would change the create revision), and that its lease is alive.
  void ExpectUnchanged(const StoredKv& before, const std::string& prefix) {
    absl::StatusOr<std::vector<StoredKv>> kvs = GetAll(prefix);
    ASSERT_THAT(kvs, IsOk());
    ASSERT_EQ(kvs->size(), 1u);
    EXPECT_EQ(kvs->front().key, before.key);
    EXPECT_EQ(kvs->front().value, before.value);
    EXPECT_EQ(kvs->front().lease, before.lease) << "the lease ID must stay the same";
    EXPECT_EQ(kvs->front().create_revision, before.create_revision)
        << "the key was deleted and written again";
    absl::StatusOr<LeaseInfo> ttl = TimeToLive(before.lease);
    ASSERT_THAT(ttl, IsOk());
    EXPECT_GT(ttl->ttl, 0);
  }

  void ExpectOnlyLease(int64_t lease) {
    absl::StatusOr<std::vector<int64_t>> leases = Leases();
    ASSERT_THAT(leases, IsOk());
    EXPECT_THAT(*leases, ElementsAre(lease)) << "exactly the registration's lease must be alive";
  }
};

// 1. Byte-exact key `K/<leaseID decimal>` and value, nothing else in etcd, granted TTL.
TEST_F(PublishTest, WritesByteExactKeyAndValueWithTheGrantedLeaseAndNothingElse) {
  struct Case {
    std::string key;
    std::string value;
  };
  const std::vector<Case> cases = {
      {"user.rpc", "10.0.0.12:8081"},
      // No control characters: publish validates a value as the controller does.
      {"/services/order.rpc", "héllo wörld ✓ \"quoted\" 'single' $HOME;\\ end ✓"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    StoredKv kv;
    auto publish = Register(c.key, c.value, &kv);
    ASSERT_NE(publish, nullptr);
    EXPECT_GT(kv.lease, 0);
    EXPECT_EQ(kv.key, c.key + "/" + std::to_string(kv.lease));
    EXPECT_EQ(kv.value, c.value);

    absl::StatusOr<std::vector<StoredKv>> all = GetAll();
    ASSERT_THAT(all, IsOk());
    EXPECT_EQ(all->size(), 1u) << "publish writes its key and nothing else (no ownership record)";
    absl::StatusOr<LeaseInfo> ttl = TimeToLive(kv.lease);
    ASSERT_THAT(ttl, IsOk());
    EXPECT_EQ(ttl->granted_ttl, kTtl);
    EXPECT_GT(ttl->ttl, 0);
    EXPECT_LE(ttl->ttl, kTtl);
    ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(kv.lease));

    // Each state change is logged on one line naming the full key.
    auto line = publish->WaitForOutput(kv.key, seconds(2));
    ASSERT_THAT(line, IsOk());
    EXPECT_THAT(absl::AsciiStrToLower(*line), HasSubstr("registered"));

    ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "after registration"));
  }
}

// 2. Kept alive: still the same registration after 3 x TTL, no DELETE seen.
TEST_F(PublishTest, StaysAliveForThreeTtlsWithTheSameLease) {
  StoredKv kv;
  auto publish = Register("alive.rpc", "10.0.0.1:80", &kv);
  ASSERT_NE(publish, nullptr);
  auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(etcd()), "alive.rpc/");
  ASSERT_THAT(recorder, IsOk());

  const TimePoint start = Now();
  while (SecondsSince(start) < 3 * kTtl + 1) {
    ASSERT_NO_FATAL_FAILURE(ExpectUnchanged(kv, "alive.rpc/"));
    ASSERT_TRUE(publish->Running()) << publish->Describe();
    std::this_thread::sleep_for(seconds(1));
  }
  EXPECT_EQ((*recorder)->CountDeletes(), 0);
  EXPECT_THAT((*recorder)->status(), IsOk());
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(kv.lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "after 3 TTLs"));
}

// 3. id mode: key `K/42`; a lost lease is replaced and the same key written again.
TEST_F(PublishTest, IdModeKeepsTheKeyAcrossALostLease) {
  StoredKv kv;
  auto publish = Register("id.rpc", "10.0.0.42:9000", &kv, {"--id", "42"});
  ASSERT_NE(publish, nullptr);
  EXPECT_EQ(kv.key, "id.rpc/42");
  EXPECT_EQ(kv.value, "10.0.0.42:9000");
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(kv.lease));

  const TimePoint revoked = Now();
  ASSERT_THAT(etcd().Etcdctl({"lease", "revoke", LeaseHex(kv.lease)}), IsOk());
  absl::StatusOr<StoredKv> again = WaitForKey(
      "id.rpc/", seconds(2 * kTtl), [&](const StoredKv& k) { return k.lease != kv.lease; });
  ASSERT_THAT(again, IsOk()) << publish->Describe();
  ReportMeasurement("re-registration after the lease was revoked (id mode)", SecondsSince(revoked));
  EXPECT_EQ(again->key, "id.rpc/42");
  EXPECT_EQ(again->value, "10.0.0.42:9000");
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(again->lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "id mode"));
}

// 3b. Without id a lost lease means a new lease and a new key; the old key is gone.
TEST_F(PublishTest, LostLeaseRegistersANewKeyUnderANewLease) {
  StoredKv kv;
  auto publish = Register("lost.rpc", "10.0.0.7:7", &kv);
  ASSERT_NE(publish, nullptr);

  const TimePoint revoked = Now();
  ASSERT_THAT(etcd().Etcdctl({"lease", "revoke", LeaseHex(kv.lease)}), IsOk());
  absl::StatusOr<StoredKv> again = WaitForKey(
      "lost.rpc/", seconds(2 * kTtl), [&](const StoredKv& k) { return k.lease != kv.lease; });
  ASSERT_THAT(again, IsOk()) << publish->Describe();
  ReportMeasurement("re-registration after the lease was revoked", SecondsSince(revoked));
  EXPECT_EQ(again->key, "lost.rpc/" + std::to_string(again->lease));
  EXPECT_EQ(again->value, "10.0.0.7:7");
  absl::StatusOr<std::vector<StoredKv>> all = GetAll();
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->size(), 1u);
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(again->lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "after lease loss"));
}

// 4. etcd paused (SIGSTOP) for less than the TTL: nothing is lost, the lease stays.
TEST_F(PublishTest, EtcdPauseShorterThanTtlKeepsTheLease) {
  StoredKv kv;
  auto publish = Register("pause.rpc", "10.0.0.4:4", &kv);
  ASSERT_NE(publish, nullptr);
  auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(etcd()), "pause.rpc/");
  ASSERT_THAT(recorder, IsOk());

  etcd().Pause();
  std::this_thread::sleep_for(seconds(2));
  etcd().Resume();
  // Watch for a late expiry for longer than a TTL.
  EXPECT_FALSE((*recorder)->WaitFor(IsDelete, seconds(kTtl + 1)).has_value())
      << "the key was deleted after a 2 s pause of etcd; " << publish->Describe();
  ASSERT_NO_FATAL_FAILURE(ExpectUnchanged(kv, "pause.rpc/"));
  EXPECT_THAT((*recorder)->status(), IsOk());
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(kv.lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "after etcd pause"));
}

// 5. The network to etcd silently cut for less than the TTL: nothing is lost, the lease stays.
TEST_F(PublishTest, ProxyCutShorterThanTtlKeepsTheLease) {
  auto proxy = TcpProxy::Start(etcd().endpoint());
  ASSERT_THAT(proxy, IsOk());
  StoredKv kv;
  auto publish = Register("cut.rpc", "10.0.0.5:5", &kv, {}, (*proxy)->endpoint());
  ASSERT_NE(publish, nullptr);
  EXPECT_GE((*proxy)->accepted_connections(), 1) << "publish must connect through the proxy";
  auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(etcd()), "cut.rpc/");
  ASSERT_THAT(recorder, IsOk());

  (*proxy)->Cut();
  std::this_thread::sleep_for(seconds(2));
  (*proxy)->Restore();
  const int64_t bytes_after_restore = (*proxy)->forwarded_bytes();
  EXPECT_FALSE((*recorder)->WaitFor(IsDelete, seconds(kTtl + 1)).has_value())
      << "the key was deleted after a 2 s network cut; " << publish->Describe();
  ASSERT_NO_FATAL_FAILURE(ExpectUnchanged(kv, "cut.rpc/"));
  EXPECT_GT((*proxy)->forwarded_bytes(), bytes_after_restore)
      << "keep-alives must flow through the proxy again";
  EXPECT_THAT((*recorder)->status(), IsOk());
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(kv.lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "after a short cut"));
}

// 6. Cut longer than the TTL: the key expires, and is back within 2 s of the network returning,
// under a new lease, with only that lease alive.
TEST_F(PublishTest, ProxyCutLongerThanTtlRegistersAnewWithinTwoSecondsOfRestore) {
  auto proxy = TcpProxy::Start(etcd().endpoint());
  ASSERT_THAT(proxy, IsOk());
  StoredKv kv;
  auto publish = Register("longcut.rpc", "10.0.0.6:6", &kv, {}, (*proxy)->endpoint());
  ASSERT_NE(publish, nullptr);
  auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(etcd()), "longcut.rpc/");
  ASSERT_THAT(recorder, IsOk());

  const TimePoint cut = Now();
  (*proxy)->Cut();
  auto deleted = (*recorder)->WaitFor(IsDelete, seconds(kTtl + 3));
  ASSERT_TRUE(deleted.has_value()) << "the lease did not expire during a cut longer than the TTL";
  EXPECT_EQ(deleted->key, kv.key);
  ReportMeasurement("key expiry after the network cut", SecondsSince(cut));
  std::this_thread::sleep_for(milliseconds(500));

  const TimePoint restored = Now();
  (*proxy)->Restore();
  absl::StatusOr<StoredKv> again = WaitForKey(
      "longcut.rpc/", seconds(10), [&](const StoredKv& k) { return k.lease != kv.lease; });
  ASSERT_THAT(again, IsOk()) << publish->Describe();
  const double recovery = SecondsSince(restored);
  ReportMeasurement("recovery after a cut longer than the TTL", recovery);
  EXPECT_LE(recovery, 2.0 + kToleranceSeconds);
  EXPECT_EQ(again->key, "longcut.rpc/" + std::to_string(again->lease));
  EXPECT_EQ(again->value, "10.0.0.6:6");
  absl::StatusOr<std::vector<int64_t>> leases_now = Leases();
  ASSERT_THAT(leases_now, IsOk());
  std::cout << "[measure] leases alive right after recovery: " << leases_now->size() << std::endl;

  // A lease granted for nothing would still expire by itself; one kept alive would not.
  std::this_thread::sleep_for(seconds(kTtl + 1));
  ASSERT_NO_FATAL_FAILURE(ExpectUnchanged(*again, "longcut.rpc/"));
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(again->lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "after a long cut"));
}

// 7. etcd SIGKILLed and started again on the same data, down longer than the TTL: the
// registration is live within 2 s and kept alive from then on.
TEST_F(PublishTest, EtcdKilledAndRestartedIsLiveAgainWithinTwoSeconds) {
  StoredKv kv;
  auto publish = Register("restart.rpc", "10.0.0.8:8", &kv);
  ASSERT_NE(publish, nullptr);

  etcd().Kill();
  std::this_thread::sleep_for(seconds(kTtl + 1));
  ASSERT_THAT(etcd().StartAgain(), IsOk());
  const TimePoint healthy = Now();
  absl::StatusOr<StoredKv> live = WaitForKey("restart.rpc/", seconds(10));
  ASSERT_THAT(live, IsOk()) << publish->Describe();
  const double recovery = SecondsSince(healthy);
  ReportMeasurement("registration live after etcd SIGKILL + restart", recovery);
  EXPECT_LE(recovery, 2.0 + kToleranceSeconds);
  std::cout << "[measure] lease kept across the restart: "
            << (live->lease == kv.lease ? "yes" : "no") << std::endl;

  // etcd gives restored leases a fresh TTL when it starts; the key outliving that TTL proves
  // publish renews it on the restarted etcd.
  const TimePoint until = healthy + seconds(kTtl + 2);
  while (Now() < until) {
    ASSERT_NO_FATAL_FAILURE(ExpectUnchanged(*live, "restart.rpc/"));
    std::this_thread::sleep_for(milliseconds(500));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(live->lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "after etcd restart"));
}

// 8. etcd restarted with an empty data dir (it lost everything): registered anew within 2 s.
TEST_F(PublishTest, EtcdRestartedWithWipedDataIsRegisteredAgainWithinTwoSeconds) {
  StoredKv kv;
  auto publish = Register("wiped.rpc", "10.0.0.9:9", &kv);
  ASSERT_NE(publish, nullptr);

  const TimePoint restart_began = Now();
  ASSERT_THAT(etcd().Restart(/*wipe_data=*/true), IsOk());
  const TimePoint healthy = Now();
  ReportMeasurement("etcd wiped restart until healthy (fixture)", SecondsSince(restart_began));
  absl::StatusOr<StoredKv> again = WaitForKey("wiped.rpc/", seconds(10));
  ASSERT_THAT(again, IsOk()) << publish->Describe();
  const double recovery = SecondsSince(healthy);
  ReportMeasurement("recovery after wiped restart", recovery);
  ReportMeasurement("registered again, counted from the start of the restart",
                    SecondsSince(restart_began));
  EXPECT_LE(recovery, 2.0 + kToleranceSeconds);
  EXPECT_EQ(again->key, "wiped.rpc/" + std::to_string(again->lease));
  EXPECT_EQ(again->value, "10.0.0.9:9");
  absl::StatusOr<std::vector<StoredKv>> all = GetAll();
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->size(), 1u);

  std::this_thread::sleep_for(seconds(kTtl + 1));
  ASSERT_NO_FATAL_FAILURE(ExpectUnchanged(*again, "wiped.rpc/"));
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(again->lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "after wiped restart"));
}

// 5b. Every connection to etcd reset (RST): a broken stream alone is not a lost lease.
TEST_F(PublishTest, ConnectionResetKeepsTheLease) {
  auto proxy = TcpProxy::Start(etcd().endpoint());
  ASSERT_THAT(proxy, IsOk());
  StoredKv kv;
  auto publish = Register("reset.rpc", "10.0.0.13:13", &kv, {}, (*proxy)->endpoint());
  ASSERT_NE(publish, nullptr);
  auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(etcd()), "reset.rpc/");
  ASSERT_THAT(recorder, IsOk());

  const int64_t accepted_before = (*proxy)->accepted_connections();
  (*proxy)->DropAll();
  EXPECT_FALSE((*recorder)->WaitFor(IsDelete, seconds(kTtl + 1)).has_value())
      << publish->Describe();
  EXPECT_GT((*proxy)->accepted_connections(), accepted_before) << "publish must reconnect";
  ASSERT_NO_FATAL_FAILURE(ExpectUnchanged(kv, "reset.rpc/"));
  EXPECT_THAT((*recorder)->status(), IsOk());
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(kv.lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "after connection reset"));
}

// 7b. publish started while etcd is down: registered within 2 s of etcd coming up.
TEST_F(PublishTest, StartedWhileEtcdIsDownRegistersWithinTwoSecondsOfEtcdComingUp) {
  etcd().Kill();
  auto publish = StartPublish(PublishArgs(etcd().endpoint(), "early.rpc", "10.0.0.14:14"));
  ASSERT_NE(publish, nullptr);
  // The engine reports its registration as waiting for etcd, then keeps trying: one failed
  // grant per attempt (each logs "grant not answered"), with a backoff of 100 ms doubling to
  // 1 s. The 6th attempt comes after a full 1 s wait, so etcd comes up against a capped backoff.
  ASSERT_THAT(publish->WaitForOutput("(EtcdUnavailable)", seconds(10)), IsOk())
      << "publish did not report etcd as unavailable";
  auto failed_grants = [&] {
    const std::string output = publish->Output() + publish->Stderr();
    int count = 0;
    for (size_t at = output.find("grant not answered"); at != std::string::npos;
         at = output.find("grant not answered", at + 1)) {
      ++count;
    }
    return count;
  };
  ASSERT_TRUE(WaitFor([&] { return failed_grants() >= 6 || !publish->Running(); }, seconds(15)))
      << failed_grants() << " failed grants; " << publish->Describe();
  ASSERT_TRUE(publish->Running()) << "publish must wait for etcd, not give up; "
                                  << publish->Describe();
  ASSERT_THAT(etcd().StartAgain(), IsOk());
  const TimePoint healthy = Now();
  absl::StatusOr<StoredKv> kv = WaitForKey("early.rpc/", seconds(10));
  ASSERT_THAT(kv, IsOk()) << publish->Describe();
  const double recovery = SecondsSince(healthy);
  ReportMeasurement("registration after etcd came up (publish started first)", recovery);
  EXPECT_LE(recovery, 2.0 + kToleranceSeconds);
  EXPECT_EQ(kv->key, "early.rpc/" + std::to_string(kv->lease));
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(kv->lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "started before etcd"));
}

// 9. Someone deletes the key: it is put back with the same lease within 1 s (twice).
TEST_F(PublishTest, ExternallyDeletedKeyIsPutBackWithTheSameLeaseWithinOneSecond) {
  StoredKv kv;
  auto publish = Register("deleted.rpc", "10.0.0.10:10", &kv);
  ASSERT_NE(publish, nullptr);
  auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(etcd()), "deleted.rpc/");
  ASSERT_THAT(recorder, IsOk());

  for (int round = 1; round <= 2; ++round) {
    SCOPED_TRACE(round);
    const TimePoint start = Now();
    ASSERT_THAT(etcd().Etcdctl({"del", kv.key}), IsOk());
    auto put_back = (*recorder)->WaitFor(
        [&](const WatchEvent& e) {
          return e.type == WatchEvent::Type::kPut && e.key == kv.key && e.seen_at > start;
        },
        seconds(5));
    ASSERT_TRUE(put_back.has_value()) << publish->Describe();
    const double recovery = std::chrono::duration<double>(put_back->seen_at - start).count();
    ReportMeasurement("external delete put back", recovery);
    EXPECT_LE(recovery, 1.0 + kToleranceSeconds);
    EXPECT_EQ(put_back->lease, kv.lease) << "put back with the same lease";
    EXPECT_EQ(put_back->value, kv.value);
    EXPECT_EQ((*recorder)->CountDeletes(), round);
  }
  absl::StatusOr<StoredKv> now = WaitForKey("deleted.rpc/", seconds(1));
  ASSERT_THAT(now, IsOk());
  EXPECT_EQ(now->key, kv.key);
  EXPECT_EQ(now->lease, kv.lease);
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyLease(kv.lease));
  ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, SIGTERM, "after external deletes"));
}

// 10. SIGTERM and SIGINT revoke: exit 0, key gone at once, no lease left.
TEST_F(PublishTest, SigtermAndSigintRevokeAndExitZero) {
  for (int sig : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(sig);
    StoredKv kv;
    auto publish = Register("stop.rpc", "10.0.0.11:11", &kv);
    ASSERT_NE(publish, nullptr);
    auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(etcd()), "stop.rpc/");
    ASSERT_THAT(recorder, IsOk());
    ASSERT_NO_FATAL_FAILURE(StopGracefully(*publish, sig, sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    auto deleted = (*recorder)->WaitFor(IsDelete, seconds(2));
    ASSERT_TRUE(deleted.has_value());
    EXPECT_EQ(deleted->key, kv.key);
  }
}

// 11. SIGKILL: nothing revokes, the key stays until its lease expires (about one TTL).
TEST_F(PublishTest, SigkillLeavesTheKeyToExpireWithItsLease) {
  StoredKv kv;
  auto publish = Register("killed.rpc", "10.0.0.12:12", &kv);
  ASSERT_NE(publish, nullptr);

  const TimePoint killed = Now();
  publish->Kill();
  ASSERT_NO_FATAL_FAILURE(ExpectUnchanged(kv, "killed.rpc/"));
  ASSERT_THAT(WaitForNoKey("killed.rpc/", seconds(kTtl + 3)), IsOk());
  const double expiry = SecondsSince(killed);
  ReportMeasurement("key expiry after SIGKILL of publish", expiry);
  // Renewed every TTL/3, so at least 2/3 of the TTL was left; etcd expires leases within ~1 s.
  EXPECT_GE(expiry, kTtl * 2.0 / 3.0 - 0.5);
  EXPECT_LE(expiry, kTtl + 1.5);
  absl::StatusOr<std::vector<int64_t>> leases = Leases();
  ASSERT_THAT(leases, IsOk());
  EXPECT_THAT(*leases, ::testing::IsEmpty());
}

}  // namespace
}  // namespace registrar::testing
