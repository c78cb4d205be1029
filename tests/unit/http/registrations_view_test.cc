// What /registrations and /metrics show, from plain inputs: declared objects, engine states,
// refusals and source errors (no source, engine or HTTP server involved).
#include "controller/http/registrations_view.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "nlohmann/json.hpp"

namespace registrar::http {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;

const std::chrono::system_clock::time_point kNow =
    std::chrono::system_clock::from_time_t(1'700'000'000);

DeclaredObject Object(const std::string& ns, const std::string& name, const std::string& key,
                      const std::string& value) {
  registration::ServiceRegistration o;
  o.metadata.namespace_ = ns;
  o.metadata.name = name;
  o.metadata.uid = "manifest:" + ns + "/" + name;
  o.metadata.generation = 1;
  o.spec.key = key;
  o.spec.value = value;
  o.spec.ttl_seconds = 5;
  return std::make_shared<const registration::ServiceRegistration>(o);
}

publisher::State Registered(const std::string& id, const std::string& full_key, int64_t lease,
                            const std::string& value) {
  publisher::State s;
  s.id = id;
  s.phase = publisher::Phase::kRegistered;
  s.cause = publisher::Cause::kRegistered;
  s.full_key = full_key;
  s.lease_id = lease;
  s.granted_ttl = 5;
  s.value = value;
  s.last_renewal = kNow;
  return s;
}

std::optional<registration::Refusal> NoRefusal(const std::string&) { return std::nullopt; }

TEST(RegistrationsView, JoinsDeclaredObjectsWithEngineStatesAndListsTheUndeclaredLast) {
  publisher::State revoking = Registered("zz/old", "old.rpc/9", 9, "10.0.0.9:1");
  revoking.phase = publisher::Phase::kTerminating;
  revoking.cause = publisher::Cause::kRevoking;
  auto views = CollectViews(
      {Object("default", "user", "user.rpc", "10.0.0.1:80"),
       Object("shop", "order", "order.rpc", "10.0.0.2:80")},
      {revoking, Registered("default/user", "user.rpc/7", 7, "10.0.0.1:80")}, NoRefusal, kNow);

  ASSERT_THAT(views, ElementsAre(Field(&RegistrationView::id, "default/user"),
                                 Field(&RegistrationView::id, "shop/order"),
                                 Field(&RegistrationView::id, "zz/old")));
  EXPECT_EQ(views[0].status.phase, "Registered");
  EXPECT_EQ(views[0].status.lease_id, "7");
  EXPECT_FALSE(views[1].state.has_value());
  EXPECT_EQ(views[1].status.phase, "Pending");
  EXPECT_EQ(views[2].object, nullptr);
  EXPECT_EQ(views[2].status.phase, "Terminating");
  EXPECT_EQ(views[2].status.full_key, "old.rpc/9");
  EXPECT_EQ(views[2].status.lease_id, "9");
}

TEST(RegistrationsView, JsonHasTheDocumentedFields) {
  auto views = CollectViews({Object("default", "user", "user.rpc", "10.0.0.1:80")},
                            {Registered("default/user", "user.rpc/7", 7, "10.0.0.1:80")},
                            NoRefusal, kNow);
  nlohmann::json doc =
      nlohmann::json::parse(RegistrationsJson(views, {{"/m/bad.yaml", "line 3: not YAML"}}));
  ASSERT_EQ(doc["registrations"].size(), 1u);
  const nlohmann::json& r = doc["registrations"][0];
  EXPECT_EQ(r["namespace"], "default");
  EXPECT_EQ(r["name"], "user");
  EXPECT_EQ(r["key"], "user.rpc");
  EXPECT_EQ(r["fullKey"], "user.rpc/7");
  EXPECT_EQ(r["leaseID"], "7");
  EXPECT_EQ(r["value"], "10.0.0.1:80");
  EXPECT_EQ(r["grantedTTL"], 5);
  EXPECT_EQ(r["paused"], false);
  EXPECT_EQ(r["phase"], "Registered");
  EXPECT_EQ(r["reason"], "Registered");
  EXPECT_EQ(r["lastError"], "");
  EXPECT_EQ(r["lastRenewal"], registration::FormatTime(kNow));
  EXPECT_EQ(doc["sourceErrors"]["/m/bad.yaml"], "line 3: not YAML");
}

TEST(RegistrationsView, ARefusalIsShownAsTheLastErrorWithTheDeclaredValue) {
  auto views = CollectViews(
      {Object("default", "user", "user.rpc", "10.0.0.1:80")}, {},
      [](const std::string& id) -> std::optional<registration::Refusal> {
        if (id != "default/user") {
          return std::nullopt;
        }
        return registration::Refusal{"KeyNotAllowed", "key user.rpc is not allowed"};
      },
      kNow);
  nlohmann::json r = nlohmann::json::parse(RegistrationsJson(views, {}))["registrations"][0];
  EXPECT_EQ(r["phase"], "Failed");
  EXPECT_EQ(r["reason"], "KeyNotAllowed");
  EXPECT_EQ(r["lastError"], "key user.rpc is not allowed");
  EXPECT_EQ(r["value"], "10.0.0.1:80");
  EXPECT_EQ(r["leaseID"], "");
  EXPECT_TRUE(r["lastRenewal"].is_null());
}

TEST(RegistrationsView, MetricsCountEveryPhaseAndAddOnlyTheEngineCountersIncrease) {
  Registry registry;
  RegistrarMetrics metrics(registry);
  RegistrationMetrics refresh(metrics);
  auto views = CollectViews({Object("default", "a", "a.rpc", "v:1"),
                             Object("default", "b", "b.rpc", "v:2")},
                            {Registered("default/a", "a.rpc/1", 1, "v:1")}, NoRefusal, kNow);
  publisher::EngineStats stats;
  stats.lease_losses = 2;
  stats.reregistrations = 1;
  stats.pending_revokes = 3;
  refresh.Refresh(views, stats);
  EXPECT_EQ(metrics.pending_revokes.Value({}), 3);
  EXPECT_EQ(metrics.registrations.Value({"Registered"}), 1);
  EXPECT_EQ(metrics.registrations.Value({"Pending"}), 1);
  EXPECT_EQ(metrics.registrations.Value({"Failed"}), 0);
  EXPECT_EQ(metrics.registrations.Value({"Terminating"}), 0);
  EXPECT_EQ(metrics.lease_losses_total.Value(), 2);

  stats.lease_losses = 5;
  stats.key_reputs = 4;
  stats.pending_revokes = 0;
  refresh.Refresh({}, stats);
  EXPECT_EQ(metrics.pending_revokes.Value({}), 0);
  EXPECT_EQ(metrics.lease_losses_total.Value(), 5);
  EXPECT_EQ(metrics.reregistrations_total.Value(), 1);
  EXPECT_EQ(metrics.key_reputs_total.Value(), 4);
  EXPECT_EQ(metrics.registrations.Value({"Registered"}), 0);
}

}  // namespace
}  // namespace registrar::http
