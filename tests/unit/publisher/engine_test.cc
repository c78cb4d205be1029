// The engine's decisions through a fake etcd::Client and a fake keeper (fake_etcd.h): the loop
// runs on the test's thread, time moves only with the FakeClock, nothing sleeps.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/etcd/dry_run_client.h"
#include "controller/publisher/engine_impl.h"
#include "controller/publisher/records.h"
#include "tests/testing/fake_clock.h"
#include "tests/unit/publisher/fake_etcd.h"

namespace registrar::publisher {
namespace {

using ::registrar::publisher::testing::AnswerAll;
using ::registrar::publisher::testing::FakeClient;
using ::registrar::publisher::testing::FakeKeeper;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kPrefix[] = "/etcd-registrar/owners/me/";

class EngineTest : public ::testing::Test {
 protected:
  void Make(bool dry_run = false) {
    EngineOptions options;
    options.owner_id = "me";
    options.cluster = "c1";
    options.dry_run = dry_run;
    EngineDeps deps;
    deps.own_thread = false;
    deps.new_client = [this,
                       dry_run](const etcd::ClientOptions&) -> absl::StatusOr<etcd::ClientPtr> {
      auto fake = std::make_unique<FakeClient>();
      client_ = fake.get();
      if (dry_run) {
        return etcd::NewDryRunClient(std::move(fake));
      }
      return etcd::ClientPtr(std::move(fake));
    };
    deps.new_keeper = [this](etcd::Client&, Clock&, etcd::LeaseKeeper::Listener& listener) {
      auto fake = std::make_unique<FakeKeeper>(listener);
      keeper_ = fake.get();
      return etcd::LeaseKeeperPtr(std::move(fake));
    };
    engine_ = std::make_unique<EngineImpl>(options, clock_, std::move(deps));
    ASSERT_TRUE(engine_->Start().ok());
    Run();
  }

  // Runs the engine's loop until idle, then once more after every write phase could end, so
  // nothing the write scheduler holds back is left unstarted.
  void Run() {
    engine_->loop().RunUntilIdle();
    clock_.Advance(std::chrono::seconds(1));
    engine_->loop().RunUntilIdle();
  }

  // Answers the adoption read with these records: {full key, namespace/name, uid, lease}.
  struct Rec {
    std::string full_key;
    std::string ns;
    std::string name;
    std::string uid;
    int64_t lease;
    std::string cluster = "c1";
  };
  void AnswerAdoption(const std::vector<Rec>& records) {
    ASSERT_EQ(client_->ranges.size(), 1u);
    EXPECT_EQ(client_->ranges[0].req.key(), kPrefix);
    pb::RangeResponse r;
    for (const Rec& rec : records) {
      auto* kv = r.add_kvs();
      kv->set_key(kPrefix + rec.full_key);
      kv->set_lease(rec.lease);
      kv->set_value(EncodeRecord({.uid = rec.uid,
                                  .namespace_ = rec.ns,
                                  .name = rec.name,
                                  .value = "v",
                                  .ttl = 10,
                                  .granted_ttl = 10,
                                  .cluster = rec.cluster}));
    }
    auto call = std::move(client_->ranges[0]);
    client_->ranges.clear();
    call.done(std::move(r));
    Run();
  }

  static Desired Want(const std::string& ns, const std::string& name, const std::string& uid,
                      const std::string& key, int64_t key_id) {
    Desired d;
    d.id = ns + "/" + name;
    d.namespace_ = ns;
    d.name = name;
    d.uid = uid;
    d.key = key;
    d.key_id = key_id;
    d.value = "v";
    return d;
  }

  // Runs the loop, lets `d` pass, runs it again (timers due within `d` fire).
  void RunFor(Clock::Duration d) {
    engine_->loop().RunUntilIdle();
    clock_.Advance(d);
    engine_->loop().RunUntilIdle();
  }

  // Registers ns/a (key a.rpc/1) and returns its lease.
  int64_t RegisterA(int64_t ttl = 10) {
    Desired d = Want("ns", "a", "ua", "a.rpc", 1);
    d.ttl = ttl;
    engine_->Upsert(d);
    Run();
    client_->GrantAll();
    Run();
    client_->AnswerTxns(true);
    Run();
    auto s = engine_->Get("ns/a");
    EXPECT_TRUE(s.has_value() && s->phase == Phase::kRegistered);
    return s ? s->lease_id : 0;
  }

