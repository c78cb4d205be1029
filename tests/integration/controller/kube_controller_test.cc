// End-to-end tests of the controller's Kubernetes mode (issue 11): the etcd-registrar binary
// against the real kube-apiserver 1.34 of this test binary and a real etcd per test, driven with
// kubectl as a user would. Each test has its own namespace, etcd, owner id and key prefix
// ("<namespace>.rpc"), so the tests are independent of each other's leftovers.
// Until the Kubernetes mode is wired into the binary, every test that starts it fails at its first
// wait with the binary's exit code 2 and its message in the failure.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/fixtures/kube_fault_proxy.h"
#include "tests/integration/controller/kube_e2e_harness.h"
#include "tests/testing/ports.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace registrar::testing {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr auto kStartup = seconds(60);  // a control plane on 2 busy cores
constexpr auto kSettle = seconds(30);   // an API change reaching status / etcd
constexpr int kTtl = 5;
// The registration of the pause, delete, finalizer and restart-delete tests: its id
// ("kc-<n>-<suffix>/<name>", ~26 bytes) is past std::string's 15-byte inline buffer, where
// EngineImpl::Erase's use-after-free of the id (fixed 2 December 2026) showed.
constexpr char kName[] = "registration-a";

// The writes (POST, PUT, PATCH, DELETE) among `requests`, one line each.
std::vector<std::string> Writes(const std::vector<ProxiedRequest>& requests) {
  std::vector<std::string> writes;
  for (const ProxiedRequest& r : requests) {
    if (r.method == "POST" || r.method == "PUT" || r.method == "PATCH" || r.method == "DELETE") {
      writes.push_back(absl::StrCat(r.method, " ", r.path, "?", r.query, " -> ", r.status));
    }
  }
  return writes;
}

// The DELETE events of `recorder`, for failure messages.
std::string Deletes(const EtcdWatchRecorder& recorder) {
  std::string out;
  for (const WatchEvent& e : recorder.events()) {
    if (e.type == WatchEvent::Type::kDelete) {
      absl::StrAppend(&out, "DELETE ", e.key, " rev ", e.mod_revision, "\n");
    }
  }
  return out;
}

class KubeControllerTest : public KubeE2eTest {
 protected:
  std::string key() const { return ns() + ".rpc"; }
  std::string prefix() const { return key() + "/"; }
  std::string Spec(const std::string& value, const std::string& more = "") const {
    return absl::StrCat("  key: ", key(), "\n  value: \"", value, "\"\n  ttlSeconds: ", kTtl, "\n",
                        more);
  }
  absl::Status Create(const std::string& name, const std::string& value,
                      const std::string& more = "", const std::string& metadata = "") {
    return Apply(Sreg(name, ns(), Spec(value, more), metadata));
  }
  // Starts the controller with KubeArgs(extra) and waits until it is ready; nullptr (and a
  // failure carrying the log) when it exits or is not ready in time.
  std::unique_ptr<ControllerProcess> StartReady(const std::vector<std::string>& extra = {}) {
    auto c = StartController(KubeArgs(extra));
    if (c == nullptr) {
      return nullptr;
    }
    const absl::Status ready = c->WaitReady(kStartup);
    if (!ready.ok()) {
      ADD_FAILURE() << ready;
      return nullptr;
    }
    return c;
  }
  absl::StatusOr<json> WaitReadyObject(const std::string& name) {
    return WaitForObject(name, IsReady, kSettle);
  }
  // The deploy/rbac cluster rules for a ServiceAccount of this namespace, and a kubeconfig for
  // `server` authenticating with its token (a fault proxy passes tokens, not certificates).
  std::string TokenKubeconfig(const std::string& server) {
    auto rbac = ApplyRbac(plane(), RbacVariant::kCluster, ns(), tmp() + "/rbac");
    EXPECT_THAT(rbac, IsOk());
    if (!rbac.ok()) {
      return "";
    }
    auto token = plane().RequestToken(ns(), rbac->service_account);
    EXPECT_THAT(token, IsOk());
    const std::string path = tmp() + "/token-" + std::to_string(++kubeconfigs_) + ".kubeconfig";
    EXPECT_THAT(WriteTokenKubeconfig(path, server, plane().ca_file(), token.value_or("")), IsOk());
    return path;
  }
  std::unique_ptr<KubeFaultProxy> StartProxy() {
    auto proxy = KubeFaultProxy::Start({.upstream_port = plane().port(),
                                        .upstream_ca_file = plane().ca_file(),
                                        .serving_cert_file = plane().dir() + "/server.crt",
                                        .serving_key_file = plane().dir() + "/server.key"});
    EXPECT_THAT(proxy, IsOk());
    return proxy.ok() ? *std::move(proxy) : nullptr;
  }
  // Args as KubeArgs but with `kubeconfig` instead of the admin's.
  std::vector<std::string> ArgsWithKubeconfig(const std::string& kubeconfig,
                                              const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = KubeArgs(extra);
    args[1] = kubeconfig;
    return args;
  }
  // The ownership record of `full_key` for this test's owner id.
  std::string RecordKey(const std::string& full_key) const {
    return absl::StrCat(kDefaultOwnerPrefixE2e, owner_id(), "/", full_key);
  }

  // Waits until no write has gone through `proxy` for 2 s (the last queued events landed).
  void WaitForWritesToSettle(KubeFaultProxy& proxy) {
    size_t writes_seen = 0;
    int quiet_polls = 0;
    ASSERT_TRUE(WaitFor(
        [&] {
          const size_t now = Writes(proxy.Requests()).size();
          quiet_polls = now == writes_seen ? quiet_polls + 1 : 0;
          writes_seen = now;
          return quiet_polls >= 4;
        },
        kSettle, std::chrono::milliseconds(500)))
        << "the controller kept writing: " << ::testing::PrintToString(Writes(proxy.Requests()));
  }

  int kubeconfigs_ = 0;
};

// --- create, update, pause, delete ------------------------------------------------------------

TEST_F(KubeControllerTest, CreateBecomesReadyWithObservedGenerationAndTheKeyInEtcd) {
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Running()) << c->Describe();
  auto object = WaitReadyObject("a");
  ASSERT_THAT(object, IsOk()) << c->Describe();
  const json& status = (*object)["status"];
  EXPECT_EQ(status["observedGeneration"], (*object)["metadata"]["generation"]);
  EXPECT_EQ(status.value("value", ""), "10.0.0.1:8080");
  EXPECT_EQ(status.value("grantedTTL", 0), kTtl);
  EXPECT_EQ(Condition(*object, "Reconciling").value("status", ""), "False");
  EXPECT_EQ(Condition(*object, "Stalled").value("status", ""), "False");
  EXPECT_THAT((*object)["metadata"]["finalizers"], ::testing::Contains(json(kFinalizer)));
  const int64_t lease = LeaseOf(*object);
  ASSERT_NE(lease, 0) << status.dump();
  EXPECT_EQ(status.value("fullKey", ""), absl::StrCat(key(), "/", lease));
  auto kv = WaitForKey(prefix(), kSettle);
  ASSERT_THAT(kv, IsOk());
  EXPECT_EQ(kv->key, status.value("fullKey", ""));
  EXPECT_EQ(kv->value, "10.0.0.1:8080");
  EXPECT_EQ(kv->lease, lease);
  auto record = inspect().GetKey(RecordKey(kv->key));
  ASSERT_THAT(record, IsOk());
  ASSERT_TRUE(record->has_value()) << "no ownership record " << RecordKey(kv->key);
  EXPECT_THAT((*record)->value, HasSubstr((*object)["metadata"].value("uid", "?")));
  EXPECT_EQ((*record)->lease, lease);
  // Events: `kubectl describe` shows Registered.
  auto described = Kubectl({"describe", "sreg", "a", "-n", ns()});
  ASSERT_THAT(described, IsOk());
  EXPECT_THAT(*described, ::testing::ContainsRegex("Normal +Registered"));
}

