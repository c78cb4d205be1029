// Integration tests of the revoke debt against a real etcd behind a TCP fault proxy: nothing
// relies on a lease expiring. A revoke that cannot be done while etcd is cut off (removal, pause,
// orphan) is retried the moment etcd answers again; a removal is let go after one TTL; a
// restarted engine finds an owed revoke as an orphan; Unclaimed() lists what adoption found.
//
// Expiry cannot make these pass: the registrations use TTL 30, renewed every 10 s until the cut,
// so their leases cannot expire before 20 s after it, and every deletion is asserted well before
// that (kNotByExpiry after the cut); the backoff test uses TTL 60. Only the let-go case uses a
// short TTL (5 s): it asserts when the registration is let go, and that the debt is then paid.
#include "controller/publisher/revoke_debt.h"

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/fixtures/tcp_proxy.h"
#include "tests/integration/publisher/engine_testing.h"

namespace registrar::publisher::testing {
namespace {

using registrar::testing::TcpProxy;

constexpr int64_t kLongTtl = 30;
// The earliest a TTL-30 lease renewed every 10 s can expire after the cut is 20 s; deletions are
// asserted before this.
constexpr auto kNotByExpiry = seconds(17);

int64_t Ms(Steady::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

class RevokeDebtTest : public EngineIntegrationTest {
 protected:
  void SetUp() override {
    EngineIntegrationTest::SetUp();
    auto proxy = TcpProxy::Start(etcd_->endpoint());
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);
  }
  void TearDown() override {
    EngineIntegrationTest::TearDown();
    proxy_.reset();
  }

  // Controller options through the proxy; a short request deadline so a cut shows quickly.
  EngineOptions Proxied(const std::string& owner) {
    EngineOptions o = ControllerOptions(*etcd_, owner);
    o.default_target.endpoints = {proxy_->endpoint()};
    o.default_target.request_timeout = milliseconds(2000);
    return o;
  }

  // Upserts `d`, marks the listing complete and waits until it is Registered.
  void Register(Engine& engine, const Desired& d) {
    engine.Upsert(d);
    engine.MarkComplete({d.id});
    ASSERT_TRUE(WaitFor([&] { return AllRegistered(engine, {d.id}); }, seconds(15)))
        << Describe(engine);
  }

  bool KeyPresent(const std::string& full_key) { return GetKey(*inspector_, full_key).has_value(); }

  // Every LeaseRevoke the engine made, through EngineOptions::on_request.
  struct RevokeAttempt {
    Steady::time_point started;
    Steady::time_point answered;
    bool ok = false;
  };
  void RecordRevokes(EngineOptions& o) {
    o.on_request = [this](const char* method, double seconds, const absl::Status& status) {
      if (std::string_view(method) != "LeaseRevoke") {
        return;
      }
      auto now = Steady::now();
      auto took =
          std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(seconds));
      absl::MutexLock lock(&revokes_mu_);
      revokes_.push_back({now - took, now, status.ok()});
    };
  }
  std::vector<RevokeAttempt> revokes() {
    absl::MutexLock lock(&revokes_mu_);
    return revokes_;
  }
  int FailedRevokes() {
    int n = 0;
    for (const auto& a : revokes()) {
      n += a.ok ? 0 : 1;
    }
    return n;
  }