  // Answers the oldest pending revoke with `result`.
  void AnswerRevoke(absl::StatusOr<pb::LeaseRevokeResponse> result) {
    ASSERT_FALSE(client_->revokes.empty());
    auto call = std::move(client_->revokes.front());
    client_->revokes.erase(client_->revokes.begin());
    call.done(std::move(result));
  }

  // The keep-alive stream of the (only) connection went down and came back.
  void Reconnect() {
    keeper_->listener.OnConnectivity(false);
    engine_->loop().RunUntilIdle();
    keeper_->listener.OnConnectivity(true);
    engine_->loop().RunUntilIdle();
  }

  ::registrar::testing::FakeClock clock_;
  FakeClient* client_ = nullptr;
  FakeKeeper* keeper_ = nullptr;
  std::unique_ptr<EngineImpl> engine_;
};

// MarkComplete(known ids): records of ids outside the list are orphans at once; a record of a
// listed id waits until that id is handed over, and is revoked then unless it was claimed.
TEST_F(EngineTest, MarkCompleteRevokesOnlyWhatNobodyWillClaim) {
  Make();
  AnswerAdoption({{"a.rpc/1", "ns", "a", "ua", 101},
                  {"b.rpc/2", "ns", "b", "ub", 102},
                  {"c.rpc/3", "ns", "c", "uc", 103},
                  {"d.rpc/4", "ns", "d", "ud", 104},
                  {"e.rpc/5", "ns", "e", "ue", 105, "other-cluster"}});
  EXPECT_THAT(keeper_->renewed_now, ElementsAre(101, 102, 103, 104, 105));

  engine_->MarkComplete({"ns/a", "ns/b", "ns/d"});
  Run();
  // ns/c is not listed: revoked at once. Another cluster's record is never ours to revoke.
  EXPECT_THAT(client_->revoked, ElementsAre(103));

  // ns/a is refused or dropped by the caller: handed over by Remove, so its record goes now.
  engine_->Remove("ns/a");
  Run();
  EXPECT_THAT(client_->revoked, ElementsAre(103, 101));

  // ns/b comes with another uid: it does not claim the record, which goes.
  engine_->Upsert(Want("ns", "b", "another-uid", "b.rpc", 2));
  Run();
  EXPECT_TRUE(client_->WasRevoked(102));

  // ns/d claims its record: kept, no grant, registered on the adopted lease.
  engine_->Upsert(Want("ns", "d", "ud", "d.rpc", 4));
  Run();
  EXPECT_FALSE(client_->WasRevoked(104));
  EXPECT_FALSE(client_->WasRevoked(105));
  auto d = engine_->Get("ns/d");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->phase, Phase::kRegistered);
  EXPECT_EQ(d->lease_id, 104);
  EXPECT_EQ(engine_->stats().adopted, 1);
}

TEST_F(EngineTest, KnownIdsKeepTheirRecordsUntilHandedOver) {
  Make();
  AnswerAdoption({{"a.rpc/1", "ns", "a", "ua", 101}});
  engine_->MarkComplete({"ns/a"});
  Run();
  EXPECT_THAT(client_->revoked, IsEmpty());
  EXPECT_EQ(keeper_->kept.count(101), 1u);
}

TEST_F(EngineTest, MarkCompleteBeforeAdoptionIsReadWaitsForIt) {
  Make();
  engine_->MarkComplete({"ns/a"});
  Run();
  AnswerAdoption({{"a.rpc/1", "ns", "a", "ua", 101}, {"x.rpc/9", "ns", "x", "ux", 109}});
  EXPECT_THAT(client_->revoked, ElementsAre(109));
}

TEST_F(EngineTest, NewRegistrationGrantsThenWritesKeyAndRecordInOneBatch) {
  Make();
  AnswerAdoption({});
  engine_->Upsert(Want("ns", "a", "ua", "a.rpc", 1));
  engine_->Upsert(Want("ns", "b", "ub", "b.rpc", 2));
  Run();
  ASSERT_EQ(client_->grants.size(), 2u);
  client_->GrantAll();
  Run();
  ASSERT_EQ(client_->txns.size(), 1u);  // both new keys share one Txn
  EXPECT_EQ(client_->txns[0].req.success_size(), 4);
  client_->AnswerTxns(true);
  Run();
  for (const char* id : {"ns/a", "ns/b"}) {
    auto s = engine_->Get(id);
    ASSERT_TRUE(s.has_value()) << id;
    EXPECT_EQ(s->phase, Phase::kRegistered) << id;
    EXPECT_EQ(s->cause, Cause::kRegistered) << id;
  }
  EXPECT_EQ(keeper_->size(), 2u);
}

TEST_F(EngineTest, FailedBatchRetriesAloneAndReportsTheHolder) {
  Make();
  AnswerAdoption({});
  engine_->Upsert(Want("ns", "a", "ua", "a.rpc", 1));
  Run();
  client_->GrantAll();
  Run();
  client_->AnswerTxns(false);  // the batch's compare failed
  Run();
  ASSERT_EQ(client_->txns.size(), 1u);  // alone now, reading the key on failure
  EXPECT_EQ(client_->txns[0].req.failure_size(), 2);
  pb::TxnResponse held;
  auto* kv = held.add_responses()->mutable_response_range()->add_kvs();
  kv->set_key("a.rpc/1");
  kv->set_lease(555);
  held.add_responses()->mutable_response_range();
  auto call = std::move(client_->txns[0]);
  client_->txns.clear();
  call.done(held);
  Run();
  auto s = engine_->Get("ns/a");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->phase, Phase::kFailed);
  EXPECT_EQ(s->cause, Cause::kKeyConflict);
  EXPECT_THAT(s->message, ::testing::HasSubstr("lease 555 without an etcd-registrar record"));
}

