// The engine with a registration on a target other than its default (spec.etcd): the target's
// ownership records read before anything is written there, adoption and orphans per target,
// and the target's connection closed once nothing uses it. Fake client and keeper per target
// (fake_etcd.h); the engine runs on the test's thread and time moves only with the FakeClock.
#include <map>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/common/clock.h"
#include "controller/publisher/engine_impl.h"
#include "controller/publisher/records.h"
#include "tests/testing/fake_clock.h"
#include "tests/unit/publisher/fake_etcd.h"

namespace registrar::publisher {
namespace {

using ::registrar::publisher::testing::FakeClient;
using ::registrar::publisher::testing::FakeKeeper;

constexpr char kPrefix[] = "/etcd-registrar/owners/me/";

struct Target {
  FakeClient* client = nullptr;
  FakeKeeper* keeper = nullptr;
  bool destroyed = false;
};

class EngineTargetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.owner_id = "me";
    options.cluster = "c1";
    options.default_target.endpoints = {"own:2379"};
    EngineDeps deps;
    deps.own_thread = false;
    deps.new_client = [this](const etcd::ClientOptions& o) -> absl::StatusOr<etcd::ClientPtr> {
      auto fake = std::make_unique<FakeClient>();
      const std::string name = o.endpoints.at(0);
      targets_[name] = std::make_shared<Target>();
      targets_[name]->client = fake.get();
      std::weak_ptr<Target> t = targets_[name];
      fake->on_destroy = [t] {
        if (auto target = t.lock()) {
          target->destroyed = true;
        }
      };
      making_ = targets_[name].get();
      return etcd::ClientPtr(std::move(fake));
    };
    deps.new_keeper = [this](etcd::Client&, Clock&, etcd::LeaseKeeper::Listener& listener) {
      auto fake = std::make_unique<FakeKeeper>(listener);
      making_->keeper = fake.get();
      return etcd::LeaseKeeperPtr(std::move(fake));
    };
    engine_ = std::make_unique<EngineImpl>(options, clock_, std::move(deps));
    ASSERT_TRUE(engine_->Start().ok());
    Run();
    AnswerAdoption(own(), {});  // nothing on the default target
  }
  void TearDown() override { engine_->Stop(false); }

  void Run() {
    engine_->loop().RunUntilIdle();
    clock_.Advance(std::chrono::seconds(1));
    engine_->loop().RunUntilIdle();
  }
  Target& own() { return *targets_.at("own:2379"); }
  Target& far() { return *targets_.at("far:2379"); }

  // "ns/a" registered on far: its records read, its lease granted and its key written. Returns
  // the lease.
  int64_t RegisterAOnFar() {
    engine_->Upsert(OnFar("a", "ua"));
    Run();
    AnswerAdoption(far(), {});
    far().client->GrantAll();
    Run();
    far().client->AnswerTxns(true);
    Run();
    return engine_->Get("ns/a")->lease_id;
  }
  // The same user's password changed in a's Secret: a second connection to far. `first_owner`
  // keeps the first connection's Target alive for the test's checks.
  struct Rotation {
    Target* first = nullptr;
    std::shared_ptr<Target> first_owner;
    Target* second = nullptr;
  };
  Rotation RotateAsPassword() {
    Rotation r{&far(), targets_.at("far:2379"), nullptr};
    Desired rotated = OnFar("a", "ua");
    rotated.target->password = "pw2";
    engine_->Upsert(rotated);
    Run();
    r.second = &far();
    return r;
  }

  // What etcd answers when it rejects tenant's password.
  static absl::Status Rejected() {
    return absl::UnauthenticatedError(
        "etcd authentication failed for user tenant: etcdserver: authentication failed, invalid "
        "user ID or password");
  }
  // Answers the one Range pending on `t` (a records read, or a check of its credentials).
  static void AnswerRange(Target& t, const absl::StatusOr<pb::RangeResponse>& answer) {
    ASSERT_EQ(t.client->ranges.size(), 1u);
    auto call = std::move(t.client->ranges[0]);
    t.client->ranges.clear();
    call.done(answer);
  }