TEST_F(KubeControllerTest, KubectlWaitForConditionReady) {
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(Kubectl({"wait", "--for=condition=Ready", "--timeout=60s", "sreg/a", "-n", ns()}),
              IsOk())
      << c->Describe();
  // A spec change bumps the generation: kubectl wait is false until observedGeneration follows.
  ASSERT_THAT(MergePatch("a", R"({"spec":{"value":"10.0.0.1:9090"}})"), IsOk());
  ASSERT_THAT(Kubectl({"wait", "--for=condition=Ready", "--timeout=60s", "sreg/a", "-n", ns()}),
              IsOk());
  auto object = Object("a");
  ASSERT_THAT(object, IsOk());
  EXPECT_EQ((*object)["status"].value("value", ""), "10.0.0.1:9090");
}

TEST_F(KubeControllerTest, ValueChangeUpdatesTheKeyOnTheSameLease) {
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  auto before = WaitReadyObject("a");
  ASSERT_THAT(before, IsOk()) << c->Describe();
  auto kv = WaitForKey(prefix(), kSettle);
  ASSERT_THAT(kv, IsOk());
  auto recorder = Record(prefix());
  ASSERT_NE(recorder, nullptr);
  ASSERT_THAT(MergePatch("a", R"({"spec":{"value":"10.0.0.2:8080"}})"), IsOk());
  auto after = WaitForObject(
      "a",
      [&](const json& o) {
        return IsReady(o) && o["status"].value("value", "") == "10.0.0.2:8080";
      },
      kSettle);
  ASSERT_THAT(after, IsOk()) << c->Describe();
  EXPECT_GT((*after)["status"].value("observedGeneration", 0),
            (*before)["status"].value("observedGeneration", 0));
  EXPECT_EQ(LeaseOf(*after), kv->lease) << "a value change keeps the lease";
  auto put = recorder->WaitFor(
      [&](const WatchEvent& e) {
        return e.type == WatchEvent::Type::kPut && e.key == kv->key && e.value == "10.0.0.2:8080";
      },
      kSettle);
  ASSERT_TRUE(put.has_value()) << "no PUT of the new value on " << kv->key;
  EXPECT_EQ(put->lease, kv->lease);
  EXPECT_EQ(recorder->CountDeletes(), 0) << "make-before-break: the key never disappeared";
  EXPECT_THAT(recorder->status(), IsOk());
}

TEST_F(KubeControllerTest, KeyChangePutsTheNewKeyBeforeTheOldIsDeleted) {
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(WaitReadyObject("a"), IsOk()) << c->Describe();
  auto old_kv = WaitForKey(prefix(), kSettle);
  ASSERT_THAT(old_kv, IsOk());
  // Both keys start with the namespace: one recorder sees the new PUT and the old DELETE in
  // etcd's order.
  auto recorder = Record(ns());
  ASSERT_NE(recorder, nullptr);
  const std::string moved = ns() + ".moved";
  ASSERT_THAT(MergePatch("a", absl::StrCat(R"({"spec":{"key":")", moved, R"("}})")), IsOk());
  auto after = WaitForObject(
      "a",
      [&](const json& o) {
        return IsReady(o) && absl::StartsWith(o["status"].value("fullKey", ""), moved + "/");
      },
      kSettle);
  ASSERT_THAT(after, IsOk()) << c->Describe();
  auto put = recorder->WaitFor(
      [&](const WatchEvent& e) {
        return e.type == WatchEvent::Type::kPut && absl::StartsWith(e.key, moved + "/");
      },
      kSettle);
  ASSERT_TRUE(put.has_value()) << "no PUT under " << moved;
  auto del = recorder->WaitFor(
      [&](const WatchEvent& e) {
        return e.type == WatchEvent::Type::kDelete && e.key == old_kv->key;
      },
      kSettle);
  ASSERT_TRUE(del.has_value()) << "the old key " << old_kv->key << " was not removed";
  // Make-before-break: no revision of etcd holds neither key (the engine may swap both in one
  // transaction, where they share a revision).
  EXPECT_LE(put->mod_revision, del->mod_revision) << "the old key went before the new one came";
  EXPECT_EQ(put->value, "10.0.0.1:8080");
  auto old_left = inspect().Get(prefix());
  ASSERT_THAT(old_left, IsOk());
  EXPECT_TRUE(old_left->empty()) << Describe(*old_left);
  EXPECT_THAT(recorder->status(), IsOk());
}

TEST_F(KubeControllerTest, PauseRevokesAndResumeRegistersAgain) {
  ASSERT_THAT(Create(kName, "10.0.0.1:8080"), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(WaitReadyObject(kName), IsOk()) << c->Describe();
  auto kv = WaitForKey(prefix(), kSettle);
  ASSERT_THAT(kv, IsOk());

  ASSERT_THAT(MergePatch(kName, R"({"spec":{"paused":true}})"), IsOk());
  ASSERT_THAT(WaitForNoKey(prefix(), kSettle), IsOk());
  auto paused = WaitForObject(
      kName,
      [](const json& o) {
        return o.value("status", json::object()).value("phase", "") == "Paused" &&
               o["status"].value("observedGeneration", 0) == o["metadata"].value("generation", 1);
      },
      kSettle);
  ASSERT_THAT(paused, IsOk());
  EXPECT_EQ(Condition(*paused, "Ready").value("status", ""), "False");
  EXPECT_EQ(Condition(*paused, "Ready").value("reason", ""), "Paused");
  auto ttl = inspect().TimeToLive(kv->lease);
  ASSERT_THAT(ttl, IsOk());
  EXPECT_EQ(ttl->ttl, -1) << "pausing revokes the lease (no waiting for its expiry)";
  auto record = inspect().GetKey(RecordKey(kv->key));
  ASSERT_THAT(record, IsOk());
  EXPECT_FALSE(record->has_value()) << "the ownership record goes with the lease";

  ASSERT_THAT(MergePatch(kName, R"({"spec":{"paused":false}})"), IsOk());
  auto again = WaitForKey(prefix(), kSettle);
  ASSERT_THAT(again, IsOk());
  EXPECT_NE(again->lease, kv->lease) << "resumed on a new lease";
  auto resumed = WaitReadyObject(kName);
  ASSERT_THAT(resumed, IsOk());
  EXPECT_EQ(LeaseOf(*resumed), again->lease);
}

TEST_F(KubeControllerTest, DeleteRevokesTheKeyBeforeTheObjectDisappears) {
  ASSERT_THAT(Create(kName, "10.0.0.1:8080"), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(WaitReadyObject(kName), IsOk()) << c->Describe();
  auto kv = WaitForKey(prefix(), kSettle);
  ASSERT_THAT(kv, IsOk());
  auto recorder = Record(prefix());
  ASSERT_NE(recorder, nullptr);

  ASSERT_THAT(Kubectl({"delete", "sreg", kName, "-n", ns(), "--wait=false"}), IsOk());
  // Polls the object and, right after each read, etcd: the object must never be seen gone while
  // the key was still there a moment later (the finalizer holds it until the revoke is done).
  bool key_outlived_object = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        const bool gone = Object(kName).status().code() == absl::StatusCode::kNotFound;
        if (gone) {
          auto kvs = inspect().Get(prefix());
          key_outlived_object = !kvs.ok() || !kvs->empty();
        }
        return gone;
      },
      kSettle, std::chrono::milliseconds(100)))
      << "the object was not removed\n"
      << c->Describe();
  EXPECT_FALSE(key_outlived_object) << "the object disappeared before its key was revoked";
  auto deleted = recorder->WaitFor(
      [&](const WatchEvent& e) { return e.type == WatchEvent::Type::kDelete && e.key == kv->key; },
      seconds(5));
  ASSERT_TRUE(deleted.has_value()) << "the key was not deleted";
  auto ttl = inspect().TimeToLive(kv->lease);
  ASSERT_THAT(ttl, IsOk());
  EXPECT_EQ(ttl->ttl, -1);
  EXPECT_THAT(inspect().Get(prefix()), IsOkAndHolds(::testing::IsEmpty()));
}