  std::unique_ptr<TcpProxy> proxy_;
  absl::Mutex revokes_mu_;
  std::vector<RevokeAttempt> revokes_ ABSL_GUARDED_BY(revokes_mu_);
};

TEST_F(RevokeDebtTest, RemovalWhileEtcdIsCutOffIsRevokedOnReconnectNotByExpiry) {
  Engine* engine = NewStartedEngine(Proxied("owner-rm"));
  ASSERT_NE(engine, nullptr);
  Desired d = MakeDesired("rm", "rm.rpc", 1, "10.0.30.1:80", kLongTtl);
  Register(*engine, d);
  const State before = *engine->Get(d.id);

  proxy_->Cut();
  const auto cut = Steady::now();
  engine->Remove(d.id);
  ASSERT_TRUE(WaitFor([&] { return engine->stats().pending_revokes == 1; }, seconds(10)))
      << Describe(*engine);
  auto s = engine->Get(d.id);
  ASSERT_TRUE(s.has_value()) << "let go before one TTL";
  EXPECT_EQ(s->phase, Phase::kTerminating);
  EXPECT_EQ(s->cause, Cause::kRevoking);
  ASSERT_TRUE(KeyPresent(before.full_key)) << "nothing could reach etcd";
  ASSERT_GT(LeaseTtl(*inspector_, before.lease_id), 0);

  proxy_->Restore();
  const auto restored = Steady::now();
  ASSERT_TRUE(WaitFor([&] { return !KeyPresent(before.full_key); }, cut + kNotByExpiry - restored,
                      milliseconds(50)))
      << "not revoked within " << Ms(kNotByExpiry) << " ms of the cut\n"
      << Describe(*engine);
  std::printf("[figure] owed revoke of a removal paid %lld ms after etcd came back\n",
              static_cast<long long>(Ms(Steady::now() - restored)));
  EXPECT_EQ(LeaseTtl(*inspector_, before.lease_id), -1) << "the lease is revoked, not expiring";
  EXPECT_FALSE(KeyPresent(RecordKeyOf("owner-rm", before.full_key)));
  EXPECT_TRUE(WaitFor([&] { return engine->stats().pending_revokes == 0; }, seconds(5)));
  EXPECT_TRUE(WaitFor([&] { return !engine->Get(d.id).has_value(); }, seconds(5)))
      << Describe(*engine);
}

// The retry that pays the debt is the reconnect's, not the next backoff: after four failures the
// next backoff attempt is 8 s away, and the paying revoke starts well before that.
TEST_F(RevokeDebtTest, OwedRevokeIsRetriedWhenEtcdAnswersAgainNotAtItsNextBackoff) {
  constexpr int64_t kTtl = 60;  // cannot expire within this test
  EngineOptions options = Proxied("owner-again");
  RecordRevokes(options);
  Engine* engine = NewStartedEngine(std::move(options));
  ASSERT_NE(engine, nullptr);
  Desired d = MakeDesired("again", "again.rpc", 1, "10.0.30.6:80", kTtl);
  Register(*engine, d);
  const State before = *engine->Get(d.id);

  proxy_->Cut();
  engine->Remove(d.id);
  // Failures 1..4 at about 2, 5, 9 and 15 s after the cut (2 s deadline, then 1, 2, 4 s apart).
  ASSERT_TRUE(WaitFor([&] { return FailedRevokes() >= 4; }, seconds(40))) << FailedRevokes();
  ASSERT_TRUE(KeyPresent(before.full_key));
  proxy_->Restore();
  const auto restored = Steady::now();
  ASSERT_TRUE(WaitFor([&] { return !KeyPresent(before.full_key); }, seconds(15), milliseconds(50)))
      << Describe(*engine);
  EXPECT_EQ(LeaseTtl(*inspector_, before.lease_id), -1);

  std::vector<RevokeAttempt> attempts = revokes();
  int failures = 0;
  Steady::time_point last_failure{};
  std::optional<RevokeAttempt> paid;
  for (const RevokeAttempt& a : attempts) {
    if (a.ok) {
      paid = a;
      break;
    }
    ++failures;
    last_failure = a.answered;
  }
  ASSERT_TRUE(paid.has_value());
  ASSERT_GE(failures, 4);
  const auto backoff = RevokeDebt::Delay(failures);
  std::printf(
      "[figure] owed revoke after %d failures: paid by an attempt started %lld ms after etcd "
      "came back; its next backoff attempt was %lld ms after the restore\n",
      failures, static_cast<long long>(Ms(paid->started - restored)),
      static_cast<long long>(Ms(last_failure + backoff - restored)));
  EXPECT_LT(paid->started, last_failure + backoff - seconds(2))
      << "the debt was paid by its backoff, not by the reconnect";
}

TEST_F(RevokeDebtTest, RemovalIsLetGoAfterOneTtlWhileEtcdIsCutOff) {
  constexpr int64_t kTtl = 5;
  Engine* engine = NewStartedEngine(Proxied("owner-let"));
  ASSERT_NE(engine, nullptr);
  Desired d = MakeDesired("let", "let.rpc", 1, "10.0.30.2:80", kTtl);
  Register(*engine, d);
  const State before = *engine->Get(d.id);

  proxy_->Cut();
  const auto removed = Steady::now();
  engine->Remove(d.id);
  ASSERT_TRUE(WaitFor([&] { return !engine->Get(d.id).has_value(); }, seconds(15)))
      << "deletion hangs\n"
      << Describe(*engine);
  const auto let_go = Steady::now() - removed;
  std::printf("[figure] removal with etcd cut off let go after %lld ms (TTL %lld s)\n",
              static_cast<long long>(Ms(let_go)), static_cast<long long>(kTtl));
  EXPECT_GE(let_go, seconds(kTtl) - milliseconds(100)) << "let go before one TTL";
  EXPECT_EQ(engine->stats().pending_revokes, 1) << "the revoke is still owed";

  proxy_->Restore();
  // The lease may have expired meanwhile (TTL 5): etcd then answers "not found", which pays too.
  EXPECT_TRUE(WaitFor([&] { return engine->stats().pending_revokes == 0; }, seconds(15)))
      << "the debt is not paid once etcd is back";
  EXPECT_FALSE(KeyPresent(before.full_key));
  EXPECT_EQ(LeaseTtl(*inspector_, before.lease_id), -1);
}

TEST_F(RevokeDebtTest, PauseWhileEtcdIsCutOffIsRevokedOnReconnect) {
  Engine* engine = NewStartedEngine(Proxied("owner-pause"));
  ASSERT_NE(engine, nullptr);
  Desired d = MakeDesired("pause", "pause.rpc", 1, "10.0.30.3:80", kLongTtl);
  Register(*engine, d);
  const State before = *engine->Get(d.id);

  proxy_->Cut();
  const auto cut = Steady::now();
  Desired paused = d;
  paused.paused = true;
  engine->Upsert(paused);
  ASSERT_TRUE(WaitFor([&] { return engine->stats().pending_revokes == 1; }, seconds(10)))
      << Describe(*engine);
  auto s = engine->Get(d.id);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->phase, Phase::kPending) << "its key is still in etcd: not Paused yet";
  EXPECT_EQ(s->cause, Cause::kEtcdUnavailable);
  ASSERT_TRUE(KeyPresent(before.full_key));

