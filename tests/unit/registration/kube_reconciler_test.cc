// RegistrationReconciler in Kubernetes mode (reconciler.h): finalizer, status on change, the
// 409 path, refusals and events. The API side is a fake ObjectWriter that models one stored
// object with a resourceVersion (a write based on a stale version fails as the API server's
// would); the cache the reconciler reads is a separate copy the test syncs, so a cache behind
// the writes can be played. The engine is a fake whose state the test sets.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/registration/conditions.h"
#include "controller/registration/reconciler.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace registrar::registration {
namespace {

using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kId[] = "shop/order-rpc";

// One log for the engine's and the writer's calls, so tests can assert their order.
using Log = std::vector<std::string>;

class FakeEngine final : public publisher::Engine {
 public:
  explicit FakeEngine(Log& log) : log_(log) {}
  absl::Status Start() override { return absl::OkStatus(); }
  void Stop(bool) override {}
  void Upsert(publisher::Desired desired) override { log_.push_back("Upsert " + desired.id); }
  void Remove(const std::string& id) override { log_.push_back("Remove " + id); }
  void MarkComplete(std::vector<std::string>) override {}
  std::optional<publisher::State> Get(const std::string&) const override { return state; }
  std::vector<publisher::State> List() const override { return {}; }
  publisher::EngineStats stats() const override { return {}; }
  void SetListener(Listener) override {}

  std::optional<publisher::State> state;

 private:
  Log& log_;
};

publisher::State Registered(int64_t lease = 7001) {
  publisher::State s;
  s.id = kId;
  s.phase = publisher::Phase::kRegistered;
  s.cause = publisher::Cause::kRegistered;
  s.full_key = "order.rpc/2";
  s.lease_id = lease;
  s.granted_ttl = 5;
  s.value = "10.0.0.21:9090";
  return s;
}

struct RecordedEvent {
  std::string type, reason, message;
};

// The API server as far as one object goes.
class FakeWriter final : public ObjectWriter {
 public:
  explicit FakeWriter(Log& log) : log_(log) {}

  absl::StatusOr<ServiceRegistration> Get(const std::string&, const std::string&) override {
    log_.push_back("Get");
    if (!stored) {
      return absl::NotFoundError("gone");
    }
    return *stored;
  }
  absl::StatusOr<ServiceRegistration> AddFinalizer(const ServiceRegistration&) override {
    log_.push_back("AddFinalizer");
    if (!stored) {
      return absl::NotFoundError("gone");
    }
    if (stored->metadata.deletion_timestamp) {
      return absl::FailedPreconditionError("being deleted");
    }
    if (!HasOurFinalizer(*stored)) {
      stored->metadata.finalizers.push_back(kFinalizer);
      Bump();
    }
    return *stored;
  }
  absl::Status RemoveFinalizer(const ServiceRegistration&) override {
    log_.push_back("RemoveFinalizer");
    if (!stored) {
      return absl::OkStatus();
    }
    auto& f = stored->metadata.finalizers;
    std::erase(f, std::string(kFinalizer));
    Bump();
    if (f.empty() && stored->metadata.deletion_timestamp) {
      stored.reset();
    }
    return absl::OkStatus();
  }
  absl::StatusOr<ServiceRegistration> WriteStatus(const ServiceRegistration& seen,
                                                  const Status& status) override {
    log_.push_back("WriteStatus " + status.phase);
    if (!stored) {
      return absl::NotFoundError("gone");
    }
    if (seen.metadata.resource_version != stored->metadata.resource_version) {
      return absl::AbortedError("HTTP 409 Conflict: the object has been modified");
    }
    stored->status = status;
    Bump();
    return *stored;
  }
  void Event(const ServiceRegistration& object, EventType type, const std::string& reason,
             const std::string& message) override {
    EXPECT_EQ(object.metadata.uid, "uid-1");
    events.push_back({EventTypeName(type), reason, message});
  }

  void Bump() { stored->metadata.resource_version = std::to_string(++rv_); }
  std::vector<std::string> EventReasons() const {
    std::vector<std::string> out;
    for (const auto& e : events) {
      out.push_back(e.type + "/" + e.reason);
    }
    return out;
  }

  std::optional<ServiceRegistration> stored;
  std::vector<RecordedEvent> events;

