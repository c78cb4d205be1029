// KubeObjectWriter against the real kube-apiserver 1.34 (KubeControlPlane::Shared(), crds/
// applied), through the product's REST client (kube::NewClient): finalizers never clobber
// another controller's, no finalizer on an object being deleted, the conditional status write,
// and Events aggregated as `kubectl describe` shows them.
#include "controller/registration/kube_object_writer.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/kube/api.h"
#include "controller/kube/api_status.h"
#include "controller/registration/conditions.h"
#include "tests/integration/kube/kube_api_harness.h"
#include "tests/integration/registration/admin_client.h"
#include "tests/testing/wait.h"

namespace registrar::registration {
namespace {

using json = nlohmann::json;
using kube_testing::HttpResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kMerge[] = "application/merge-patch+json";

class ObjectWriterTest : public testing::AdminApiTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(NewNamespace("writer"));
    api_ = std::make_unique<kube::Api>(*client_);
    EventRecorderOptions events;
    events.instance = "test-host";
    writer_ = std::make_unique<KubeObjectWriter>(*api_, RealClock::Get(), events);
  }

  std::string Item(const std::string& name) const {
    return "/apis/registrar.dev/v1alpha1/namespaces/" + ns_ + "/serviceregistrations/" + name;
  }
  // Creates ns_/name with `finalizers` and returns it as the writer decodes it.
  ServiceRegistration Create(const std::string& name, json finalizers = json::array()) {
    json meta = {{"name", name}};
    if (!finalizers.empty()) {
      meta["finalizers"] = finalizers;
    }
    json body = {{"apiVersion", "registrar.dev/v1alpha1"},
                 {"kind", "ServiceRegistration"},
                 {"metadata", meta},
                 {"spec", {{"key", "user.rpc"}, {"value", "10.0.0.12:8081"}, {"id", 42}}}};
    HttpResponse r = backend_->http().Post(
        "/apis/registrar.dev/v1alpha1/namespaces/" + ns_ + "/serviceregistrations", body);
    EXPECT_EQ(r.status, 201) << r.body;
    auto object = writer_->Get(ns_, name);
    EXPECT_TRUE(object.ok()) << object.status();
    return object.ok() ? *object : ServiceRegistration{};
  }
  // Another controller (or a person) changes the finalizers.
  void SetFinalizers(const std::string& name, json finalizers) {
    HttpResponse r =
        backend_->http().Patch(Item(name), kMerge, {{"metadata", {{"finalizers", finalizers}}}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  json Stored(const std::string& name) const { return backend_->http().Get(Item(name)).json(); }

  static Status RegisteredStatus() {
    Status s;
    s.observed_generation = 1;
    s.phase = kPhaseRegistered;
    s.full_key = "user.rpc/42";
    s.lease_id = "7587869541230001234";
    s.granted_ttl = 10;
    s.value = "10.0.0.12:8081";
    for (const char* type : {kConditionReady, kConditionReconciling, kConditionStalled}) {
      Condition c;
      c.type = type;
      c.status = std::string(type) == kConditionReady ? kConditionTrue : kConditionFalse;
      c.reason = kReasonRegistered;
      c.message = "key user.rpc/42 is live in etcd";
      c.observed_generation = 1;
      c.last_transition_time = "2026-01-02T03:04:05Z";
      s.conditions.push_back(c);
    }
    return s;
  }

  std::unique_ptr<kube::Api> api_;
  std::unique_ptr<KubeObjectWriter> writer_;
};

TEST_F(ObjectWriterTest, FinalizerAddedAndRemovedBesideAForeignOne) {
  ServiceRegistration seen = Create("a", {"example.com/other"});
  auto added = writer_->AddFinalizer(seen);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->metadata.finalizers, ElementsAre("example.com/other", "registrar.dev/revoke"));
  EXPECT_NE(added->metadata.resource_version, seen.metadata.resource_version);
  // Idempotent: already there, nothing written.
  auto again = writer_->AddFinalizer(*added);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->metadata.resource_version, added->metadata.resource_version);
  ASSERT_TRUE(writer_->RemoveFinalizer(*added).ok());
  EXPECT_EQ(Stored("a")["metadata"]["finalizers"], json({"example.com/other"}));
}

TEST_F(ObjectWriterTest, AddFinalizerOnAStaleViewKeepsWhatOthersAdded) {
  ServiceRegistration seen = Create("a");  // no finalizers as seen
  SetFinalizers("a", {"example.com/other"});
  auto added = writer_->AddFinalizer(seen);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(Stored("a")["metadata"]["finalizers"],
            json({"example.com/other", "registrar.dev/revoke"}));
}

TEST_F(ObjectWriterTest, RemoveFinalizerOnAChangedListRemovesOnlyOurs) {
  ServiceRegistration seen = Create("a", {"registrar.dev/revoke", "example.com/other"});
  // Someone puts another finalizer in front: ours moved from index 0 to 1.
  SetFinalizers("a", {"example.com/first", "registrar.dev/revoke", "example.com/other"});
  ASSERT_TRUE(writer_->RemoveFinalizer(seen).ok());
  EXPECT_EQ(Stored("a")["metadata"]["finalizers"],
            json({"example.com/first", "example.com/other"}));
  // Gone already (or the object gone): OK.
  EXPECT_TRUE(writer_->RemoveFinalizer(seen).ok());
}

TEST_F(ObjectWriterTest, RemovingTheLastFinalizerOfATerminatingObjectLetsItGo) {
  ServiceRegistration seen = Create("a", {"registrar.dev/revoke"});
  ASSERT_EQ(backend_->http().Delete(Item("a")).status, 200);
  ASSERT_TRUE(writer_->RemoveFinalizer(seen).ok());
  EXPECT_EQ(backend_->http().Get(Item("a")).status, 404);
}

TEST_F(ObjectWriterTest, NoFinalizerIsAddedToAnObjectBeingDeleted) {
  ServiceRegistration seen = Create("a", {"example.com/other"});
  HttpResponse del = backend_->http().Delete(Item("a"));
  ASSERT_EQ(del.status, 200) << del.body;
  // A view from before the deletion: the server refuses (422), the re-read says terminating.
  auto added = writer_->AddFinalizer(seen);
  EXPECT_EQ(added.status().code(), absl::StatusCode::kFailedPrecondition) << added.status();
  // A terminating view is not even tried.
  auto fresh = writer_->Get(ns_, "a");
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE(fresh->metadata.deletion_timestamp.has_value());
  EXPECT_EQ(writer_->AddFinalizer(*fresh).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Stored("a")["metadata"]["finalizers"], json({"example.com/other"}));
}

TEST_F(ObjectWriterTest, StatusWriteIsConditionalOnTheResourceVersion) {
  ServiceRegistration seen = Create("a");
  auto written = writer_->WriteStatus(seen, RegisteredStatus());
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->status, RegisteredStatus());
  // The spec changed since `written` was read: a status for the old spec is refused.
  ASSERT_EQ(
      backend_->http().Patch(Item("a"), kMerge, {{"spec", {{"value", "10.0.0.13:8081"}}}}).status,
      200);
  Status failed;
  failed.phase = kPhaseFailed;
  auto stale = writer_->WriteStatus(*written, failed);
  EXPECT_TRUE(kube::IsConflict(stale.status())) << stale.status();
  EXPECT_EQ(Stored("a")["status"]["phase"], "Registered");
  // From a fresh read it lands, and fields the new status leaves out are cleared.
  auto fresh = writer_->Get(ns_, "a");
  ASSERT_TRUE(fresh.ok());
  failed.observed_generation = 2;
  auto rewritten = writer_->WriteStatus(*fresh, failed);
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();
  json status = Stored("a")["status"];
  EXPECT_EQ(status, json({{"phase", "Failed"}, {"observedGeneration", 2}})) << status.dump();
}