TEST_F(KubeControllerTest, ForeignFinalizerIsKept) {
  ASSERT_THAT(Create(kName, "10.0.0.1:8080", "", "  finalizers: [example.com/hold]\n"), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  auto object = WaitReadyObject(kName);
  ASSERT_THAT(object, IsOk()) << c->Describe();
  EXPECT_THAT((*object)["metadata"]["finalizers"],
              ::testing::UnorderedElementsAre(json("example.com/hold"), json(kFinalizer)));
  ASSERT_THAT(WaitForKey(prefix(), kSettle), IsOk());

  ASSERT_THAT(Kubectl({"delete", "sreg", kName, "-n", ns(), "--wait=false"}), IsOk());
  // Only our finalizer is removed, after the revoke; the object waits for the other one.
  bool key_left = false;
  auto held = WaitForObject(
      kName,
      [&](const json& o) {
        if (o["metadata"].value("finalizers", json::array()) != json::array({"example.com/hold"})) {
          return false;
        }
        auto kvs = inspect().Get(prefix());
        key_left = !kvs.ok() || !kvs->empty();
        return true;
      },
      kSettle);
  ASSERT_THAT(held, IsOk()) << c->Describe();
  EXPECT_FALSE(key_left) << "our finalizer was removed before the key was revoked";
  EXPECT_THAT(inspect().Get(prefix()), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_TRUE((*held)["metadata"].contains("deletionTimestamp"));
  ASSERT_THAT(MergePatch(kName, R"({"metadata":{"finalizers":null}})"), IsOk());
  EXPECT_THAT(WaitForObjectGone(kName, kSettle), IsOk());
}

// --- refused specs -------------------------------------------------------------------------------

TEST_F(KubeControllerTest, InvalidSpecIsStalledInvalidSpec) {
  // The API server accepts this key (the CRD's schema knows only the default owner prefix); the
  // controller run with --owner-prefix /e2e-owners/ must refuse it: go-zero subscribers of the key
  // would see the ownership records.
  ASSERT_THAT(Apply(Sreg("bad", ns(),
                         absl::StrCat("  key: /e2e-owners/", ns(), "\n  value: 10.0.0.1:1\n"))),
              IsOk());
  auto c = StartReady({"--owner-prefix", "/e2e-owners/"});
  ASSERT_NE(c, nullptr);
  auto object = WaitForObject(
      "bad", [](const json& o) { return Condition(o, "Stalled").value("status", "") == "True"; },
      kSettle);
  ASSERT_THAT(object, IsOk()) << c->Describe();
  EXPECT_EQ(Condition(*object, "Stalled").value("reason", ""), "InvalidSpec");
  EXPECT_THAT(Condition(*object, "Stalled").value("message", ""), HasSubstr("spec.key"));
  EXPECT_EQ(Condition(*object, "Ready").value("status", ""), "False");
  EXPECT_EQ((*object)["status"].value("phase", ""), "Failed");
  EXPECT_EQ((*object)["status"]["observedGeneration"], (*object)["metadata"]["generation"]);
  EXPECT_THAT(inspect().Get("/e2e-owners/" + ns()), IsOkAndHolds(::testing::IsEmpty()));
}

TEST_F(KubeControllerTest, EtcdTargetWithoutAPolicyIsStalledEndpointNotAllowed) {
  ASSERT_THAT(Create("other-etcd", "10.0.0.1:8080", "  etcd:\n    endpoints: [\"127.0.0.1:1\"]\n"),
              IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  auto object = WaitForObject(
      "other-etcd",
      [](const json& o) { return Condition(o, "Stalled").value("status", "") == "True"; }, kSettle);
  ASSERT_THAT(object, IsOk()) << c->Describe();
  // Without --policy only the controller's own etcd may be used (DESIGN §3).
  EXPECT_EQ(Condition(*object, "Stalled").value("reason", ""), "EndpointNotAllowed");
  EXPECT_THAT(Condition(*object, "Stalled").value("message", ""), HasSubstr("127.0.0.1:1"));
  EXPECT_EQ(Condition(*object, "Ready").value("status", ""), "False");
  // Never silently registered on the controller's own etcd.
  EXPECT_THAT(inspect().Get(prefix()), IsOkAndHolds(::testing::IsEmpty()));
}

// --- identity -----------------------------------------------------------------------------------

TEST_F(KubeControllerTest, SameNameWithANewUidIsANewRegistration) {
  ASSERT_THAT(Create(kName, "10.0.0.1:8080"), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  auto first = WaitReadyObject(kName);
  ASSERT_THAT(first, IsOk()) << c->Describe();
  auto kv = WaitForKey(prefix(), kSettle);
  ASSERT_THAT(kv, IsOk());
  const std::string old_uid = (*first)["metadata"].value("uid", "");
  // While the controller is down, a person removes the finalizer and replaces the object.
  c->Kill();
  ASSERT_THAT(MergePatch(kName, R"({"metadata":{"finalizers":null}})"), IsOk());
  ASSERT_THAT(Kubectl({"delete", "sreg", kName, "-n", ns(), "--wait=true", "--timeout=30s"}),
              IsOk());
  ASSERT_THAT(Create(kName, "10.0.0.1:8080"), IsOk());
  auto restarted = StartController(KubeArgs(), {}, c->port());
  ASSERT_NE(restarted, nullptr);
  auto second = WaitForObject(
      kName, [&](const json& o) { return IsReady(o) && o["metadata"].value("uid", "") != old_uid; },
      kStartup);
  ASSERT_THAT(second, IsOk()) << restarted->Describe();
  // The old UID's registration is an orphan: revoked, not adopted by the new object.
  auto now = WaitForKey(prefix(), kSettle, [&](const StoredKv& k) { return k.lease != kv->lease; });
  ASSERT_THAT(now, IsOk());
  EXPECT_EQ(LeaseOf(*second), now->lease);
  auto ttl = inspect().TimeToLive(kv->lease);
  ASSERT_THAT(ttl, IsOk());
  EXPECT_EQ(ttl->ttl, -1) << "the old UID's lease is revoked";
  auto record = inspect().GetKey(RecordKey(now->key));
  ASSERT_THAT(record, IsOk());
  ASSERT_TRUE(record->has_value());
  EXPECT_THAT((*record)->value, HasSubstr((*second)["metadata"].value("uid", "?")));
}

// --- API writes at idle -------------------------------------------------------------------------

TEST_F(KubeControllerTest, IdleControllerMakesNoApiWrites) {
  auto proxy = StartProxy();
  ASSERT_NE(proxy, nullptr);
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  ASSERT_THAT(Create("paused", "10.0.0.2:8080", "  paused: true\n"), IsOk());
  ASSERT_THAT(Create("other-etcd", "10.0.0.3:8080", "  etcd:\n    endpoints: [\"127.0.0.1:1\"]\n"),
              IsOk());
  const std::string kubeconfig = TokenKubeconfig(proxy->url());
  ASSERT_FALSE(kubeconfig.empty());
  // A resync every 10 s: the idle window below covers several passes over every object.
  auto c = StartController(ArgsWithKubeconfig(kubeconfig, {"--resync-period", "10s"}));
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(c->WaitReady(kStartup), IsOk());
  ASSERT_THAT(WaitReadyObject("a"), IsOk()) << c->Describe();
  ASSERT_THAT(WaitForObject(
                  "paused",
                  [](const json& o) {
                    return o.value("status", json::object()).value("phase", "") == "Paused";
                  },
                  kSettle),
              IsOk());
  ASSERT_THAT(
      WaitForObject(
          "other-etcd",
          [](const json& o) { return Condition(o, "Stalled").value("status", "") == "True"; },
          kSettle),
      IsOk());
  // Let the last writes (queued events) land: no new write for 2 s; then count from zero.
  ASSERT_TRUE(WaitFor([&] { return proxy->OpenWatches() >= 1; }, kSettle));
  ASSERT_NO_FATAL_FAILURE(WaitForWritesToSettle(*proxy));
  proxy->ClearRequests();
  const auto start = std::chrono::steady_clock::now();
  const auto reconciled = c->Metric("controller_runtime_reconcile_total");
  // 30 s with the lease renewed every TTL/3 and the resync re-queueing everything three times:
  // the proof the controller looked is the reconcile counter going up.
  ASSERT_TRUE(WaitFor([&] { return std::chrono::steady_clock::now() - start >= seconds(30); },
                      seconds(31), std::chrono::milliseconds(500)));
  const auto reconciled_after = c->Metric("controller_runtime_reconcile_total");
  ASSERT_THAT(reconciled_after, IsOk());
  EXPECT_GT(*reconciled_after, reconciled.value_or(0)) << "no reconcile during the window";
  EXPECT_THAT(Writes(proxy->Requests()), ::testing::IsEmpty()) << "API writes at idle";
  EXPECT_TRUE(c->Running()) << c->Describe();
}

// --- API faults (through the fault proxy) -------------------------------------------------------

TEST_F(KubeControllerTest, StatusConflictThrottlingAndServerErrorsAreRetried) {
  auto proxy = StartProxy();
  ASSERT_NE(proxy, nullptr);
  const std::string kubeconfig = TokenKubeconfig(proxy->url());
  ASSERT_FALSE(kubeconfig.empty());
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  // The first list fails twice with 500, the first status write gets 409, the next 429.
  proxy->Inject({.method = "GET", .path_regex = "/serviceregistrations$", .code = 500, .count = 2});
  proxy->Inject({.method = "PATCH", .path_regex = "/status$", .code = 409, .count = 1});
  proxy->Inject({.method = "PATCH",
                 .path_regex = "/status$",
                 .code = 429,
                 .count = 1,
                 .retry_after_seconds = 1});
  auto c = StartController(ArgsWithKubeconfig(kubeconfig));
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(c->WaitReady(kStartup), IsOk());
  auto object = WaitForObject("a", IsReady, kStartup);
  ASSERT_THAT(object, IsOk()) << c->Describe();
  ASSERT_THAT(WaitForKey(prefix(), kSettle), IsOk());
  std::map<int, int> injected;
  for (const ProxiedRequest& r : proxy->Requests()) {
    if (r.injected) {
      ++injected[r.status];
    }
  }
  EXPECT_EQ(injected[500], 2);
  EXPECT_EQ(injected[409], 1);
  EXPECT_EQ(injected[429], 1);
  EXPECT_TRUE(c->Running());
}

// A 429's Retry-After is honoured: the object is not tried again sooner (before: the work
// queue's per-key backoff retried it after 5 ms).
TEST_F(KubeControllerTest, ThrottledReconcileWaitsForRetryAfter) {
  auto proxy = StartProxy();
  ASSERT_NE(proxy, nullptr);
  const std::string kubeconfig = TokenKubeconfig(proxy->url());
  ASSERT_FALSE(kubeconfig.empty());
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  constexpr int kRetryAfter = 4;
  proxy->Inject({.method = "PATCH",
                 .path_regex = "/serviceregistrations/a$",  // the finalizer patch
                 .code = 429,
                 .count = 1,
                 .retry_after_seconds = kRetryAfter});
  auto patches = [&] {
    int n = 0;
    for (const ProxiedRequest& r : proxy->Requests()) {
      n += r.method == "PATCH" && absl::EndsWith(r.path, "/serviceregistrations/a") ? 1 : 0;
    }
    return n;
  };
  auto c = StartController(ArgsWithKubeconfig(kubeconfig));
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(WaitFor([&] { return patches() >= 1; }, kStartup, std::chrono::milliseconds(20)))
      << c->Describe();
  const auto throttled_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return patches() >= 2; }, kSettle, std::chrono::milliseconds(20)))
      << c->Describe();
  const auto retried_after = std::chrono::steady_clock::now() - throttled_at;
  EXPECT_GE(retried_after, std::chrono::milliseconds(kRetryAfter * 1000 - 100))
      << "retried " << std::chrono::duration<double>(retried_after).count() << " s after the 429";
  EXPECT_THAT(WaitForObject("a", IsReady, kSettle), IsOk()) << c->Describe();
}

TEST_F(KubeControllerTest, ChangesWhileTheWatchIsCutAreNotMissed) {
  auto proxy = StartProxy();
  ASSERT_NE(proxy, nullptr);
  const std::string kubeconfig = TokenKubeconfig(proxy->url());
  ASSERT_FALSE(kubeconfig.empty());
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  auto c = StartController(ArgsWithKubeconfig(kubeconfig));
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(c->WaitReady(kStartup), IsOk());
  ASSERT_THAT(WaitReadyObject("a"), IsOk()) << c->Describe();
  ASSERT_TRUE(WaitFor([&] { return proxy->OpenWatches() >= 1; }, kSettle));
  // Cut the watch and refuse new ones for 5 s while the objects change.
  EXPECT_GE(proxy->CloseWatches(seconds(5)), 1);
  ASSERT_THAT(MergePatch("a", R"({"spec":{"value":"10.0.0.1:9090"}})"), IsOk());
  ASSERT_THAT(Create("b", "10.0.0.2:8080"), IsOk());
  ASSERT_THAT(MergePatch("a", R"({"spec":{"value":"10.0.0.1:9191"}})"), IsOk());
  auto a = WaitForObject(
      "a",
      [](const json& o) { return IsReady(o) && o["status"].value("value", "") == "10.0.0.1:9191"; },
      kStartup);
  ASSERT_THAT(a, IsOk()) << c->Describe();
  ASSERT_THAT(WaitReadyObject("b"), IsOk()) << c->Describe();
  auto kvs = inspect().Get(prefix());
  ASSERT_THAT(kvs, IsOk());
  ASSERT_EQ(kvs->size(), 2u) << Describe(*kvs);
  std::set<std::string> values;
  for (const StoredKv& kv : *kvs) {
    values.insert(kv.value);
  }
  EXPECT_EQ(values, (std::set<std::string>{"10.0.0.1:9191", "10.0.0.2:8080"}));
  // The watch came back (resumed after the refused window).
  EXPECT_TRUE(WaitFor([&] { return proxy->OpenWatches() >= 1; }, kSettle));
}

TEST_F(KubeControllerTest, DeleteWhileEtcdIsDownLetsGoAfterOneTtlAndRevokesLater) {
  // A longer TTL than the others: "let go after one TTL" and "revoked, not expired" are told apart
  // by time.
  constexpr int kLongTtl = 20;
  ASSERT_THAT(Apply(Sreg(kName, ns(),
                         absl::StrCat("  key: ", key(), "\n  value: 10.0.0.1:8080\n",
                                      "  ttlSeconds: ", kLongTtl, "\n"))),
              IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(WaitReadyObject(kName), IsOk()) << c->Describe();
  auto kv = WaitForKey(prefix(), kSettle);
  ASSERT_THAT(kv, IsOk());
  etcd().Kill();
  const auto deleted_at = std::chrono::steady_clock::now();
  ASSERT_THAT(Kubectl({"delete", "sreg", kName, "-n", ns(), "--wait=false"}), IsOk());
  // Deletion never hangs: the object goes after about one TTL although the revoke failed.
  ASSERT_THAT(WaitForObjectGone(kName, seconds(3 * kLongTtl)), IsOk()) << c->Describe();
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - deleted_at).count();
  EXPECT_GE(waited, kLongTtl - 2) << "let go before one TTL had passed";
  // etcd back: the owed revoke is done at once, well before the lease could expire (etcd
  // restarts every lease's TTL when it starts).
  ASSERT_THAT(etcd().StartAgain(), IsOk());
  const auto back_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto ttl = inspect().TimeToLive(kv->lease);
        return ttl.ok() && ttl->ttl == -1;
      },
      seconds(kLongTtl), std::chrono::milliseconds(200)))
      << c->Describe();
  EXPECT_LT(std::chrono::steady_clock::now() - back_at, seconds(kLongTtl / 2))
      << "revoked, not left to expire";
  EXPECT_THAT(inspect().Get(prefix()), IsOkAndHolds(::testing::IsEmpty()));
}