 private:
  Log& log_;
  int rv_ = 100;
};

class KubeReconcilerTest : public ::testing::Test {
 protected:
  KubeReconcilerTest()
      : engine_(log_),
        writer_(log_),
        reconciler_(
            DesiredView{[this](const std::string&) -> std::shared_ptr<const ServiceRegistration> {
                          return cache_;
                        },
                        [] { return true; }},
            engine_, policy_, Options()) {}

  ReconcilerOptions Options() {
    ReconcilerOptions o;
    o.mode = SourceMode::kKubernetes;
    o.writer = &writer_;
    o.clock = &clock_;
    return o;
  }

  // Creates the object on the "server" and syncs the cache.
  void Create(ServiceRegistration o = Valid()) {
    writer_.stored = o;
    writer_.Bump();
    Sync();
  }
  static ServiceRegistration Valid() {
    ServiceRegistration o;
    o.metadata.namespace_ = "shop";
    o.metadata.name = "order-rpc";
    o.metadata.uid = "uid-1";
    o.metadata.generation = 1;
    o.spec.key = "order.rpc";
    o.spec.value = "10.0.0.21:9090";
    o.spec.id = 2;
    o.spec.ttl_seconds = 5;
    return o;
  }
  // The watch delivers the server's object to the cache.
  void Sync() {
    cache_ =
        writer_.stored ? std::make_shared<const ServiceRegistration>(*writer_.stored) : nullptr;
  }
  void Delete() {
    writer_.stored->metadata.deletion_timestamp = "2026-01-02T03:04:05Z";
    writer_.stored->metadata.generation += 1;
    writer_.Bump();
    Sync();
  }
  absl::StatusOr<runtime::Reconciler::Result> Reconcile() {
    log_.clear();
    return reconciler_.Reconcile(kId);
  }

  Log log_;
  FakeEngine engine_;
  FakeWriter writer_;
  registrar::testing::FakeClock clock_;
  config::Policy policy_;
  std::shared_ptr<const ServiceRegistration> cache_;
  RegistrationReconciler reconciler_;
};

TEST_F(KubeReconcilerTest, FinalizerIsAddedBeforeTheFirstUpsert) {
  Create();
  auto result = Reconcile();
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(log_, ElementsAre("AddFinalizer", "Upsert shop/order-rpc"));
  EXPECT_THAT(writer_.stored->metadata.finalizers, ElementsAre("registrar.dev/revoke"));
}

// A new object costs one status write, not two: Pending/Registering is not written while the
// engine is probably about to register the key (its listener re-queues the object then).
TEST_F(KubeReconcilerTest, RegisteringIsWrittenOnlyAfterItsGrace) {
  Create();
  auto result = Reconcile();  // the engine has not looked at it yet
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(log_, ElementsAre("AddFinalizer", "Upsert shop/order-rpc"));
  EXPECT_EQ(result->requeue_after, std::chrono::seconds(5)) << "looked at again after the grace";
  Sync();
  clock_.Advance(std::chrono::seconds(2));
  engine_.state = publisher::State{};  // granting: Pending/Registering
  result = Reconcile();
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc"));
  EXPECT_EQ(result->requeue_after, std::chrono::seconds(3)) << "the rest of the grace";
  clock_.Advance(std::chrono::seconds(3));  // etcd is slow: now the user sees Pending
  result = Reconcile();
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc", "WriteStatus Pending"));
  EXPECT_EQ(result->requeue_after, std::chrono::seconds(300));
  EXPECT_THAT(writer_.events, IsEmpty());
}

// --resync-period 0 means never: no periodic requeue, but the grace and the Secret recheck
// still bring the object back when they are due.
TEST_F(KubeReconcilerTest, ResyncZeroMeansNoPeriodicRequeue) {
  ReconcilerOptions options = Options();
  options.resync = std::chrono::seconds(0);
  RegistrationReconciler reconciler(
      DesiredView{[this](const std::string&) -> std::shared_ptr<const ServiceRegistration> {
                    return cache_;
                  },
                  [] { return true; }},
      engine_, policy_, options);
  Create();
  auto result = reconciler.Reconcile(kId);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->requeue_after, std::chrono::seconds(5)) << "looked at again after the grace";
  Sync();
  clock_.Advance(std::chrono::seconds(5));
  engine_.state = publisher::State{};  // granting: Pending/Registering
  result = reconciler.Reconcile(kId);
  ASSERT_THAT(result, IsOk());
  ASSERT_FALSE(log_.empty());
  EXPECT_EQ(log_.back(), "WriteStatus Pending");
  EXPECT_FALSE(result->requeue_after.has_value()) << "no periodic requeue with resync 0";
}