  struct Rec {
    std::string full_key;
    std::string name;
    std::string uid;
    int64_t lease;
  };
  void AnswerAdoption(Target& t, const std::vector<Rec>& records) {
    ASSERT_EQ(t.client->ranges.size(), 1u);
    EXPECT_EQ(t.client->ranges[0].req.key(), kPrefix);
    pb::RangeResponse r;
    for (const Rec& rec : records) {
      auto* kv = r.add_kvs();
      kv->set_key(kPrefix + rec.full_key);
      kv->set_lease(rec.lease);
      kv->set_value(EncodeRecord({.uid = rec.uid,
                                  .namespace_ = "ns",
                                  .name = rec.name,
                                  .value = "v",
                                  .ttl = 10,
                                  .granted_ttl = 10,
                                  .cluster = "c1"}));
    }
    AnswerRange(t, std::move(r));
    Run();
  }

  static Desired OnFar(const std::string& name, const std::string& uid) {
    Desired d;
    d.id = "ns/" + name;
    d.namespace_ = "ns";
    d.name = name;
    d.uid = uid;
    d.key = name + ".rpc";
    d.key_id = 1;
    d.value = "v";
    etcd::ClientOptions target;
    target.endpoints = {"far:2379"};  // both "far" connections reach this one etcd
    target.username = "tenant";
    target.password = "pw";
    d.target = target;
    return d;
  }

  ::registrar::testing::FakeClock clock_;
  std::map<std::string, std::shared_ptr<Target>> targets_;
  Target* making_ = nullptr;
  std::unique_ptr<EngineImpl> engine_;
};

TEST_F(EngineTargetsTest, NothingIsWrittenOnATargetBeforeItsRecordsAreRead) {
  engine_->Upsert(OnFar("a", "ua"));
  Run();
  ASSERT_EQ(targets_.count("far:2379"), 1u);
  EXPECT_TRUE(far().client->grants.empty());
  EXPECT_TRUE(far().client->txns.empty());
  EXPECT_EQ(engine_->Get("ns/a")->cause, Cause::kRegistering);
  AnswerAdoption(far(), {});
  EXPECT_EQ(far().client->grants.size(), 1u);  // now it registers
  EXPECT_TRUE(own().client->grants.empty());   // never on the default target
}

TEST_F(EngineTargetsTest, ARestartTakesTheLeaseOnTheTargetOverAndRevokesOnlyOrphans) {
  engine_->Upsert(OnFar("a", "ua"));
  Run();
  AnswerAdoption(far(), {{"a.rpc/1", "a", "ua", 77}, {"gone.rpc/1", "gone", "ug", 88}});
  // Both leases kept alive at once; a's taken over without a grant or a write.
  EXPECT_EQ(far().keeper->kept.count(77), 1u);
  EXPECT_EQ(far().keeper->kept.count(88), 1u);
  EXPECT_TRUE(far().client->grants.empty());
  auto s = engine_->Get("ns/a");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->lease_id, 77);
  EXPECT_EQ(engine_->stats().adopted, 1);
  // ns/gone is an orphan only once the caller's listing is complete, and ns/a is not.
  EXPECT_FALSE(far().client->WasRevoked(88));
  engine_->MarkComplete({"ns/a"});
  Run();
  EXPECT_TRUE(far().client->WasRevoked(88));
  EXPECT_FALSE(far().client->WasRevoked(77));
  EXPECT_EQ(far().keeper->kept.count(88), 0u);
}

TEST_F(EngineTargetsTest, ARecordOfALeaseAnotherConnectionHoldsIsLeftToIt) {
  // Registered on far with one password...
  const int64_t lease = RegisterAOnFar();
  ASSERT_NE(lease, 0);
  engine_->MarkComplete({"ns/a"});
  Run();
  // ...then the Secret changes: a new connection to the same etcd finds a's record there.
  const Rotation rotation = RotateAsPassword();
  Target* first = rotation.first;
  Target* second = rotation.second;
  ASSERT_NE(first, second);
  AnswerAdoption(*second, {{"a.rpc/1", "a", "ua", lease}});
  // Not an orphan of the new connection: not revoked, not kept alive twice.
  EXPECT_FALSE(second->client->WasRevoked(lease));
  EXPECT_EQ(second->keeper->kept.count(lease), 0u);
  // Make before break: a new lease on the new connection, then the old one revoked.
  ASSERT_EQ(second->client->grants.size(), 1u);
  second->client->GrantAll();
  Run();
  // The same key on the same etcd: the write takes it over from the old lease (a compare on
  // that lease), it does not ask for the key to be absent (which would be a KeyConflict with
  // ourselves).
  ASSERT_EQ(second->client->txns.size(), 1u);
  ASSERT_GE(second->client->txns[0].req.compare_size(), 1);
  EXPECT_EQ(second->client->txns[0].req.compare(0).target(), pb::Compare::LEASE);
  EXPECT_EQ(second->client->txns[0].req.compare(0).lease(), lease);
  second->client->AnswerTxns(true);
  Run();
  // Revoked through the new connection (the same etcd), which etcd certainly accepts.
  EXPECT_FALSE(first->client->WasRevoked(lease));
  EXPECT_TRUE(second->client->WasRevoked(lease));
  second->client->RevokeAll();
  Run();
  EXPECT_EQ(engine_->Get("ns/a")->phase, Phase::kRegistered);
  EXPECT_NE(engine_->Get("ns/a")->lease_id, lease);
}