TEST_F(EngineTest, LeaseNotFoundOnTheKeyWriteRegistersAnew) {
  Make();
  AnswerAdoption({});
  engine_->Upsert(Want("ns", "a", "ua", "a.rpc", 1));
  Run();
  client_->GrantAll();
  Run();
  client_->AnswerTxns(false);
  Run();
  auto call = std::move(client_->txns[0]);
  client_->txns.clear();
  call.done(absl::NotFoundError("etcdserver: requested lease not found"));
  Run();
  EXPECT_EQ(engine_->Get("ns/a")->cause, Cause::kLeaseLost);
  EXPECT_EQ(client_->grants.size(), 1u);  // a new lease at once
  EXPECT_EQ(engine_->stats().lease_losses, 1);
}

TEST_F(EngineTest, UnansweredGrantIsRevokedByItsChosenIdThroughTheScheduler) {
  Make();
  AnswerAdoption({});
  engine_->Upsert(Want("ns", "a", "ua", "a.rpc", 1));
  Run();
  ASSERT_EQ(client_->grants.size(), 1u);
  int64_t lease = client_->grants[0].req.id();
  // A transient failure: the grant may have happened, so the chosen id is revoked.
  auto call = std::move(client_->grants[0]);
  client_->grants.clear();
  call.done(absl::UnavailableError("connection reset"));
  Run();
  EXPECT_TRUE(client_->WasRevoked(lease));
  EXPECT_EQ(engine_->Get("ns/a")->cause, Cause::kEtcdUnavailable);
}

TEST_F(EngineTest, DryRunWritesNothingAndSaysSo) {
  Make(/*dry_run=*/true);
  AnswerAdoption({});  // reads go to the wrapped client
  engine_->Upsert(Want("ns", "a", "ua", "a.rpc", 1));
  Run();
  EXPECT_THAT(client_->grants, IsEmpty());
  EXPECT_THAT(client_->txns, IsEmpty());
  auto s = engine_->Get("ns/a");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->phase, Phase::kPending);
  EXPECT_EQ(s->cause, Cause::kDryRun);
  EXPECT_EQ(s->lease_id, 0);
  EXPECT_EQ(s->message, etcd::kDryRunMessage);
  // Not retried by itself: nothing is left to run.
  clock_.Advance(std::chrono::seconds(30));
  Run();
  EXPECT_EQ(engine_->Get("ns/a")->cause, Cause::kDryRun);
  engine_->Remove("ns/a");
  Run();
  EXPECT_FALSE(engine_->Get("ns/a").has_value());
}