TEST_F(KubeReconcilerTest, RegisteredWithinTheGraceIsTheOnlyStatusWrite) {
  Create();
  ASSERT_THAT(Reconcile(), IsOk());
  Sync();
  engine_.state = Registered();
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc", "WriteStatus Registered"));
  EXPECT_THAT(writer_.EventReasons(), ElementsAre("Normal/Registered"));
}

// A restart: the object already says Registered, the new engine has not adopted its lease yet.
TEST_F(KubeReconcilerTest, RestartAdoptingARegisteredObjectWritesNothing) {
  ServiceRegistration o = Valid();
  o.metadata.finalizers = {kFinalizer};
  Create(o);
  engine_.state = Registered();
  ASSERT_THAT(Reconcile(), IsOk());  // the status of the run before the restart
  Sync();
  RegistrationReconciler restarted(
      DesiredView{[this](const std::string&) -> std::shared_ptr<const ServiceRegistration> {
                    return cache_;
                  },
                  [] { return true; }},
      engine_, policy_, Options());
  const size_t events = writer_.events.size();
  engine_.state.reset();  // the engine has not handled the Upsert yet
  log_.clear();
  ASSERT_THAT(restarted.Reconcile(kId), IsOk());
  engine_.state = Registered();  // adopted: same lease, Registered
  ASSERT_THAT(restarted.Reconcile(kId), IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc", "Upsert shop/order-rpc"))
      << "no status write: no Ready flicker";
  EXPECT_EQ(writer_.events.size(), events) << "no second Registered event";
}

TEST_F(KubeReconcilerTest, NoFinalizerIsAddedToATerminatingObject) {
  ServiceRegistration o = Valid();
  o.metadata.finalizers = {"example.com/other"};
  Create(o);
  Delete();
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Remove shop/order-rpc"));  // no API write at all
  EXPECT_THAT(writer_.stored->metadata.finalizers, ElementsAre("example.com/other"));
}

TEST_F(KubeReconcilerTest, DeletedBeforeTheFinalizerLandedIsNotRegistered) {
  Create();
  writer_.stored->metadata.deletion_timestamp = "2026-01-02T03:04:05Z";  // cache does not know
  auto result = Reconcile();
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(log_, ElementsAre("AddFinalizer", "Remove shop/order-rpc"));
  EXPECT_EQ(result->requeue_after, std::chrono::seconds(1));
}

TEST_F(KubeReconcilerTest, FinalizerIsRemovedOnlyAfterTheEngineLetGo) {
  Create();
  engine_.state = Registered();
  ASSERT_THAT(Reconcile(), IsOk());
  Sync();
  Delete();
  engine_.state->phase = publisher::Phase::kTerminating;
  engine_.state->cause = publisher::Cause::kRevoking;
  auto result = Reconcile();
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(log_, ElementsAre("Remove shop/order-rpc", "WriteStatus Terminating"));
  EXPECT_EQ(result->requeue_after, std::chrono::seconds(1));
  // Still revoking: polled again, nothing written again.
  Sync();
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Remove shop/order-rpc"));
  // The engine let go: Revoked, then our finalizer is removed and the object goes.
  engine_.state.reset();
  result = Reconcile();
  ASSERT_THAT(result, IsOk());
  EXPECT_FALSE(result->requeue_after.has_value());
  EXPECT_THAT(log_, ElementsAre("Remove shop/order-rpc", "RemoveFinalizer"));
  EXPECT_FALSE(writer_.stored.has_value());
  ASSERT_FALSE(writer_.events.empty());
  EXPECT_EQ(writer_.events.back().type, "Normal");
  EXPECT_EQ(writer_.events.back().reason, "Revoked");
  EXPECT_EQ(writer_.events.back().message, "lease revoked; key order.rpc/2 removed from etcd");
}

TEST_F(KubeReconcilerTest, RevokeThatEtcdNeverAnsweredIsAWarning) {
  Create();
  engine_.state = Registered();
  ASSERT_THAT(Reconcile(), IsOk());
  Sync();
  Delete();
  engine_.state->phase = publisher::Phase::kTerminating;
  engine_.state->cause = publisher::Cause::kEtcdUnavailable;
  engine_.state->message = "connection refused";
  ASSERT_THAT(Reconcile(), IsOk());
  Sync();
  engine_.state.reset();  // one TTL passed
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Remove shop/order-rpc", "RemoveFinalizer"));
  ASSERT_FALSE(writer_.events.empty());
  EXPECT_EQ(writer_.events.back().type, "Warning");
  EXPECT_EQ(writer_.events.back().reason, "Revoked");
  EXPECT_THAT(writer_.events.back().message, HasSubstr("connection refused"));
  EXPECT_THAT(writer_.events.back().message, HasSubstr("keeps retrying the revoke"));
}

TEST_F(KubeReconcilerTest, StatusIsWrittenOnlyWhenItChanges) {
  Create();
  engine_.state = Registered();
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("AddFinalizer", "Upsert shop/order-rpc", "WriteStatus Registered"));
  Sync();
  // Same engine state, later, after lease renewals: nothing to write.
  clock_.Advance(std::chrono::minutes(3));
  engine_.state->last_renewal = clock_.WallNow();
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc"));
  const Status& s = writer_.stored->status;
  EXPECT_EQ(s.phase, "Registered");
  EXPECT_EQ(s.full_key, "order.rpc/2");
  EXPECT_EQ(s.lease_id, "7001");
  EXPECT_EQ(s.granted_ttl, 5);
  EXPECT_EQ(s.observed_generation, 1);
}