// As above, but the old lease expired before the new connection wrote (the same user's password
// was changed in etcd, which on 3.5/3.6 closes the old keep-alive stream: nothing could renew
// it), and its key went with it: the compare on the old lease fails with no key there. The next
// write asks for the key to be absent instead of comparing on the old lease again (before: the
// same Txn again at once, about one per millisecond, forever; the registration never came back).
TEST_F(EngineTargetsTest, AKeyGoneWithTheReplacedLeaseIsWrittenAnew) {
  const int64_t lease = RegisterAOnFar();
  ASSERT_NE(lease, 0);
  engine_->MarkComplete({"ns/a"});
  Run();
  const Rotation rotation = RotateAsPassword();
  Target* first = rotation.first;
  Target* second = rotation.second;
  ASSERT_NE(first, second);
  AnswerAdoption(*second, {});  // the record went with the expired lease
  second->client->GrantAll();
  Run();
  ASSERT_EQ(second->client->txns.size(), 1u);
  ASSERT_GE(second->client->txns[0].req.compare_size(), 1);
  EXPECT_EQ(second->client->txns[0].req.compare(0).lease(), lease);
  second->client->AnswerTxns(false);  // no key there: the compare failed
  Run();
  ASSERT_EQ(second->client->txns.size(), 1u);
  for (const pb::Compare& c : second->client->txns[0].req.compare()) {
    EXPECT_FALSE(c.target() == pb::Compare::LEASE && c.lease() == lease)
        << "compares on the expired lease again";
  }
  second->client->AnswerTxns(true);
  Run();
  EXPECT_TRUE(second->client->txns.empty());
  EXPECT_FALSE(first->client->WasRevoked(lease));
  EXPECT_TRUE(second->client->WasRevoked(lease));
  second->client->RevokeAll();
  Run();
  EXPECT_EQ(engine_->Get("ns/a")->phase, Phase::kRegistered);
  EXPECT_NE(engine_->Get("ns/a")->lease_id, lease);
}

// The same user's password rotated, Secret first: the new connection's credentials are
// rejected (etcd still has the old password) while the key is live through the old one. The
// registration stays Registered on its lease, moving, with a warning naming the rejection (before:
// Failed/AuthFailed, as if the key were gone). Then etcd gets the new password and rejects the
// old connection's: the new credentials are tried at once (their hold-down ended, the records
// read again without waiting for the retry), the key moves make before break, the old lease is
// revoked through the new connection, and the old connection is closed.
TEST_F(EngineTargetsTest, NewCredentialsRejectedKeepTheKeyLiveThenMoveWhenEtcdChanges) {
  const int64_t lease = RegisterAOnFar();
  ASSERT_NE(lease, 0);
  engine_->MarkComplete({"ns/a"});
  Run();
  const Rotation rotation = RotateAsPassword();
  Target* first = rotation.first;
  Target* second = rotation.second;
  ASSERT_NE(first, second);
  ASSERT_EQ(second->client->ranges.size(), 1u);
  const absl::Status rejected = Rejected();
  AnswerRange(*second, rejected);
  engine_->loop().RunUntilIdle();
  std::optional<State> s = engine_->Get("ns/a");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->phase, Phase::kRegistered);
  EXPECT_EQ(s->cause, Cause::kRegistered);
  EXPECT_EQ(s->lease_id, lease);
  EXPECT_TRUE(s->moving);
  EXPECT_THAT(s->warning, ::testing::HasSubstr("rejected the new credentials"));
  EXPECT_THAT(s->warning, ::testing::HasSubstr("user tenant"));
  EXPECT_THAT(s->warning, ::testing::Not(::testing::HasSubstr("pw2")));
  EXPECT_EQ(first->keeper->kept.count(lease), 1u);  // still renewed
  EXPECT_TRUE(second->client->grants.empty());
  EXPECT_EQ(second->client->credential_retries, 0);

  // etcd has the new password now: the old keep-alive stream cannot authenticate again.
  first->keeper->listener.OnStreamClosed(Rejected());
  engine_->loop().RunUntilIdle();  // no time passes: not the adoption's retry backoff
  EXPECT_EQ(second->client->credential_retries, 1);
  AnswerRange(*second, pb::RangeResponse());
  engine_->loop().RunUntilIdle();
  ASSERT_EQ(second->client->grants.size(), 1u);
  second->client->GrantAll();
  engine_->loop().RunUntilIdle();
  ASSERT_EQ(second->client->txns.size(), 1u);
  EXPECT_EQ(second->client->txns[0].req.compare(0).lease(), lease);  // taken over, no gap
  EXPECT_TRUE(engine_->Get("ns/a")->moving);
  second->client->AnswerTxns(true);
  engine_->loop().RunUntilIdle();
  EXPECT_FALSE(first->client->WasRevoked(lease));
  EXPECT_TRUE(second->client->WasRevoked(lease));
  second->client->RevokeAll();
  Run();
  Run();
  s = engine_->Get("ns/a");
  EXPECT_EQ(s->phase, Phase::kRegistered);
  EXPECT_NE(s->lease_id, lease);
  EXPECT_FALSE(s->moving);
  EXPECT_TRUE(s->warning.empty());
  EXPECT_TRUE(first->keeper->stopped) << "the old connection was not closed";
  EXPECT_FALSE(second->keeper->stopped);
  EXPECT_EQ(engine_->stats().connections, 2);  // the default target and the new one
}