// Nothing relies on a lease expiring: a removal whose revoke fails owes the revoke, keeps the
// registration Terminating, and pays it the moment etcd answers again.
TEST_F(EngineTest, FailedRevokeOfARemovalIsOwedAndPaidOnReconnect) {
  Make();
  AnswerAdoption({});
  int64_t lease = RegisterA();
  engine_->Remove("ns/a");
  Run();
  EXPECT_EQ(keeper_->kept.count(lease), 0u) << "not renewed from Remove on";
  AnswerRevoke(absl::UnavailableError("connection refused"));
  engine_->loop().RunUntilIdle();
  EXPECT_EQ(engine_->stats().pending_revokes, 1);
  auto s = engine_->Get("ns/a");
  ASSERT_TRUE(s.has_value()) << "within one TTL it waits";
  EXPECT_EQ(s->phase, Phase::kTerminating);
  EXPECT_EQ(s->cause, Cause::kRevoking);
  EXPECT_THAT(s->message, ::testing::HasSubstr("connection refused"));
  EXPECT_EQ(keeper_->kept.count(lease), 0u) << "an owed lease is never kept alive";

  Reconnect();
  ASSERT_EQ(client_->revokes.size(), 1u) << "retried at once on reconnect";
  EXPECT_EQ(client_->revokes[0].req.id(), lease);
  AnswerRevoke(pb::LeaseRevokeResponse());
  engine_->loop().RunUntilIdle();
  EXPECT_EQ(engine_->stats().pending_revokes, 0);
  EXPECT_FALSE(engine_->Get("ns/a").has_value());
}

TEST_F(EngineTest, RemovalIsLetGoAfterOneTtlAndTheDebtGoesOnWithBackoff) {
  Make();
  AnswerAdoption({});
  int64_t lease = RegisterA(/*ttl=*/10);
  engine_->Remove("ns/a");
  Run();
  AnswerRevoke(absl::DeadlineExceededError("deadline exceeded"));
  RunFor(std::chrono::milliseconds(500));
  EXPECT_TRUE(engine_->Get("ns/a").has_value());
  // Retried by itself with backoff (1 s, 2 s, 4 s ...) while etcd stays unreachable.
  RunFor(std::chrono::milliseconds(600));
  ASSERT_EQ(client_->revokes.size(), 1u);
  AnswerRevoke(absl::UnavailableError("down"));
  RunFor(std::chrono::milliseconds(1900));
  EXPECT_TRUE(client_->revokes.empty()) << "the second retry waits two seconds";
  RunFor(std::chrono::milliseconds(200));
  ASSERT_EQ(client_->revokes.size(), 1u);
  AnswerRevoke(absl::UnavailableError("down"));
  // One TTL after Remove: let go; the lease is still owed.
  RunFor(std::chrono::seconds(7));
  EXPECT_FALSE(engine_->Get("ns/a").has_value());
  EXPECT_EQ(engine_->stats().pending_revokes, 1);
  EXPECT_EQ(keeper_->kept.count(lease), 0u);
  RunFor(std::chrono::seconds(4));
  ASSERT_EQ(client_->revokes.size(), 1u);
  // "lease not found" means done.
  AnswerRevoke(absl::NotFoundError("etcdserver: requested lease not found"));
  engine_->loop().RunUntilIdle();
  EXPECT_EQ(engine_->stats().pending_revokes, 0);
  RunFor(std::chrono::seconds(60));
  EXPECT_TRUE(client_->revokes.empty()) << "paid: never again";
}

TEST_F(EngineTest, PauseWithEtcdDownShowsUnavailableUntilTheOwedRevokeIsPaid) {
  Make();
  AnswerAdoption({});
  int64_t lease = RegisterA();
  Desired paused = Want("ns", "a", "ua", "a.rpc", 1);
  paused.paused = true;
  engine_->Upsert(paused);
  Run();
  AnswerRevoke(absl::UnavailableError("connection refused"));
  engine_->loop().RunUntilIdle();
  auto s = engine_->Get("ns/a");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->phase, Phase::kPending) << "the key is still in etcd: not Paused yet";
  EXPECT_EQ(s->cause, Cause::kEtcdUnavailable);
  EXPECT_EQ(s->lease_id, 0);
  EXPECT_EQ(engine_->stats().pending_revokes, 1);
  Reconnect();
  AnswerRevoke(pb::LeaseRevokeResponse());
  engine_->loop().RunUntilIdle();
  EXPECT_EQ(engine_->Get("ns/a")->phase, Phase::kPaused);
  EXPECT_EQ(engine_->stats().pending_revokes, 0);
  EXPECT_THAT(client_->revoked, ElementsAre(lease, lease));
}