TEST_F(KubeReconcilerTest, ACacheBehindOurOwnWritesCausesNoSecondWrite) {
  Create();
  engine_.state = Registered();
  ASSERT_THAT(Reconcile(), IsOk());
  // The watch has not delivered our finalizer and status yet: the cache still has neither.
  clock_.Advance(std::chrono::seconds(10));
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc"));
  // The engine's state changes while the cache is still behind: the write is based on ours.
  engine_.state->phase = publisher::Phase::kPending;
  engine_.state->cause = publisher::Cause::kEtcdUnavailable;
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc", "WriteStatus Pending"));
}

TEST_F(KubeReconcilerTest, ConflictOnStatusReReadsAndRetries) {
  Create();
  ASSERT_THAT(Reconcile(), IsOk());  // finalizer + Pending
  Sync();
  writer_.stored->metadata.labels["team"] = "shop";  // someone else writes; same generation
  writer_.Bump();
  engine_.state = Registered();
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc", "WriteStatus Registered", "Get",
                                "WriteStatus Registered"));
  EXPECT_EQ(writer_.stored->status.phase, "Registered");
  EXPECT_EQ(writer_.stored->metadata.labels["team"], "shop");
  // The cache still has the view that got the 409: nothing is tried again.
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc"));
}

TEST_F(KubeReconcilerTest, ConflictWithANewerSpecWritesNothing) {
  Create();
  ASSERT_THAT(Reconcile(), IsOk());
  Sync();
  Status pending = writer_.stored->status;
  writer_.stored->spec.value = "10.0.0.99:9090";  // a newer spec, not yet in the cache
  writer_.stored->metadata.generation = 2;
  writer_.Bump();
  engine_.state = Registered();
  auto result = Reconcile();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc", "WriteStatus Registered", "Get"));
  EXPECT_EQ(writer_.stored->status, pending);  // generation 1's status did not land on 2
}

TEST_F(KubeReconcilerTest, EtcdTargetIsRefusedAndNeverUpserted) {
  ServiceRegistration o = Valid();
  o.spec.etcd.emplace();
  o.spec.etcd->endpoints = {"etcd-0.etcd:2379"};
  Create(o);
  auto result = Reconcile();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log_, ElementsAre("Remove shop/order-rpc", "WriteStatus Failed"));
  const Status& s = writer_.stored->status;
  ASSERT_EQ(s.conditions.size(), 3u);
  EXPECT_EQ(s.conditions[2].type, "Stalled");
  EXPECT_EQ(s.conditions[2].status, "True");
  EXPECT_EQ(s.conditions[2].reason, "EtcdTargetUnsupported");
  EXPECT_THAT(s.conditions[2].message, HasSubstr("remove spec.etcd"));
  EXPECT_THAT(writer_.EventReasons(), ElementsAre("Warning/EtcdTargetUnsupported"));
  // Reconciled again (resync, restart): no second write, no second event.
  Sync();
  EXPECT_FALSE(Reconcile().ok());
  EXPECT_THAT(log_, ElementsAre("Remove shop/order-rpc"));
  EXPECT_EQ(writer_.events.size(), 1u);
}