// The same rotation as etcd 3.5/3.6 do it: the new connection's own stream fails to authenticate
// too (its credentials rejected, held down), then etcd gets the new password and closes the old
// connection's keep-alive stream ("invalid auth token", so first only "down"), whose reopening is
// then rejected. The key is live all along (its lease renewed just before), so the registration
// stays Registered and moving at every step: before, the stream going down showed
// Pending/EtcdUnavailable (Ready False) until the move ended, and the new connection's stale
// rejection then showed Failed/AuthFailed until its stream came up (seen in the controller's log
// of SameUserRotationTest on 3.5: 0.35 s not Ready, a false outage).
TEST_F(EngineTargetsTest, OldStreamClosedByThePasswordChangeStaysRegisteredWhileTheKeyMoves) {
  const int64_t lease = RegisterAOnFar();
  engine_->MarkComplete({"ns/a"});
  Run();
  const Rotation rotation = RotateAsPassword();
  Target* first = rotation.first;
  Target* second = rotation.second;
  const absl::Status rejected = Rejected();
  second->keeper->listener.OnConnectivity(false);
  second->keeper->listener.OnStreamClosed(rejected);
  AnswerRange(*second, rejected);
  engine_->loop().RunUntilIdle();
  auto registered_and_moving = [&](const char* when) {
    std::optional<State> s = engine_->Get("ns/a");
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(PhaseName(s->phase), std::string("Registered")) << when << ": " << s->message;
    EXPECT_EQ(CauseName(s->cause), std::string("Registered")) << when;
    EXPECT_TRUE(s->moving) << when;
  };
  registered_and_moving("new credentials rejected");

  first->keeper->listener.OnConnectivity(true);  // the old stream renews the lease
  first->keeper->listener.OnRenewed(lease, 10);
  first->keeper->listener.OnConnectivity(false);  // etcd closed it: "invalid auth token"
  engine_->loop().RunUntilIdle();
  registered_and_moving("old stream down");
  EXPECT_EQ(engine_->Get("ns/a")->lease_id, lease);
  first->keeper->listener.OnStreamClosed(rejected);  // reopened: the old password is rejected
  engine_->loop().RunUntilIdle();
  registered_and_moving("old credentials rejected");
  AnswerRange(*second, pb::RangeResponse());
  engine_->loop().RunUntilIdle();
  registered_and_moving("records read through the new connection");
  ASSERT_EQ(second->client->grants.size(), 1u);
  second->client->GrantAll();
  engine_->loop().RunUntilIdle();
  registered_and_moving("new lease granted");
  second->client->AnswerTxns(true);
  engine_->loop().RunUntilIdle();
  registered_and_moving("key written on the new lease");
  EXPECT_TRUE(second->client->WasRevoked(lease));
  second->client->RevokeAll();
  engine_->loop().RunUntilIdle();
  std::optional<State> s = engine_->Get("ns/a");
  EXPECT_EQ(PhaseName(s->phase), std::string("Registered")) << s->message;
  EXPECT_NE(s->lease_id, lease);
  EXPECT_FALSE(s->moving);
}