TEST_F(EngineTest, FailedOrphanRevokeIsRetriedOnReconnectAndCounted) {
  Make();
  AnswerAdoption({{"x.rpc/9", "ns", "x", "ux", 109}});
  engine_->MarkComplete({});
  Run();
  AnswerRevoke(absl::UnavailableError("connection refused"));
  engine_->loop().RunUntilIdle();
  EXPECT_EQ(engine_->stats().pending_revokes, 1);
  EXPECT_EQ(engine_->stats().orphans_revoked, 0);
  EXPECT_EQ(keeper_->kept.count(109), 0u);
  Reconnect();
  AnswerRevoke(pb::LeaseRevokeResponse());
  engine_->loop().RunUntilIdle();
  EXPECT_EQ(engine_->stats().pending_revokes, 0);
  EXPECT_EQ(engine_->stats().orphans_revoked, 1);
}

TEST_F(EngineTest, AWriteAnsweredAfterATransientFailureCountsAsAReconnect) {
  Make();
  AnswerAdoption({});
  RegisterA();
  engine_->Remove("ns/a");
  Run();
  AnswerRevoke(absl::UnavailableError("down"));  // the transient failure
  engine_->loop().RunUntilIdle();
  ASSERT_EQ(engine_->stats().pending_revokes, 1);
  engine_->Upsert(Want("ns", "b", "ub", "b.rpc", 2));
  engine_->loop().RunUntilIdle();
  ASSERT_EQ(client_->grants.size(), 1u);
  client_->GrantAll();  // answered: etcd is back
  engine_->loop().RunUntilIdle();
  ASSERT_EQ(client_->revokes.size(), 1u) << "retried at once, not after its backoff";
}

TEST_F(EngineTest, RecreatedWhileAwaitingAnOwedRevokeRegistersAtOnce) {
  Make();
  AnswerAdoption({});
  RegisterA();
  engine_->Remove("ns/a");
  Run();
  AnswerRevoke(absl::UnavailableError("down"));
  engine_->loop().RunUntilIdle();
  ASSERT_EQ(engine_->Get("ns/a")->phase, Phase::kTerminating);
  engine_->Upsert(Want("ns", "a", "ua", "a.rpc", 1));
  engine_->loop().RunUntilIdle();
  EXPECT_EQ(client_->grants.size(), 1u) << "not held back until the removal would be let go";
  EXPECT_EQ(engine_->stats().pending_revokes, 1) << "the old lease is still owed";
}

TEST_F(EngineTest, UnclaimedListsAdoptedRecordsNobodyClaimedOnceAdoptionIsDone) {
  Make();
  EXPECT_EQ(engine_->Unclaimed(), std::nullopt) << "adoption not done";
  EXPECT_FALSE(engine_->stats().adoption_done);
  engine_->Upsert(Want("ns", "a", "ua", "a.rpc", 1));  // claims its record during adoption
  engine_->loop().RunUntilIdle();
  AnswerAdoption({{"a.rpc/1", "ns", "a", "ua", 101},
                  {"b.rpc/2", "ns", "b", "ub", 102},
                  {"c.rpc/3", "ns2", "c", "uc", 103},
                  {"e.rpc/5", "ns", "e", "ue", 105, "other-cluster"}});
  EXPECT_TRUE(engine_->stats().adoption_done);
  auto unclaimed = engine_->Unclaimed();
  ASSERT_TRUE(unclaimed.has_value());
  ASSERT_EQ(unclaimed->size(), 2u);
  EXPECT_EQ((*unclaimed)[0].id, "ns/b");
  EXPECT_EQ((*unclaimed)[0].uid, "ub");
  EXPECT_EQ((*unclaimed)[0].full_key, "b.rpc/2");
  EXPECT_EQ((*unclaimed)[0].lease, 102);
  EXPECT_EQ((*unclaimed)[1].id, "ns2/c");
  EXPECT_EQ((*unclaimed)[1].namespace_, "ns2");
  EXPECT_EQ((*unclaimed)[1].name, "c");
  // The caller confirmed ns2/c (a GET outside its listing); ns/b is an orphan.
  engine_->MarkComplete({"ns2/c"});
  Run();
  EXPECT_THAT(client_->revoked, ElementsAre(102));
  unclaimed = engine_->Unclaimed();
  ASSERT_TRUE(unclaimed.has_value());
  ASSERT_EQ(unclaimed->size(), 1u);
  EXPECT_EQ((*unclaimed)[0].id, "ns2/c");
  EXPECT_EQ(keeper_->kept.count(103), 1u) << "a confirmed record is kept alive";
}

