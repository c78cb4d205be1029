// RegistrationReconciler: desired objects -> engine actions (DESIGN.md §1–§3). The engine is a
// recording fake of publisher::Engine (the engine is not etcd; its own tests run against etcd):
// these tests pin what the reconciler hands to it, refuses, and reports.
#include "controller/registration/reconciler.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace registrar::registration {
namespace {

using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Records every call; answers Get/List from what was upserted and not removed.
class RecordingEngine final : public publisher::Engine {
 public:
  absl::Status Start() override { return absl::OkStatus(); }
  void Stop(bool /*revoke*/) override {}
  void Upsert(publisher::Desired desired) override {
    calls.push_back("Upsert " + desired.id);
    upserted.push_back(desired);
  }
  void Remove(const std::string& id) override { calls.push_back("Remove " + id); }
  void MarkComplete(std::vector<std::string>) override { calls.push_back("MarkComplete"); }
  std::optional<publisher::State> Get(const std::string& /*id*/) const override {
    return std::nullopt;
  }
  std::vector<publisher::State> List() const override { return {}; }
  publisher::EngineStats stats() const override { return {}; }
  void SetListener(Listener /*listener*/) override {}

  std::vector<std::string> calls;
  std::vector<publisher::Desired> upserted;
};

// A policy of one rule (namespaces glob, keys glob), as if read from policy.yaml line 2.
config::Policy PolicyOf(const std::string& namespaces, const std::string& keys) {
  config::PolicyRule rule;
  rule.namespaces = {namespaces};
  rule.keys = {keys};
  rule.source = "policy.yaml line 2";
  return config::Policy({rule});
}

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest()
      : reconciler_(
            DesiredView{
                [this](const std::string& id) -> std::shared_ptr<const ServiceRegistration> {
                  auto it = objects_.find(id);
                  return it == objects_.end() ? nullptr : it->second;
                },
                [this] { return synced_; }},
            engine_, policy_, Options()) {}

  static ReconcilerOptions Options() {
    ReconcilerOptions o;
    o.mode = SourceMode::kManifests;
    o.resync = std::chrono::seconds(300);
    return o;
  }

  static ServiceRegistration Valid() {
    ServiceRegistration o;
    o.metadata.namespace_ = "shop";
    o.metadata.name = "order-rpc";
    o.metadata.uid = "manifest:shop/order-rpc";
    o.metadata.generation = 1;
    o.spec.key = "order.rpc";
    o.spec.value = "10.0.0.21:9090";
    o.spec.id = 2;
    o.spec.ttl_seconds = 5;
    return o;
  }

  void Put(const ServiceRegistration& o) {
    objects_[o.Identity()] = std::make_shared<const ServiceRegistration>(o);
  }

  std::map<std::string, std::shared_ptr<const ServiceRegistration>> objects_;
  bool synced_ = true;
  RecordingEngine engine_;
  config::Policy policy_;
  RegistrationReconciler reconciler_;
};

TEST_F(ReconcilerTest, ValidObjectIsUpsertedWithEveryField) {
  Put(Valid());
  auto result = reconciler_.Reconcile("shop/order-rpc");
  ASSERT_THAT(result, IsOk());
  ASSERT_TRUE(result->requeue_after.has_value());  // periodic resync of a live registration
  EXPECT_EQ(*result->requeue_after, std::chrono::seconds(300));
  EXPECT_THAT(engine_.calls, ElementsAre("Upsert shop/order-rpc"));
  const publisher::Desired& d = engine_.upserted.at(0);
  EXPECT_EQ(d.id, "shop/order-rpc");
  EXPECT_EQ(d.key, "order.rpc");
  EXPECT_EQ(d.value, "10.0.0.21:9090");
  EXPECT_EQ(d.key_id, 2);
  EXPECT_EQ(d.ttl, 5);
  EXPECT_FALSE(d.paused);
  EXPECT_FALSE(d.target.has_value());  // the controller's own etcd
  EXPECT_EQ(d.uid, "manifest:shop/order-rpc");
  EXPECT_EQ(d.namespace_, "shop");
  EXPECT_EQ(d.name, "order-rpc");
  EXPECT_FALSE(reconciler_.refusal("shop/order-rpc").has_value());
}

// --resync-period 0 means never: a live registration is not requeued periodically.
TEST_F(ReconcilerTest, ResyncZeroMeansNoPeriodicRequeue) {
  ReconcilerOptions options = Options();
  options.resync = std::chrono::seconds(0);
  RegistrationReconciler reconciler(
      DesiredView{[this](const std::string& id) -> std::shared_ptr<const ServiceRegistration> {
                    auto it = objects_.find(id);
                    return it == objects_.end() ? nullptr : it->second;
                  },
                  [this] { return synced_; }},
      engine_, policy_, options);
  Put(Valid());
  auto result = reconciler.Reconcile("shop/order-rpc");
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(engine_.calls, ElementsAre("Upsert shop/order-rpc"));
  EXPECT_FALSE(result->requeue_after.has_value());
}

TEST_F(ReconcilerTest, PausedIsHandedToTheEngineAsPaused) {
  ServiceRegistration o = Valid();
  o.spec.paused = true;
  Put(o);
  ASSERT_THAT(reconciler_.Reconcile("shop/order-rpc"), IsOk());
  ASSERT_EQ(engine_.upserted.size(), 1u);
  EXPECT_TRUE(engine_.upserted[0].paused);
}