// --- restarts -----------------------------------------------------------------------------------

TEST_F(KubeControllerTest, RestartWithTheApiServerUnreachableLosesNothing) {
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  ASSERT_THAT(Create("b", "10.0.0.2:8080", "  id: 7\n"), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(WaitReadyObject("a"), IsOk()) << c->Describe();
  ASSERT_THAT(WaitReadyObject("b"), IsOk());
  auto before = inspect().Get(prefix());
  ASSERT_THAT(before, IsOk());
  ASSERT_EQ(before->size(), 2u) << Describe(*before);
  auto recorder = Record("");
  ASSERT_NE(recorder, nullptr);

  c->Kill();
  const auto killed_at = std::chrono::steady_clock::now();
  // The same owner id; the API server behind a port nothing listens on.
  const std::string dead = tmp() + "/dead.kubeconfig";
  ASSERT_THAT(WriteTokenKubeconfig(dead, absl::StrCat("https://127.0.0.1:", PickFreePort()),
                                   plane().ca_file(), "no-token"),
              IsOk());
  auto restarted = StartController(ArgsWithKubeconfig(dead));
  ASSERT_NE(restarted, nullptr);
  // Past twice the TTL since the kill, both leases are still alive: the restarted controller
  // adopted and renewed them without the API.
  for (const StoredKv& kv : *before) {
    ASSERT_TRUE(WaitFor(
        [&] {
          auto ttl = inspect().TimeToLive(kv.lease);
          return std::chrono::steady_clock::now() - killed_at > seconds(2 * kTtl) && ttl.ok() &&
                 ttl->ttl > 0;
        },
        seconds(6 * kTtl), std::chrono::milliseconds(200)))
        << "lease of " << kv.key << " not kept alive\n"
        << restarted->Describe();
  }
  EXPECT_TRUE(restarted->Running()) << restarted->Describe();
  EXPECT_FALSE(restarted->Ready()) << "not ready while the first list has not succeeded";
  auto after = inspect().Get(prefix());
  ASSERT_THAT(after, IsOk());
  ASSERT_EQ(after->size(), before->size()) << Describe(*after);
  for (size_t i = 0; i < after->size(); ++i) {
    EXPECT_EQ((*after)[i].key, (*before)[i].key);
    EXPECT_EQ((*after)[i].lease, (*before)[i].lease) << "same lease after the restart";
  }
  EXPECT_EQ(recorder->CountDeletes(), 0) << Deletes(*recorder);
  EXPECT_THAT(recorder->status(), IsOk());
}

// A restart holding a few hundred registrations adopts every one: the same leases, no DELETE and
// no LeaseRevoke or LeaseGrant on etcd, and no API write (before: every object's status went to
// Pending and back to Registered, with a second Registered event).
TEST_F(KubeControllerTest, RestartAdoptsEveryLeaseWithoutRevokesOrApiWrites) {
  constexpr int kObjects = 300;
  std::string yaml;
  for (int i = 0; i < kObjects; ++i) {
    absl::StrAppend(&yaml, "---\n",
                    Sreg(absl::StrCat("r", i), ns(),
                         Spec(absl::StrCat("10.1.", i / 250, ".", i % 250, ":8080"))));
  }
  ASSERT_THAT(Apply(yaml), IsOk());
  // One line per object (the JSON of 300 objects is more than kubectl's pipe here takes).
  auto ready_count = [&]() -> int {
    auto list = Kubectl(
        {"get", "sreg", "-n", ns(), "-o",
         "jsonpath={range .items[*]}{.metadata.generation}|{.status.observedGeneration}|"
         "{.status.phase}|{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}"});
    if (!list.ok()) {
      return -1;
    }
    int ready = 0;
    for (absl::string_view line : absl::StrSplit(*list, '\n', absl::SkipEmpty())) {
      std::vector<std::string> f = absl::StrSplit(line, '|');
      ready +=
          f.size() == 4 && !f[0].empty() && f[0] == f[1] && f[2] == "Registered" && f[3] == "True"
              ? 1
              : 0;
    }
    return ready;
  };
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(WaitFor([&] { return ready_count() == kObjects; }, seconds(240), seconds(1)))
      << ready_count() << " Ready\n"
      << c->Describe();
  auto before = inspect().Get(prefix());
  ASSERT_THAT(before, IsOk());
  ASSERT_EQ(before->size(), static_cast<size_t>(kObjects));
  auto recorder = Record("");
  ASSERT_NE(recorder, nullptr);
  ASSERT_THAT(c->Terminate(), IsOk());

  // The same owner id, through the proxy this time (to see every request it makes).
  auto proxy = StartProxy();
  ASSERT_NE(proxy, nullptr);
  const std::string kubeconfig = TokenKubeconfig(proxy->url());
  ASSERT_FALSE(kubeconfig.empty());
  auto restarted = StartController(ArgsWithKubeconfig(kubeconfig));
  ASSERT_NE(restarted, nullptr);
  ASSERT_THAT(restarted->WaitReady(kStartup), IsOk());
  // Each object reconciled twice at least: its listing, then the engine's state once adopted.
  ASSERT_TRUE(WaitFor(
      [&] {
        return restarted->Metric("controller_runtime_reconcile_total").value_or(0) >= 2 * kObjects;
      },
      seconds(120), std::chrono::milliseconds(500)))
      << restarted->Describe();
  ASSERT_NO_FATAL_FAILURE(WaitForWritesToSettle(*proxy));

  EXPECT_THAT(Writes(proxy->Requests()), ::testing::IsEmpty()) << "API writes after a restart";
  auto after = inspect().Get(prefix());
  ASSERT_THAT(after, IsOk());
  ASSERT_EQ(after->size(), before->size());
  for (size_t i = 0; i < after->size(); ++i) {
    EXPECT_EQ((*after)[i].key, (*before)[i].key);
    EXPECT_EQ((*after)[i].lease, (*before)[i].lease) << "same lease after the restart";
  }
  EXPECT_EQ(recorder->CountDeletes(), 0) << Deletes(*recorder);
  for (const char* method : {"LeaseRevoke", "LeaseGrant", "Txn"}) {
    EXPECT_EQ(
        restarted
            ->Metric("etcd_registrar_etcd_request_duration_seconds_count", {{"method", method}})
            .value_or(0),
        0)
        << method;
  }
  EXPECT_EQ(restarted->Metric("etcd_registrar_lease_revokes_total").value_or(0), 0);
  EXPECT_EQ(ready_count(), kObjects);
  EXPECT_THAT(recorder->status(), IsOk());
}

TEST_F(KubeControllerTest, DeletedWhileTheControllerWasDownIsRevokedAfterRestart) {
  ASSERT_THAT(Create(kName, "10.0.0.1:8080"), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(WaitReadyObject(kName), IsOk()) << c->Describe();
  auto kv = WaitForKey(prefix(), kSettle);
  ASSERT_THAT(kv, IsOk());
  c->Kill();
  ASSERT_THAT(Kubectl({"delete", "sreg", kName, "-n", ns(), "--wait=false"}), IsOk());
  auto terminating = Object(kName);
  ASSERT_THAT(terminating, IsOk()) << "our finalizer holds the object while we are down";
  EXPECT_TRUE((*terminating)["metadata"].contains("deletionTimestamp"));

  auto restarted = StartController(KubeArgs(), {}, c->port());
  ASSERT_NE(restarted, nullptr);
  ASSERT_THAT(WaitForNoKey(prefix(), kStartup), IsOk()) << restarted->Describe();
  auto ttl = inspect().TimeToLive(kv->lease);
  ASSERT_THAT(ttl, IsOk());
  EXPECT_EQ(ttl->ttl, -1) << "revoked, not left to expire";
  EXPECT_THAT(WaitForObjectGone(kName, kSettle), IsOk());
}

// --- the CRD, RBAC and the pod ------------------------------------------------------------------

// `kubectl auth can-i VERB RESOURCE[/NAME]` as ServiceAccount ns/sa, in namespace `in` (empty:
// every namespace, or cluster scope), for `subresource` when not empty: "yes" or "no".
std::string CanI(KubeControlPlane& plane, const RbacInstall& rbac, const std::string& verb,
                 const std::string& resource, const std::string& in,
                 const std::string& subresource = "") {
  std::vector<std::string> args = {
      "auth", "can-i", verb, resource,
      "--as=system:serviceaccount:" + rbac.ns + ":" + rbac.service_account};
  if (!subresource.empty()) {
    args.push_back("--subresource=" + subresource);
  }
  if (in.empty()) {
    args.push_back("--all-namespaces");
  } else {
    args.insert(args.end(), {"-n", in});
  }
  auto out = plane.RunKubectl(args);
  return out.ok() ? std::string(absl::StripAsciiWhitespace(out->out)) : out.status().ToString();
}

// deploy/rbac as the API server evaluates it (runs without the Kubernetes mode).
TEST_F(KubeControllerTest, ClusterRbacGrantsExactlyTheControllersRules) {
  auto rbac = ApplyRbac(plane(), RbacVariant::kCluster, ns(), tmp() + "/rbac");
  ASSERT_THAT(rbac, IsOk());
  for (const char* verb : {"get", "list", "watch", "patch", "update"}) {
    EXPECT_EQ(CanI(plane(), *rbac, verb, "serviceregistrations.registrar.dev", ""), "yes") << verb;
  }
  for (const char* verb : {"create", "delete", "deletecollection"}) {
    EXPECT_EQ(CanI(plane(), *rbac, verb, "serviceregistrations.registrar.dev", ""), "no") << verb;
  }
  for (const char* verb : {"get", "patch", "update"}) {
    EXPECT_EQ(CanI(plane(), *rbac, verb, "serviceregistrations.registrar.dev", "", "status"), "yes")
        << verb;
  }
  // Granted as kubebuilder-made controllers do (issue 16; docs/operations.md, "RBAC").
  EXPECT_EQ(CanI(plane(), *rbac, "update", "serviceregistrations.registrar.dev", "", "finalizers"),
            "yes");
  EXPECT_EQ(CanI(plane(), *rbac, "create", "events", ""), "yes");
  EXPECT_EQ(CanI(plane(), *rbac, "patch", "events", ""), "yes");
  EXPECT_EQ(CanI(plane(), *rbac, "delete", "events", ""), "no");
  EXPECT_EQ(CanI(plane(), *rbac, "get", "secrets", ""), "yes");
  EXPECT_EQ(CanI(plane(), *rbac, "list", "secrets", ""), "no");
  EXPECT_EQ(CanI(plane(), *rbac, "watch", "secrets", ""), "no");
  EXPECT_EQ(CanI(plane(), *rbac, "get", "namespace/kube-system", ""), "yes");
  EXPECT_EQ(CanI(plane(), *rbac, "get", "namespace/default", ""), "no");
  EXPECT_EQ(CanI(plane(), *rbac, "list", "namespaces", ""), "no");
  EXPECT_EQ(CanI(plane(), *rbac, "get", "configmaps", ""), "no");
}

// The plumbing the pod and proxy tests rely on (runs without the Kubernetes mode): the pod's files
// authenticate as the deploy/rbac ServiceAccount, and a token kubeconfig works through the proxy.
TEST_F(KubeControllerTest, PodIdentityAndProxyTokenAuthenticateAsTheServiceAccount) {
  auto rbac = ApplyRbac(plane(), RbacVariant::kCluster, ns(), tmp() + "/rbac");
  ASSERT_THAT(rbac, IsOk());
  auto pod = plane().WritePodIdentity(ns(), rbac->service_account);
  ASSERT_THAT(pod, IsOk());
  std::vector<std::string> env = PodEnv(*pod);
  EXPECT_THAT(env, ::testing::Contains("ER_KUBE_IN_CLUSTER_DIR=" + pod->dir));
  EXPECT_THAT(env, ::testing::Contains(absl::StrCat("KUBERNETES_SERVICE_PORT=", plane().port())));
  EXPECT_THAT(PodEnv(*pod, 4242), ::testing::Contains("KUBERNETES_SERVICE_PORT=4242"));
  std::ifstream token_file(pod->dir + "/token");
  std::string token((std::istreambuf_iterator<char>(token_file)), {});
  std::ifstream namespace_file(pod->dir + "/namespace");
  std::string pod_ns((std::istreambuf_iterator<char>(namespace_file)), {});
  EXPECT_EQ(pod_ns, ns());
  const std::string as_pod = tmp() + "/as-pod.kubeconfig";
  ASSERT_THAT(WriteTokenKubeconfig(as_pod, plane().server(), pod->dir + "/ca.crt", token), IsOk());
  auto who =
      plane().RunKubectl({"auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"}, as_pod);
  ASSERT_THAT(who, IsOk());
  EXPECT_EQ(who->out, "system:serviceaccount:" + ns() + ":" + rbac->service_account) << who->err;

  auto proxy = StartProxy();
  ASSERT_NE(proxy, nullptr);
  const std::string through_proxy = TokenKubeconfig(proxy->url());
  ASSERT_FALSE(through_proxy.empty());
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  auto listed = plane().RunKubectl({"get", "sreg", "-n", ns(), "-o", "name"}, through_proxy);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->exit_code, 0) << listed->err;
  EXPECT_EQ(listed->out, "serviceregistration.registrar.dev/a\n");
  const std::string path =
      "/apis/registrar.dev/v1alpha1/namespaces/" + ns() + "/serviceregistrations";
  std::vector<ProxiedRequest> log = proxy->Requests();
  EXPECT_TRUE(std::any_of(log.begin(), log.end(), [&](const ProxiedRequest& r) {
    return r.method == "GET" && r.path == path && r.status == 200;
  })) << "the list went through the proxy";
}

TEST_F(KubeControllerTest, NamespacedRbacGrantsOnlyItsNamespaceAndNoOwnerIdFallback) {
  auto rbac = ApplyRbac(plane(), RbacVariant::kNamespaced, ns(), tmp() + "/rbac");
  ASSERT_THAT(rbac, IsOk());
  for (const char* verb : {"get", "list", "watch", "patch", "update"}) {
    EXPECT_EQ(CanI(plane(), *rbac, verb, "serviceregistrations.registrar.dev", ns()), "yes")
        << verb;
  }
  EXPECT_EQ(CanI(plane(), *rbac, "patch", "serviceregistrations.registrar.dev", ns(), "status"),
            "yes");
  EXPECT_EQ(CanI(plane(), *rbac, "create", "events", ns()), "yes");
  EXPECT_EQ(CanI(plane(), *rbac, "get", "secrets", ns()), "yes");
  EXPECT_EQ(CanI(plane(), *rbac, "list", "secrets", ns()), "no");
  // Nothing outside its namespace, and no kube-system read: --owner-id is required.
  EXPECT_EQ(CanI(plane(), *rbac, "list", "serviceregistrations.registrar.dev", "default"), "no");
  EXPECT_EQ(CanI(plane(), *rbac, "list", "serviceregistrations.registrar.dev", ""), "no");
  EXPECT_EQ(CanI(plane(), *rbac, "get", "namespace/kube-system", ""), "no");
}

TEST_F(KubeControllerTest, CrdNotInstalledIsAClearErrorThenRetried) {
  // A control plane of its own: the shared one has the CRD, and deleting it would take every
  // other test's objects with it.
  auto own = KubeControlPlane::Start();
  ASSERT_THAT(own, IsOk());
  KubeControlPlane& bare = **own;
  std::vector<std::string> args = KubeArgs();
  args[1] = bare.admin_kubeconfig();
  args[3] = "default";
  auto c = StartController(args);
  ASSERT_NE(c, nullptr);
  // One line naming the resource and saying it is not there (a 404, the CRD).
  auto line = c->child().WaitForOutputMatching(
      std::regex("serviceregistrations.*(404|[Nn]ot ?[Ff]ound|CRD|not installed)"), kStartup);
  ASSERT_THAT(line.status(), IsOk());
  EXPECT_TRUE(c->Running()) << c->Describe();
  auto readyz = c->GetReply("/readyz");
  EXPECT_EQ(readyz.status, 503) << readyz.body;

  ASSERT_THAT(bare.Kubectl({"apply", "-f", SourcePath("crds/serviceregistrations.yaml")}), IsOk());
  ASSERT_THAT(bare.Kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                            "crd/serviceregistrations.registrar.dev"}),
              IsOk());
  ASSERT_THAT(bare.Apply(Sreg("a", "default", Spec("10.0.0.1:8080"))), IsOk());
  // Retried with backoff (at most 30 s between attempts).
  EXPECT_THAT(c->WaitReady(kStartup), IsOk());
  EXPECT_THAT(WaitForKey(prefix(), kStartup), IsOk()) << c->Describe();
}