// The honest side of the above: a move whose old stream stays down shows the key live only while
// its lease may be alive (a TTL after its last renewal), then Pending/EtcdUnavailable; and when
// etcd rejects the old credentials and the new connection fails too, nothing works: not Ready.
TEST_F(EngineTargetsTest, OldStreamDownPastTheLeaseOrNoConnectionWorkingIsNotReady) {
  const int64_t lease = RegisterAOnFar();
  engine_->MarkComplete({"ns/a"});
  Run();
  const Rotation rotation = RotateAsPassword();
  Target* first = rotation.first;
  Target* second = rotation.second;
  const absl::Status rejected = Rejected();
  AnswerRange(*second, rejected);
  engine_->loop().RunUntilIdle();
  first->client->ranges.clear();  // the check of the old credentials: left unanswered
  first->keeper->listener.OnConnectivity(true);
  first->keeper->listener.OnRenewed(lease, 10);
  first->keeper->listener.OnConnectivity(false);
  engine_->loop().RunUntilIdle();
  EXPECT_EQ(engine_->Get("ns/a")->phase, Phase::kRegistered);
  clock_.Advance(std::chrono::seconds(9));
  engine_->loop().RunUntilIdle();
  EXPECT_EQ(engine_->Get("ns/a")->phase, Phase::kRegistered) << "9 s of a 10 s lease";
  clock_.Advance(std::chrono::seconds(2));
  engine_->loop().RunUntilIdle();
  std::optional<State> s = engine_->Get("ns/a");
  EXPECT_EQ(s->phase, Phase::kPending);
  EXPECT_EQ(s->cause, Cause::kEtcdUnavailable);
  EXPECT_THAT(s->message, ::testing::HasSubstr("may have ended"));

  // The old stream back, then etcd rejects its credentials and the new connection's read fails
  // again: no connection works, AuthFailed at once.
  first->keeper->listener.OnConnectivity(true);
  first->keeper->listener.OnRenewed(lease, 10);
  engine_->loop().RunUntilIdle();
  first->keeper->listener.OnConnectivity(false);
  first->keeper->listener.OnStreamClosed(rejected);
  engine_->loop().RunUntilIdle();
  for (int i = 0; i < 3 && second->client->ranges.empty(); ++i) {
    Run();
  }
  ASSERT_FALSE(second->client->ranges.empty());
  AnswerRange(*second, rejected);
  engine_->loop().RunUntilIdle();
  s = engine_->Get("ns/a");
  EXPECT_EQ(s->phase, Phase::kFailed) << s->message;
  EXPECT_EQ(s->cause, Cause::kAuthFailed);
}

// As above on etcd 3.4, where the old keep-alive stream survives the password change and says
// nothing: each rejection of the new credentials checks the old ones with a count-only Range (at
// most every 5 s); once etcd rejects those, the new ones are tried at once (before: only after
// their 30 s hold-down).
TEST_F(EngineTargetsTest, NewCredentialsRejectedCheckTheOldOnesWhichEtcdThenRejects) {
  const int64_t lease = RegisterAOnFar();
  const Rotation rotation = RotateAsPassword();
  Target* first = rotation.first;
  Target* second = rotation.second;
  const absl::Status rejected = Rejected();
  AnswerRange(*second, rejected);
  engine_->loop().RunUntilIdle();
  ASSERT_EQ(first->client->ranges.size(), 1u) << "the old credentials were not checked";
  EXPECT_TRUE(first->client->ranges[0].req.count_only());
  // Still accepted: nothing changes, and the next check waits 5 s.
  AnswerRange(*first, pb::RangeResponse());
  Run();  // 1 s: the adoption's retry, rejected again (held down in a real client)
  AnswerRange(*second, rejected);
  engine_->loop().RunUntilIdle();
  EXPECT_TRUE(first->client->ranges.empty()) << "checked again within 5 s";
  EXPECT_EQ(engine_->Get("ns/a")->phase, Phase::kRegistered);
  // 5 s later, etcd has the new password: the check is rejected.
  clock_.Advance(std::chrono::seconds(5));
  engine_->loop().RunUntilIdle();
  AnswerRange(*second, rejected);
  engine_->loop().RunUntilIdle();
  AnswerRange(*first, rejected);
  engine_->loop().RunUntilIdle();
  EXPECT_EQ(second->client->credential_retries, 1);
  ASSERT_EQ(second->client->ranges.size(), 1u) << "the new credentials were not tried at once";
  AnswerRange(*second, pb::RangeResponse());
  engine_->loop().RunUntilIdle();
  second->client->GrantAll();
  engine_->loop().RunUntilIdle();
  second->client->AnswerTxns(true);
  engine_->loop().RunUntilIdle();
  EXPECT_TRUE(second->client->WasRevoked(lease));
}