TEST_F(KubeReconcilerTest, ValueFromIsRefusedAndNeverUpserted) {
  ServiceRegistration o = Valid();
  o.spec.value.reset();
  o.spec.value_from.emplace();
  o.spec.value_from->service_ref = {"order", "grpc"};
  o.spec.id = 0;  // valueFrom gives every endpoint key/<leaseID>
  Create(o);
  EXPECT_THAT(Reconcile(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log_, ElementsAre("Remove shop/order-rpc", "WriteStatus Failed"));
  const Status& s = writer_.stored->status;
  ASSERT_EQ(s.conditions.size(), 3u);
  EXPECT_EQ(s.conditions[2].type, "Stalled");
  EXPECT_EQ(s.conditions[2].reason, "ValueFromUnsupported");
  EXPECT_THAT(s.conditions[2].message, HasSubstr("set spec.value"));
  EXPECT_THAT(writer_.EventReasons(), ElementsAre("Warning/ValueFromUnsupported"));
}

TEST_F(KubeReconcilerTest, PolicyDenialIsKeyNotAllowedOnTheObject) {
  config::PolicyRule rule;
  rule.namespaces = {"shop"};
  rule.keys = {"payment.*"};
  rule.source = "policy.yaml line 2";
  policy_ = config::Policy({rule});
  Create();
  EXPECT_THAT(Reconcile(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(log_, ElementsAre("Remove shop/order-rpc", "WriteStatus Failed"));
  EXPECT_EQ(writer_.stored->status.conditions[2].reason, "KeyNotAllowed");
  EXPECT_THAT(writer_.EventReasons(), ElementsAre("Warning/KeyNotAllowed"));
}

TEST_F(KubeReconcilerTest, EventsFollowTheEngine) {
  Create();
  ASSERT_THAT(Reconcile(), IsOk());  // Pending: no event
  EXPECT_THAT(writer_.events, IsEmpty());
  Sync();
  engine_.state = Registered();
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(writer_.EventReasons(), ElementsAre("Normal/Registered"));
  Sync();
  // Someone deleted the key; the engine put it back: no status change, one event.
  engine_.state->key_reputs = 1;
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc"));
  EXPECT_THAT(writer_.EventReasons(), ElementsAre("Normal/Registered", "Warning/KeyRePut"));
  ASSERT_THAT(Reconcile(), IsOk());  // seen already
  EXPECT_EQ(writer_.events.size(), 2u);
  // The lease was lost and a new one granted between two looks.
  *engine_.state = Registered(7002);
  engine_.state->key_reputs = 1;
  engine_.state->reregistrations = 1;
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Upsert shop/order-rpc", "WriteStatus Registered"));
  EXPECT_THAT(writer_.EventReasons(),
              ElementsAre("Normal/Registered", "Warning/KeyRePut", "Warning/LeaseLost"));
  EXPECT_THAT(writer_.events.back().message, HasSubstr("lease 7002"));
  // Paused.
  Sync();
  writer_.stored->spec.paused = true;
  writer_.stored->metadata.generation = 2;
  writer_.Bump();
  Sync();
  engine_.state = publisher::State{};
  engine_.state->phase = publisher::Phase::kPaused;
  engine_.state->cause = publisher::Cause::kPaused;
  engine_.state->key_reputs = 1;
  engine_.state->reregistrations = 1;
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_EQ(writer_.events.back().reason, "Paused");
  EXPECT_EQ(writer_.stored->status.observed_generation, 2);
}

TEST_F(KubeReconcilerTest, GoneObjectIsRemovedWithoutApiWrites) {
  Create();
  ASSERT_THAT(Reconcile(), IsOk());
  writer_.stored.reset();
  Sync();
  ASSERT_THAT(Reconcile(), IsOk());
  EXPECT_THAT(log_, ElementsAre("Remove shop/order-rpc"));
}

}  // namespace
}  // namespace registrar::registration