TEST_F(KubeControllerTest, RunsAsAPodWithTheClusterRbac) {
  auto rbac = ApplyRbac(plane(), RbacVariant::kCluster, ns(), tmp() + "/rbac");
  ASSERT_THAT(rbac, IsOk());
  auto pod = plane().WritePodIdentity(ns(), rbac->service_account);
  ASSERT_THAT(pod, IsOk());
  auto uid = Kubectl({"get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}"});
  ASSERT_THAT(uid, IsOk());
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  // All namespaces, no --kubeconfig (the in-cluster path), no --owner-id (the kube-system
  // fallback, allowed by etcd-registrar-owner-id).
  auto c = StartController({"--etcd-endpoints", etcd().endpoint(), "--log-level", "debug"},
                           PodEnv(*pod));
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(c->WaitReady(kStartup), IsOk());
  auto object = WaitReadyObject("a");
  ASSERT_THAT(object, IsOk()) << c->Describe();
  auto kv = WaitForKey(prefix(), kSettle);
  ASSERT_THAT(kv, IsOk());
  auto record = inspect().GetKey(absl::StrCat(kDefaultOwnerPrefixE2e, "k8s-", *uid, "/", kv->key));
  ASSERT_THAT(record, IsOk());
  EXPECT_TRUE(record->has_value()) << "owner id k8s-<kube-system uid>";
  auto described = Kubectl({"describe", "sreg", "a", "-n", ns()});
  ASSERT_THAT(described, IsOk());
  EXPECT_THAT(*described, ::testing::ContainsRegex("Normal +Registered"))
      << "events created under the RBAC";
  EXPECT_FALSE(c->LogContains("forbidden")) << c->Describe();
}