// The other order: etcd first. The old connection's credentials are rejected while the Secret
// still has them: AuthFailed at once (the key lasts until its lease ends), not EtcdUnavailable.
TEST_F(EngineTargetsTest, CurrentCredentialsRejectedShowAuthFailedWhileTheLeaseLasts) {
  const int64_t lease = RegisterAOnFar();
  far().keeper->listener.OnConnectivity(false);
  far().keeper->listener.OnStreamClosed(Rejected());
  engine_->loop().RunUntilIdle();
  std::optional<State> s = engine_->Get("ns/a");
  EXPECT_EQ(s->phase, Phase::kFailed);
  EXPECT_EQ(s->cause, Cause::kAuthFailed);
  EXPECT_EQ(s->lease_id, lease);  // still held
  EXPECT_THAT(s->message, ::testing::HasSubstr("until its lease ends"));
  // A stream that authenticates again (the old password is back) clears it.
  far().keeper->listener.OnConnectivity(true);
  Run();
  Run();
  EXPECT_EQ(engine_->Get("ns/a")->phase, Phase::kRegistered);
}

// Endpoints changed: Registered and moving (status Reconciling) until the key is written on the
// new etcd, then not moving on the new lease.
TEST_F(EngineTargetsTest, AnEndpointChangeIsMovingUntilTheKeyIsOnTheNewTarget) {
  const int64_t lease = RegisterAOnFar();
  EXPECT_FALSE(engine_->Get("ns/a")->moving);
  Desired moved = OnFar("a", "ua");
  moved.target->endpoints = {"near:2379"};
  engine_->Upsert(moved);
  Run();
  std::optional<State> s = engine_->Get("ns/a");
  EXPECT_EQ(s->phase, Phase::kRegistered);
  EXPECT_TRUE(s->moving);
  EXPECT_EQ(s->lease_id, lease);
  Target& near = *targets_.at("near:2379");
  AnswerAdoption(near, {});
  s = engine_->Get("ns/a");
  EXPECT_TRUE(s->moving);
  EXPECT_EQ(s->lease_id, lease);  // granting: still the old lease that holds the key
  near.client->GrantAll();
  Run();
  near.client->AnswerTxns(true);
  Run();
  far().client->RevokeAll();
  Run();
  s = engine_->Get("ns/a");
  EXPECT_FALSE(s->moving);
  EXPECT_EQ(s->phase, Phase::kRegistered);
  EXPECT_NE(s->lease_id, lease);
}

TEST_F(EngineTargetsTest, TheTargetConnectionIsClosedWhenTheLastRegistrationGoes) {
  engine_->Upsert(OnFar("a", "ua"));
  engine_->Upsert(OnFar("b", "ub"));
  Run();
  AnswerAdoption(far(), {});
  far().client->GrantAll();
  Run();
  far().client->AnswerTxns(true);
  Run();
  EXPECT_EQ(far().keeper->size(), 2u);  // one connection shared by both
  EXPECT_EQ(targets_.size(), 2u);
  engine_->Remove("ns/a");
  Run();
  far().client->RevokeAll();
  Run();
  Run();
  EXPECT_FALSE(far().keeper->stopped);  // b still uses it
  engine_->Remove("ns/b");
  Run();
  far().client->RevokeAll();
  Run();
  Run();
  EXPECT_TRUE(far().keeper->stopped);
  EXPECT_FALSE(far().destroyed);
  // Destroyed after its grace; the default target's connection stays.
  clock_.Advance(std::chrono::seconds(61));
  Run();
  EXPECT_TRUE(far().destroyed);
  EXPECT_FALSE(own().destroyed);
  EXPECT_FALSE(own().keeper->stopped);
  // Wanted again: a new connection, its records read again.
  engine_->Upsert(OnFar("c", "uc"));
  Run();
  EXPECT_FALSE(far().destroyed);
  EXPECT_EQ(far().client->ranges.size(), 1u);
}

}  // namespace
}  // namespace registrar::publisher