// A prefix watch that (re)opens reads the keys under its prefix; a registration whose key is
// not among them was deleted while nobody watched, and is put back. Verifications that arrive
// together are checked in one pass over the registrations (issue 13): each still judges only
// the keys under its own prefix, nested prefixes included.
TEST_F(EngineTest, VerifiedPrefixesPutBackOnlyTheKeysMissingUnderThem) {
  Make();
  AnswerAdoption({});
  engine_->Upsert(Want("ns", "a", "ua", "a.rpc", 1));
  engine_->Upsert(Want("ns", "b", "ub", "a.rpc", 2));
  engine_->Upsert(Want("ns", "c", "uc", "a.rpc/x", 3));
  engine_->Upsert(Want("ns", "d", "ud", "d.rpc", 4));
  Run();
  client_->GrantAll();
  Run();
  client_->AnswerTxns(true);
  Run();
  for (const char* id : {"ns/a", "ns/b", "ns/c", "ns/d"}) {
    auto s = engine_->Get(id);
    ASSERT_TRUE(s.has_value() && s->phase == Phase::kRegistered) << id;
  }
  ASSERT_TRUE(client_->txns.empty());
  ASSERT_TRUE(client_->ranges.empty());
  std::vector<std::string> watched;
  for (auto& [req, handler] : client_->watches) {
    watched.push_back(req.key());
    pb::WatchResponse created;
    created.set_created(true);
    handler.on_response(created);
  }
  EXPECT_THAT(watched, UnorderedElementsAre("a.rpc/", "a.rpc/x/", "d.rpc/"));
  engine_->loop().RunUntilIdle();
  ASSERT_EQ(client_->ranges.size(), 3u);
  // a.rpc/2 is gone; a.rpc/x/3 is listed under a.rpc/ but missing from its own prefix's read.
  const std::map<std::string, std::vector<std::string>> present = {
      {"a.rpc/", {"a.rpc/1", "a.rpc/x/3"}}, {"a.rpc/x/", {}}, {"d.rpc/", {"d.rpc/4"}}};
  AnswerAll(client_->ranges, [&](const pb::RangeRequest& req) -> absl::StatusOr<pb::RangeResponse> {
    EXPECT_TRUE(req.keys_only());
    pb::RangeResponse r;
    for (const std::string& key : present.at(req.key())) {
      r.add_kvs()->set_key(key);
    }
    return r;
  });
  Run();
  std::vector<std::string> put_back;
  for (const auto& txn : client_->txns) {
    for (const auto& op : txn.req.success()) {
      if (op.has_request_put() && !op.request_put().key().starts_with(kPrefix)) {
        put_back.push_back(op.request_put().key());
      }
    }
  }
  EXPECT_THAT(put_back, UnorderedElementsAre("a.rpc/2", "a.rpc/x/3"));
  client_->AnswerTxns(true);
  Run();
  EXPECT_EQ(engine_->Get("ns/b")->key_reputs, 1);
  EXPECT_EQ(engine_->Get("ns/c")->key_reputs, 1);
  EXPECT_EQ(engine_->Get("ns/a")->key_reputs, 0);
  EXPECT_EQ(engine_->Get("ns/d")->key_reputs, 0);
}

}  // namespace
}  // namespace registrar::publisher