TEST_F(KubeControllerTest, RunsAsAPodWithTheNamespacedRbac) {
  auto rbac = ApplyRbac(plane(), RbacVariant::kNamespaced, ns(), tmp() + "/rbac");
  ASSERT_THAT(rbac, IsOk());
  auto pod = plane().WritePodIdentity(ns(), rbac->service_account);
  ASSERT_THAT(pod, IsOk());
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  auto c = StartController({"--namespace", ns(), "--owner-id", owner_id(), "--etcd-endpoints",
                            etcd().endpoint(), "--log-level", "debug"},
                           PodEnv(*pod));
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(c->WaitReady(kStartup), IsOk());
  ASSERT_THAT(WaitReadyObject("a"), IsOk()) << c->Describe();
  ASSERT_THAT(MergePatch("a", R"({"spec":{"paused":true}})"), IsOk());
  EXPECT_THAT(WaitForNoKey(prefix(), kSettle), IsOk());
  ASSERT_THAT(Kubectl({"delete", "sreg", "a", "-n", ns(), "--wait=false"}), IsOk());
  EXPECT_THAT(WaitForObjectGone("a", kSettle), IsOk()) << c->Describe();
  EXPECT_FALSE(c->LogContains("forbidden")) << c->Describe();
}

TEST_F(KubeControllerTest, ListForbiddenIsAClearErrorNamingVerbAndResource) {
  // deploy/rbac with "list" taken from the serviceregistrations rule.
  auto rbac = ApplyRbac(plane(), RbacVariant::kCluster, ns(), tmp() + "/rbac",
                        "- op: replace\n  path: /rules/0/verbs\n"
                        "  value: [get, watch, patch, update]");
  ASSERT_THAT(rbac, IsOk());
  auto pod = plane().WritePodIdentity(ns(), rbac->service_account);
  ASSERT_THAT(pod, IsOk());
  auto c = StartController({"--owner-id", owner_id(), "--etcd-endpoints", etcd().endpoint()},
                           PodEnv(*pod));
  ASSERT_NE(c, nullptr);
  auto line = c->WaitForLog("cannot list resource \"serviceregistrations\"", kStartup);
  EXPECT_THAT(line.status(), IsOk())
      << "the API server's refusal, naming verb and resource, in the log";
  EXPECT_TRUE(c->Running()) << "a missing rule is retried, not fatal\n" << c->Describe();
  EXPECT_EQ(c->GetReply("/readyz").status, 503);
}