TEST_F(ReconcilerTest, InvalidSpecIsRefusedAsTerminalInvalidSpec) {
  ServiceRegistration o = Valid();
  o.spec.key = "order rpc";
  o.spec.ttl_seconds = 2;
  Put(o);
  auto result = reconciler_.Reconcile("shop/order-rpc");
  // Terminal for the loop (kFailedPrecondition): not retried until the object changes.
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("InvalidSpec"));
  EXPECT_TRUE(engine_.upserted.empty());
  EXPECT_THAT(engine_.calls, ElementsAre("Remove shop/order-rpc"));
  auto refusal = reconciler_.refusal("shop/order-rpc");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->reason, "InvalidSpec");
  EXPECT_THAT(refusal->message, HasSubstr("spec.key"));
  EXPECT_THAT(refusal->message, HasSubstr("spec.ttlSeconds"));
}

TEST_F(ReconcilerTest, ClusterOnlyFieldsAreInvalidInManifestMode) {
  ServiceRegistration o = Valid();
  o.spec.etcd.emplace();
  o.spec.etcd->endpoints = {"etcd-0.etcd:2379"};
  Put(o);
  EXPECT_THAT(reconciler_.Reconcile("shop/order-rpc"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  auto refusal = reconciler_.refusal("shop/order-rpc");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->reason, "InvalidSpec");
  EXPECT_THAT(refusal->message, HasSubstr("spec.etcd"));
  EXPECT_TRUE(engine_.upserted.empty());
}

TEST_F(ReconcilerTest, PolicyDenialIsKeyNotAllowed) {
  policy_ = PolicyOf("shop", "payment.*");
  Put(Valid());
  auto result = reconciler_.Reconcile("shop/order-rpc");
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("KeyNotAllowed"));
  EXPECT_TRUE(engine_.upserted.empty());
  EXPECT_THAT(engine_.calls, ElementsAre("Remove shop/order-rpc"));
  auto refusal = reconciler_.refusal("shop/order-rpc");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->reason, "KeyNotAllowed");
  EXPECT_THAT(refusal->message, HasSubstr("order.rpc"));
  EXPECT_THAT(refusal->message, HasSubstr("policy.yaml line 2"));
}

TEST_F(ReconcilerTest, LiveRegistrationNowForbiddenIsRevoked) {
  policy_ = PolicyOf("*", "order.*");
  Put(Valid());
  ASSERT_THAT(reconciler_.Reconcile("shop/order-rpc"), IsOk());
  ServiceRegistration moved = Valid();
  moved.spec.key = "user.rpc";
  moved.metadata.generation = 2;
  Put(moved);
  EXPECT_THAT(reconciler_.Reconcile("shop/order-rpc"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(engine_.calls, ElementsAre("Upsert shop/order-rpc", "Remove shop/order-rpc"));
}

TEST_F(ReconcilerTest, FixedObjectClearsTheRefusal) {
  ServiceRegistration bad = Valid();
  bad.spec.ttl_seconds = 1;
  Put(bad);
  EXPECT_FALSE(reconciler_.Reconcile("shop/order-rpc").ok());
  ASSERT_TRUE(reconciler_.refusal("shop/order-rpc").has_value());
  Put(Valid());
  ASSERT_THAT(reconciler_.Reconcile("shop/order-rpc"), IsOk());
  EXPECT_FALSE(reconciler_.refusal("shop/order-rpc").has_value());
  EXPECT_THAT(engine_.calls, ElementsAre("Remove shop/order-rpc", "Upsert shop/order-rpc"));
}

TEST_F(ReconcilerTest, AbsentBeforeSyncIsNotDeleted) {
  synced_ = false;
  auto result = reconciler_.Reconcile("shop/order-rpc");
  ASSERT_THAT(result, IsOk());
  EXPECT_FALSE(result->requeue_after.has_value());
  EXPECT_THAT(engine_.calls, IsEmpty());
}

TEST_F(ReconcilerTest, AbsentAfterSyncIsRemoved) {
  Put(Valid());
  ASSERT_THAT(reconciler_.Reconcile("shop/order-rpc"), IsOk());
  objects_.clear();
  auto result = reconciler_.Reconcile("shop/order-rpc");
  ASSERT_THAT(result, IsOk());
  EXPECT_FALSE(result->requeue_after.has_value());
  EXPECT_THAT(engine_.calls, ElementsAre("Upsert shop/order-rpc", "Remove shop/order-rpc"));
}

TEST_F(ReconcilerTest, RemovedObjectForgetsItsRefusal) {
  ServiceRegistration bad = Valid();
  bad.spec.key = "";
  Put(bad);
  EXPECT_FALSE(reconciler_.Reconcile("shop/order-rpc").ok());
  objects_.clear();
  ASSERT_THAT(reconciler_.Reconcile("shop/order-rpc"), IsOk());
  EXPECT_FALSE(reconciler_.refusal("shop/order-rpc").has_value());
}

TEST_F(ReconcilerTest, TerminatingObjectIsRemoved) {
  ServiceRegistration o = Valid();
  o.metadata.deletion_timestamp = "2026-01-02T03:04:05Z";
  Put(o);
  ASSERT_THAT(reconciler_.Reconcile("shop/order-rpc"), IsOk());
  EXPECT_THAT(engine_.calls, ElementsAre("Remove shop/order-rpc"));
  EXPECT_TRUE(engine_.upserted.empty());
}

}  // namespace
}  // namespace registrar::registration