TEST_F(ObjectWriterTest, EventsAreAggregatedAndShownByKubectlDescribe) {
  ServiceRegistration seen = Create("user-rpc");
  writer_->Event(seen, EventType::kWarning, kReasonKeyConflict,
                 "key user.rpc/42 is held by lease 99 without our ownership record");
  writer_->events().Flush();
  writer_->Event(seen, EventType::kWarning, kReasonKeyConflict,
                 "key user.rpc/42 is held by lease 99 without our ownership record");
  writer_->Event(seen, EventType::kNormal, kReasonRegistered, "key user.rpc/42 is live in etcd");
  writer_->events().Flush();
  EXPECT_EQ(writer_->events().dropped(), 0);

  HttpResponse list =
      backend_->http().Get("/api/v1/namespaces/" + ns_ +
                           "/events?fieldSelector=involvedObject.uid%3D" + seen.metadata.uid);
  ASSERT_EQ(list.status, 200) << list.body;
  json items = list.json()["items"];
  ASSERT_EQ(items.size(), 2u) << items.dump();
  for (const json& e : items) {
    EXPECT_EQ(e["involvedObject"]["kind"], "ServiceRegistration");
    EXPECT_EQ(e["involvedObject"]["apiVersion"], "registrar.dev/v1alpha1");
    EXPECT_EQ(e["involvedObject"]["name"], "user-rpc");
    EXPECT_EQ(e["source"]["component"], "etcd-registrar");
    EXPECT_EQ(e["reportingComponent"], "etcd-registrar");
    EXPECT_EQ(e["reportingInstance"], "test-host");
    EXPECT_THAT(e["metadata"]["name"].get<std::string>(), HasSubstr("user-rpc."));
    if (e["reason"] == "KeyConflict") {
      EXPECT_EQ(e["count"], 2);
      EXPECT_EQ(e["type"], "Warning");
    } else {
      EXPECT_EQ(e["reason"], "Registered");
      EXPECT_EQ(e["count"], 1);
      EXPECT_EQ(e["type"], "Normal");
    }
  }
  auto described = backend_->plane().Kubectl({"describe", "sreg", "-n", ns_, "user-rpc"});
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_THAT(*described, HasSubstr("Events:"));
  EXPECT_THAT(*described, ::testing::ContainsRegex("Warning +KeyConflict +.*\\(x2 over"));
  EXPECT_THAT(*described, HasSubstr("etcd-registrar"));
  EXPECT_THAT(*described, HasSubstr("key user.rpc/42 is held by lease 99"));
  EXPECT_THAT(*described, ::testing::ContainsRegex("Normal +Registered"));
}

}  // namespace
}  // namespace registrar::registration