TEST_F(KubeControllerTest, StatusWriteForbiddenIsAClearError) {
  // deploy/rbac without the serviceregistrations/status rule (the second rule).
  auto rbac = ApplyRbac(plane(), RbacVariant::kCluster, ns(), tmp() + "/rbac",
                        "- op: remove\n  path: /rules/1");
  ASSERT_THAT(rbac, IsOk());
  auto pod = plane().WritePodIdentity(ns(), rbac->service_account);
  ASSERT_THAT(pod, IsOk());
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  auto c = StartController({"--owner-id", owner_id(), "--etcd-endpoints", etcd().endpoint()},
                           PodEnv(*pod));
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(c->WaitReady(kStartup), IsOk());
  auto line = c->WaitForLog("resource \"serviceregistrations/status\"", kStartup);
  ASSERT_THAT(line.status(), IsOk());
  EXPECT_TRUE(absl::StrContains(*line, "cannot patch") || absl::StrContains(*line, "cannot update"))
      << *line;
}

TEST_F(KubeControllerTest, RotatedTokenFileIsUsedWithoutRestart) {
  auto rbac = ApplyRbac(plane(), RbacVariant::kCluster, ns(), tmp() + "/rbac");
  ASSERT_THAT(rbac, IsOk());
  auto pod = plane().WritePodIdentity(ns(), rbac->service_account);
  ASSERT_THAT(pod, IsOk());
  ASSERT_THAT(Create("a", "10.0.0.1:8080"), IsOk());
  auto c = StartController({"--namespace", ns(), "--owner-id", owner_id(), "--etcd-endpoints",
                            etcd().endpoint(), "--log-level", "debug"},
                           PodEnv(*pod));
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(c->WaitReady(kStartup), IsOk());
  ASSERT_THAT(WaitReadyObject("a"), IsOk()) << c->Describe();

  // Recreating the ServiceAccount invalidates every token of the old one (bound to its UID); the
  // bindings name it and apply to the new one. The kubelet would write the new token in place.
  ASSERT_THAT(Kubectl({"delete", "serviceaccount", rbac->service_account, "-n", ns()}), IsOk());
  ASSERT_THAT(plane().CreateServiceAccount(ns(), rbac->service_account), IsOk());
  auto fresh = plane().RequestToken(ns(), rbac->service_account);
  ASSERT_THAT(fresh, IsOk());
  ASSERT_NE(*fresh, pod->token);
  {
    std::ofstream out(pod->dir + "/token.new", std::ios::trunc);
    out << *fresh;
  }
  ASSERT_EQ(std::rename((pod->dir + "/token.new").c_str(), (pod->dir + "/token").c_str()), 0);

  // Status writes after the rotation need the new token.
  ASSERT_THAT(MergePatch("a", R"({"spec":{"value":"10.0.0.9:8080"}})"), IsOk());
  auto updated = WaitForObject(
      "a",
      [](const json& o) { return IsReady(o) && o["status"].value("value", "") == "10.0.0.9:8080"; },
      kStartup);
  EXPECT_THAT(updated, IsOk()) << c->Describe();
  ASSERT_THAT(Create("b", "10.0.0.10:8080"), IsOk());
  EXPECT_THAT(WaitReadyObject("b"), IsOk()) << c->Describe();
}

