// The Kubernetes mode of RegistrationReconciler end to end, as the controller wires it: real
// kube-apiserver (shared control plane, crds/ applied) through kube::NewClient, the real engine
// on a real etcd (one per test), a WorkQueue + ControllerLoop, and the engine's Listener
// re-queueing the identity. The test plays the watcher: it queues an identity after each change
// it makes, and the DesiredView reads the object with a GET (an up-to-date cache).
#include <atomic>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/kube/api.h"
#include "controller/publisher/engine.h"
#include "controller/registration/kube_object_writer.h"
#include "controller/registration/reconciler.h"
#include "controller/runtime/controller_loop.h"
#include "controller/runtime/work_queue.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/integration/kube/kube_api_harness.h"
#include "tests/integration/registration/admin_client.h"
#include "tests/testing/wait.h"

namespace registrar::registration {
namespace {

using json = nlohmann::json;
using registrar::testing::EtcdProcess;
using registrar::testing::WaitFor;
using std::chrono::seconds;

class KubeReconcileTest : public testing::AdminApiTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(NewNamespace("reconcile"));
    auto etcd = EtcdProcess::Start();
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = std::move(*etcd);
    api_ = std::make_unique<kube::Api>(*client_);
    writer_ = std::make_unique<KubeObjectWriter>(*api_, RealClock::Get());
    publisher::EngineOptions eo;
    eo.default_target = etcd_->client_options();
    eo.owner_id = "test-owner";
    eo.cluster = "test-cluster";
    engine_ = publisher::NewEngine(eo, RealClock::Get());
    queue_ = std::make_unique<runtime::WorkQueue>(RealClock::Get());
    engine_->SetListener([this](const std::string& id) { queue_->Add(id); });
    ASSERT_TRUE(engine_->Start().ok());
    ReconcilerOptions ro;
    ro.mode = SourceMode::kKubernetes;
    ro.writer = writer_.get();
    reconciler_ = std::make_unique<RegistrationReconciler>(
        DesiredView{[this](const std::string& id) -> std::shared_ptr<const ServiceRegistration> {
                      auto slash = id.find('/');
                      auto o = writer_->Get(id.substr(0, slash), id.substr(slash + 1));
                      return o.ok() ? std::make_shared<const ServiceRegistration>(*o) : nullptr;
                    },
                    [] { return true; }},
        *engine_, policy_, ro);
    runtime::ControllerLoop::Hooks hooks;
    hooks.reconciled = [this](std::string_view, double) { ++reconciles_; };
    loop_ = std::make_unique<runtime::ControllerLoop>("test", *queue_, *reconciler_,
                                                      RealClock::Get(), 2, hooks);
    loop_->Start();
  }
  void TearDown() override {
    if (loop_) {
      loop_->Stop();
    }
    if (engine_) {
      engine_->Stop(/*revoke=*/false);
    }
  }

  std::string Coll() const {
    return "/apis/registrar.dev/v1alpha1/namespaces/" + ns_ + "/serviceregistrations";
  }
  std::string Item(const std::string& name) const { return Coll() + "/" + name; }
  std::string Id(const std::string& name) const { return ns_ + "/" + name; }
  void Create(const std::string& name, json spec, json finalizers = json::array()) {
    json meta = {{"name", name}};
    if (!finalizers.empty()) {
      meta["finalizers"] = finalizers;
    }
    auto r = backend_->http().Post(Coll(), {{"apiVersion", "registrar.dev/v1alpha1"},
                                            {"kind", "ServiceRegistration"},
                                            {"metadata", meta},
                                            {"spec", spec}});
    ASSERT_EQ(r.status, 201) << r.body;
    queue_->Add(Id(name));  // the watcher's ADDED
  }
  void Delete(const std::string& name) {
    ASSERT_EQ(backend_->http().Delete(Item(name)).status, 200);
    queue_->Add(Id(name));  // the watcher's MODIFIED
  }
  json Stored(const std::string& name) const { return backend_->http().Get(Item(name)).json(); }
  int StoredCode(const std::string& name) const { return backend_->http().Get(Item(name)).status; }
  std::string Phase(const std::string& name) const {
    json o = Stored(name);
    return o.contains("status") ? o["status"].value("phase", "") : "";
  }
  std::string EtcdGet(const std::string& key) const {
    auto out = etcd_->Etcdctl({"get", key, "--print-value-only"});
    return out.ok() ? *out : "<etcdctl failed: " + std::string(out.status().message()) + ">";
  }
  // "Type/Reason xCount" of every Event about `name`.
  std::vector<std::string> Events(const std::string& name) const {
    json items = backend_->http()
                     .Get("/api/v1/namespaces/" + ns_ +
                          "/events?fieldSelector=involvedObject.name%3D" + name)
                     .json()["items"];
    std::vector<std::string> out;
    for (const json& e : items) {
      out.push_back(e["type"].get<std::string>() + "/" + e["reason"].get<std::string>() + " x" +
                    std::to_string(e["count"].get<int>()));
    }
    return out;
  }

  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<kube::Api> api_;
  std::unique_ptr<KubeObjectWriter> writer_;
  publisher::EnginePtr engine_;
  std::unique_ptr<runtime::WorkQueue> queue_;
  config::Policy policy_;
  std::unique_ptr<RegistrationReconciler> reconciler_;
  std::unique_ptr<runtime::ControllerLoop> loop_;
  std::atomic<int> reconciles_{0};
};