  proxy_->Restore();
  const auto restored = Steady::now();
  ASSERT_TRUE(WaitFor([&] { return !KeyPresent(before.full_key); }, cut + kNotByExpiry - restored,
                      milliseconds(50)))
      << Describe(*engine);
  std::printf("[figure] owed revoke of a pause paid %lld ms after etcd came back\n",
              static_cast<long long>(Ms(Steady::now() - restored)));
  EXPECT_EQ(LeaseTtl(*inspector_, before.lease_id), -1);
  EXPECT_TRUE(WaitFor(
      [&] {
        auto now = engine->Get(d.id);
        return now && now->phase == Phase::kPaused;
      },
      seconds(5)))
      << Describe(*engine);
  EXPECT_EQ(engine->stats().pending_revokes, 0);
}

TEST_F(RevokeDebtTest, FailedOrphanRevokeIsRetriedOnReconnect) {
  constexpr char kOwner[] = "owner-orph";
  Desired d = MakeDesired("orph", "orph.rpc", 1, "10.0.30.4:80", kLongTtl);
  {
    auto first = NewEngine(ControllerOptions(*etcd_, kOwner), RealClock::Get());
    ASSERT_TRUE(first->Start().ok());
    Register(*first, d);
    first->Stop(/*revoke=*/false);
  }
  const auto kv = GetKey(*inspector_, "orph.rpc/1");
  ASSERT_TRUE(kv.has_value());

  Engine* engine = NewStartedEngine(Proxied(kOwner));
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(WaitFor([&] { return engine->stats().adoption_done; }, seconds(10)));
  proxy_->Cut();
  const auto cut = Steady::now();
  engine->MarkComplete({});  // ns/orph is gone from the caller's view: an orphan
  ASSERT_TRUE(WaitFor([&] { return engine->stats().pending_revokes == 1; }, seconds(10)));
  EXPECT_EQ(engine->stats().orphans_revoked, 0);
  ASSERT_TRUE(KeyPresent("orph.rpc/1"));

  proxy_->Restore();
  const auto restored = Steady::now();
  ASSERT_TRUE(WaitFor([&] { return !KeyPresent("orph.rpc/1"); }, cut + kNotByExpiry - restored,
                      milliseconds(50)));
  EXPECT_EQ(LeaseTtl(*inspector_, kv->lease()), -1);
  EXPECT_FALSE(KeyPresent(RecordKeyOf(kOwner, "orph.rpc/1")));
  EXPECT_TRUE(WaitFor([&] { return engine->stats().orphans_revoked == 1; }, seconds(5)));
  EXPECT_EQ(engine->stats().pending_revokes, 0);
}