// --- etcd credentials ------------------------------------------------------------------------

class KubeControllerEtcdAuthTest : public KubeControllerTest {
 protected:
  EtcdOptions etcd_options() const override { return {.auth = true}; }
};

// Lines of `log` containing `needle`, debug lines left out (the controller runs with debug).
int CountLines(const std::string& log, const std::string& needle) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    n += absl::StrContains(line, needle) && !absl::StrContains(line, " debug ") ? 1 : 0;
  }
  return n;
}

// Issue 12 item 4 in Kubernetes mode (DESIGN.md §1: a person must act): a wrong etcd password
// shows Failed/AuthFailed (Stalled) with the reason in the object's status, is retried slowly,
// and the registration goes through without a restart once the password file is fixed.
TEST_F(KubeControllerEtcdAuthTest, WrongPasswordIsStalledAuthFailedUntilThePasswordFileIsFixed) {
  const std::string password_file = tmp() + "/password";
  std::ofstream(password_file, std::ios::trunc) << "not-the-password\n";
  ASSERT_THAT(Create("a", "10.0.0.1:1"), IsOk());
  // Not ready (/readyz: the etcd keep-alive stream is down) until the password is fixed.
  auto c =
      StartController(KubeArgs({"--etcd-username", "root", "--etcd-password-file", password_file}));
  ASSERT_NE(c, nullptr);
  auto object = WaitForObject(
      "a", [](const json& o) { return Condition(o, "Stalled").value("status", "") == "True"; },
      kSettle);
  ASSERT_THAT(object, IsOk()) << c->Describe();
  EXPECT_EQ((*object)["status"].value("phase", ""), "Failed");
  EXPECT_EQ(Condition(*object, "Stalled").value("reason", ""), "AuthFailed");
  EXPECT_EQ(Condition(*object, "Ready").value("status", ""), "False");
  const std::string message = Condition(*object, "Stalled").value("message", "");
  EXPECT_THAT(message, HasSubstr("authentication failed for user root"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("not-the-password")));

  // Retried slowly: a few seconds on, only a handful of lines name the failure, and it holds.
  std::this_thread::sleep_for(seconds(4));  // a window to count retries in
  const std::string log = c->Log();
  EXPECT_LE(CountLines(log, "authentication failed"), 4) << log;
  EXPECT_THAT(log, ::testing::Not(HasSubstr("not-the-password")));
  auto still = Object("a");
  ASSERT_THAT(still, IsOk());
  EXPECT_EQ(Condition(*still, "Stalled").value("reason", ""), "AuthFailed");
  EXPECT_THAT(inspect().Get(prefix()), IsOkAndHolds(::testing::IsEmpty()));

  // The password file is fixed: Ready within a few seconds, same process.
  std::ofstream(password_file, std::ios::trunc) << EtcdProcess::kRootPassword << "\n";
  const auto fixed = std::chrono::steady_clock::now();
  auto ready = WaitReadyObject("a");
  ASSERT_THAT(ready, IsOk()) << c->Describe();
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - fixed).count();
  std::cout << "[measure] Ready after the password file was fixed: " << took << " s" << std::endl;
  EXPECT_LE(took, 10.0);
  EXPECT_EQ(Condition(*ready, "Stalled").value("status", ""), "False");
  ASSERT_THAT(WaitForKey(prefix(), kSettle), IsOk());
  EXPECT_TRUE(c->Running()) << c->Describe();
}

}  // namespace
}  // namespace registrar::testing