TEST_F(KubeReconcileTest, RegisteredWithFinalizerAndStatusRenewalsWriteNothingDeleteRevokes) {
  Create("user-rpc",
         {{"key", "user.rpc"}, {"value", "10.0.0.12:8081"}, {"id", 42}, {"ttlSeconds", 5}});
  ASSERT_TRUE(WaitFor([&] { return Phase("user-rpc") == "Registered"; }, seconds(20)))
      << Stored("user-rpc").dump();
  json o = Stored("user-rpc");
  EXPECT_EQ(o["metadata"]["finalizers"], json({"registrar.dev/revoke"}));
  EXPECT_EQ(o["status"]["fullKey"], "user.rpc/42");
  EXPECT_EQ(o["status"]["observedGeneration"], 1);
  EXPECT_EQ(o["status"]["grantedTTL"], 5);
  EXPECT_FALSE(o["status"]["leaseID"].get<std::string>().empty());
  EXPECT_EQ(o["status"]["conditions"][0]["type"], "Ready");
  EXPECT_EQ(o["status"]["conditions"][0]["status"], "True");
  EXPECT_EQ(EtcdGet("user.rpc/42"), "10.0.0.12:8081\n");
  ASSERT_TRUE(WaitFor([&] { return !Events("user-rpc").empty(); }, seconds(10)));
  EXPECT_THAT(Events("user-rpc"), ::testing::ElementsAre("Normal/Registered x1"));

  // Two lease renewals and two resyncs later, the object has not been written again.
  std::string rv = o["metadata"]["resourceVersion"];
  auto renewed = engine_->Get(Id("user-rpc"))->last_renewal;
  ASSERT_TRUE(
      WaitFor([&] { return engine_->Get(Id("user-rpc"))->last_renewal != renewed; }, seconds(10)));
  renewed = engine_->Get(Id("user-rpc"))->last_renewal;
  ASSERT_TRUE(
      WaitFor([&] { return engine_->Get(Id("user-rpc"))->last_renewal != renewed; }, seconds(10)));
  for (int i = 0; i < 2; ++i) {  // as a periodic resync would
    int before = reconciles_;
    queue_->Add(Id("user-rpc"));
    ASSERT_TRUE(WaitFor([&] { return reconciles_ > before; }, seconds(10)));
  }
  EXPECT_EQ(Stored("user-rpc")["metadata"]["resourceVersion"], rv);

  Delete("user-rpc");
  ASSERT_TRUE(WaitFor([&] { return StoredCode("user-rpc") == 404; }, seconds(20)))
      << Stored("user-rpc").dump();
  EXPECT_EQ(EtcdGet("user.rpc/42"), "");
  ASSERT_TRUE(WaitFor([&] { return Events("user-rpc").size() == 2; }, seconds(10)));
  EXPECT_THAT(Events("user-rpc"),
              ::testing::UnorderedElementsAre("Normal/Registered x1", "Normal/Revoked x1"));
}

TEST_F(KubeReconcileTest, DeletionKeepsAForeignFinalizer) {
  Create("a", {{"key", "a.rpc"}, {"value", "10.0.0.1:1"}, {"id", 1}}, {"example.com/other"});
  ASSERT_TRUE(WaitFor([&] { return Phase("a") == "Registered"; }, seconds(20)));
  EXPECT_EQ(Stored("a")["metadata"]["finalizers"],
            json({"example.com/other", "registrar.dev/revoke"}));
  Delete("a");
  ASSERT_TRUE(
      WaitFor([&] { return Stored("a")["metadata"]["finalizers"] == json({"example.com/other"}); },
              seconds(20)))
      << Stored("a").dump();
  EXPECT_EQ(EtcdGet("a.rpc/1"), "");
  json o = Stored("a");
  EXPECT_TRUE(o["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(o["status"]["phase"], "Terminating");
}

TEST_F(KubeReconcileTest, EtcdTargetIsStalledAndNeverRegistered) {
  Create("b", {{"key", "b.rpc"},
               {"value", "10.0.0.2:2"},
               {"id", 2},
               {"etcd", {{"endpoints", {"etcd-0.etcd:2379"}}}}});
  ASSERT_TRUE(WaitFor([&] { return Phase("b") == "Failed"; }, seconds(20)));
  json o = Stored("b");
  json stalled = o["status"]["conditions"][2];
  EXPECT_EQ(stalled["type"], "Stalled");
  EXPECT_EQ(stalled["status"], "True");
  EXPECT_EQ(stalled["reason"], "EtcdTargetUnsupported");
  EXPECT_FALSE(o["metadata"].contains("finalizers"));
  EXPECT_EQ(EtcdGet("b.rpc/2"), "");
  ASSERT_TRUE(WaitFor([&] { return !Events("b").empty(); }, seconds(10)));
  EXPECT_THAT(Events("b"), ::testing::ElementsAre("Warning/EtcdTargetUnsupported x1"));
}

TEST_F(KubeReconcileTest, DeletionWhileEtcdIsDownLetsTheResourceGoAfterOneTtl) {
  Create("c", {{"key", "c.rpc"}, {"value", "10.0.0.3:3"}, {"id", 3}, {"ttlSeconds", 5}});
  ASSERT_TRUE(WaitFor([&] { return Phase("c") == "Registered"; }, seconds(20)));
  etcd_->Kill();
  auto deleted_at = std::chrono::steady_clock::now();
  Delete("c");
  ASSERT_TRUE(WaitFor([&] { return StoredCode("c") == 404; }, seconds(20)));
  EXPECT_GE(std::chrono::steady_clock::now() - deleted_at, seconds(3));  // not before ~one TTL
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const std::string& e : Events("c")) {
          if (e == "Warning/Revoked x1") {
            return true;
          }
        }
        return false;
      },
      seconds(10)))
      << ::testing::PrintToString(Events("c"));
}

}  // namespace
}  // namespace registrar::registration