TEST_F(RevokeDebtTest, RestartedEngineFindsAnOwedRevokeAsAnOrphan) {
  constexpr char kOwner[] = "owner-restart";
  Desired d = MakeDesired("restart", "restart.rpc", 1, "10.0.30.5:80", kLongTtl);
  const auto first = NewEngine(Proxied(kOwner), RealClock::Get());
  ASSERT_TRUE(first->Start().ok());
  Register(*first, d);
  const State before = *first->Get(d.id);
  proxy_->Cut();
  const auto cut = Steady::now();
  first->Remove(d.id);
  ASSERT_TRUE(WaitFor([&] { return first->stats().pending_revokes == 1; }, seconds(10)))
      << Describe(*first);
  first->Stop(/*revoke=*/false);  // the controller stops without revoking, debt and all
  ASSERT_TRUE(KeyPresent(before.full_key));
  ASSERT_TRUE(KeyPresent(RecordKeyOf(kOwner, before.full_key)));

  // The next controller reaches etcd directly.
  Engine* engine = NewStartedEngine(ControllerOptions(*etcd_, kOwner));
  ASSERT_NE(engine, nullptr);
  std::optional<std::vector<AdoptedRecord>> unclaimed;
  ASSERT_TRUE(WaitFor(
      [&] {
        unclaimed = engine->Unclaimed();
        return unclaimed.has_value();
      },
      seconds(10)));
  ASSERT_EQ(unclaimed->size(), 1u);
  EXPECT_EQ((*unclaimed)[0].id, d.id);
  EXPECT_EQ((*unclaimed)[0].lease, before.lease_id);
  engine->MarkComplete({});
  ASSERT_TRUE(WaitFor([&] { return !KeyPresent(before.full_key); },
                      cut + kNotByExpiry - Steady::now(), milliseconds(50)));
  EXPECT_EQ(LeaseTtl(*inspector_, before.lease_id), -1);
  EXPECT_FALSE(KeyPresent(RecordKeyOf(kOwner, before.full_key)));
  EXPECT_TRUE(WaitFor([&] { return engine->stats().orphans_revoked == 1; }, seconds(5)));
}

TEST_F(RevokeDebtTest, UnclaimedListsAdoptedRecordsNobodyClaimed) {
  constexpr char kOwner[] = "owner-unclaimed";
  std::vector<Desired> desired = {MakeDesired("u1", "u.rpc", 1, "10.0.31.1:80", kLongTtl),
                                  MakeDesired("u2", "u.rpc", 2, "10.0.31.2:80", kLongTtl),
                                  MakeDesired("u3", "u.rpc", 3, "10.0.31.3:80", kLongTtl)};
  std::vector<State> written;
  {
    auto first = NewEngine(ControllerOptions(*etcd_, kOwner), RealClock::Get());
    ASSERT_TRUE(first->Start().ok());
    std::vector<std::string> ids;
    for (const Desired& d : desired) {
      first->Upsert(d);
      ids.push_back(d.id);
    }
    first->MarkComplete(ids);
    ASSERT_TRUE(WaitFor([&] { return AllRegistered(*first, ids); }, seconds(15)))
        << Describe(*first);
    for (const Desired& d : desired) {
      written.push_back(*first->Get(d.id));
    }
    first->Stop(/*revoke=*/false);
  }

  Engine* engine = NewStartedEngine(ControllerOptions(*etcd_, kOwner));
  ASSERT_NE(engine, nullptr);
  engine->Upsert(desired[0]);  // claims its record
  std::optional<std::vector<AdoptedRecord>> unclaimed;
  ASSERT_TRUE(WaitFor(
      [&] {
        unclaimed = engine->Unclaimed();
        return unclaimed && unclaimed->size() == 2 && AllRegistered(*engine, {desired[0].id});
      },
      seconds(10)))
      << (unclaimed ? unclaimed->size() : 0) << " unclaimed\n"
      << Describe(*engine);
  EXPECT_TRUE(engine->stats().adoption_done);
  EXPECT_EQ(engine->Get(desired[0].id)->lease_id, written[0].lease_id) << "claimed, not granted";
  for (size_t i = 0; i < 2; ++i) {
    const AdoptedRecord& r = (*unclaimed)[i];
    const Desired& d = desired[i + 1];
    SCOPED_TRACE(d.id);
    EXPECT_EQ(r.id, d.id);
    EXPECT_EQ(r.uid, d.uid);
    EXPECT_EQ(r.namespace_, d.namespace_);
    EXPECT_EQ(r.name, d.name);
    EXPECT_EQ(r.full_key, written[i + 1].full_key);
    EXPECT_EQ(r.lease, written[i + 1].lease_id);
  }

  // The caller's GET confirmed u2 (outside its listing); u3 is gone: an orphan.
  engine->MarkComplete({desired[0].id, desired[1].id});
  ASSERT_TRUE(WaitFor([&] { return !KeyPresent(written[2].full_key); }, seconds(10)));
  unclaimed = engine->Unclaimed();
  ASSERT_TRUE(unclaimed.has_value());
  ASSERT_EQ(unclaimed->size(), 1u);
  EXPECT_EQ((*unclaimed)[0].id, desired[1].id);
  EXPECT_TRUE(KeyPresent(written[1].full_key)) << "a confirmed record is kept";
  EXPECT_GT(LeaseTtl(*inspector_, written[1].lease_id), 0);
  EXPECT_EQ(engine->stats().orphans_revoked, 1);
}

}  // namespace
}  // namespace registrar::publisher::testing
