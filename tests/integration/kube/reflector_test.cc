// The Kubernetes source (runtime::Reflector + source::KubeSource) against the real
// kube-apiserver 1.34 (one control plane per binary, a fresh namespace per test), through the
// real cpprestsdk client (kube::NewClient): objects created, changed and deleted arrive; watches
// cut by the fault proxy resume by resourceVersion (nothing missed, no relist); a real 410 gives
// exactly one relist whose diff carries the deletions of the gap; --namespace and --selector
// scoping; a missing CRD and a missing RBAC rule are clear errors, and the source syncs once the
// CRD is applied, without a restart.
#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "controller/common/clock.h"
#include "controller/kube/api.h"
#include "controller/kube/client.h"
#include "controller/source/kube_source.h"
#include "tests/fixtures/kube_control_plane.h"
#include "tests/fixtures/kube_fault_proxy.h"
#include "tests/testing/wait.h"

namespace registrar::source {
namespace {

using ::registrar::testing::KubeControlPlane;
using ::registrar::testing::KubeFaultProxy;
using ::registrar::testing::WaitFor;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr char kCrdName[] = "serviceregistrations.registrar.dev";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string CrdPath() {
  const char* dir = std::getenv("ER_SOURCE_DIR");
  return std::string(dir != nullptr ? dir : ".") + "/crds/serviceregistrations.yaml";
}

class StaticToken final : public kube::Credentials {
 public:
  explicit StaticToken(std::string token) : token_(std::move(token)) {}
  absl::StatusOr<std::string> Token() override { return token_; }
  void Invalidate() override {}

 private:
  std::string token_;
};

// Remembers every identity the source's handler was given.
class Recorder {
 public:
  void Add(const std::vector<std::string>& ids) {
    absl::MutexLock lock(&mu_);
    seen_.insert(ids.begin(), ids.end());
  }
  bool Saw(const std::string& id) {
    absl::MutexLock lock(&mu_);
    return seen_.contains(id);
  }
  void Clear() {
    absl::MutexLock lock(&mu_);
    seen_.clear();
  }

 private:
  absl::Mutex mu_;
  std::set<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

class KubeReflectorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto plane = KubeControlPlane::Shared();
    ASSERT_TRUE(plane.ok()) << plane.status();
    plane_ = *plane;
  }
  void SetUp() override {
    ASSERT_NE(plane_, nullptr);
    auto ns = plane_->CreateNamespace("refl");
    ASSERT_TRUE(ns.ok()) << ns.status();
    ns_ = *ns;
    admin_ = NewClient(plane_->server(), "", /*admin_certificate=*/true);
    ASSERT_NE(admin_, nullptr);
    admin_api_ = std::make_unique<kube::Api>(*admin_);
  }
  void TearDown() override {
    if (source_) {
      source_->Stop();
    }
  }
  static void ApplyCrd() {
    ASSERT_TRUE(plane_->Kubectl({"apply", "-f", CrdPath()}).ok());
    auto established = plane_->Kubectl({"wait", "--for=condition=Established",
                                        std::string("crd/") + kCrdName, "--timeout=60s"});
    ASSERT_TRUE(established.ok()) << established.status();
  }

  // A client of `server` with the admin certificate or a bearer token.
  static std::unique_ptr<kube::Client> NewClient(const std::string& server,
                                                 const std::string& token,
                                                 bool admin_certificate) {
    kube::ClusterConfig config;
    config.server = server;
    config.ca_pem = ReadFile(plane_->ca_file());
    if (admin_certificate) {
      config.client_cert_pem = ReadFile(plane_->dir() + "/admin.crt");
      config.client_key_pem = ReadFile(plane_->dir() + "/admin.key");
    }
    config.origin = "test";
    auto client = kube::NewClient(config, std::make_unique<StaticToken>(token), {},
                                  RealClock::Get());
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // A ServiceAccount token of `name` in ns_, bound to `cluster_role` ("" binds nothing).
  std::string ServiceAccountToken(const std::string& name, const std::string& cluster_role) {
    EXPECT_TRUE(plane_->CreateServiceAccount(ns_, name).ok());
    if (!cluster_role.empty()) {
      EXPECT_TRUE(plane_->BindClusterRole(ns_, name, cluster_role).ok());
    }
    auto token = plane_->RequestToken(ns_, name);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? *token : "";
  }

  std::unique_ptr<KubeFaultProxy> StartProxy() {
    auto proxy = KubeFaultProxy::Start({.upstream_port = plane_->port(),
                                        .upstream_ca_file = plane_->ca_file(),
                                        .serving_cert_file = plane_->dir() + "/server.crt",
                                        .serving_key_file = plane_->dir() + "/server.key"});
    EXPECT_TRUE(proxy.ok()) << proxy.status();
    return proxy.ok() ? *std::move(proxy) : nullptr;
  }

  void StartSource(kube::Api& api, KubeSourceOptions options) {
    source_ = std::make_unique<KubeSource>(api, RealClock::Get(), std::move(options));
    source_->Start([this](const std::vector<std::string>& ids) { recorder_.Add(ids); });
  }
  KubeSourceOptions ScopedOptions(const std::string& ns = "") {
    KubeSourceOptions options;
    options.namespace_ = ns.empty() ? ns_ : ns;
    options.resync_period = 0s;
    // Short backoffs keep a test of many cut watches short; the rule itself is unit-tested.
    options.backoff = {.initial = 100ms, .max = 1s, .reset_after = 2min};
    return options;
  }

  json Sreg(const std::string& name, const std::string& value, json labels) {
    return {{"apiVersion", "registrar.dev/v1alpha1"},
            {"kind", "ServiceRegistration"},
            {"metadata", {{"name", name}, {"labels", labels}}},
            {"spec", {{"key", "/k/" + name}, {"value", value}}}};
  }
  void Create(const std::string& name, const std::string& value = "v",
              json labels = json::object(), const std::string& ns = "") {
    auto created =
        admin_api_->Create(kube::kServiceRegistrations, ns.empty() ? ns_ : ns, Sreg(name, value, labels));
    ASSERT_TRUE(created.ok()) << created.status();
  }
  void Patch(const std::string& name, const json& patch) {
    auto patched = admin_api_->Patch(kube::kServiceRegistrations, ns_, name,
                                     kube::PatchType::kMerge, patch);
    ASSERT_TRUE(patched.ok()) << patched.status();
  }
  void SetValue(const std::string& name, const std::string& value) {
    Patch(name, {{"spec", {{"value", value}}}});
  }
  void Delete(const std::string& name) {
    kube::Request r;
    r.method = "DELETE";
    r.path = kube::ObjectPath(kube::kServiceRegistrations, ns_, name);
    r.verb = "delete";
    r.resource = "serviceregistrations";
    auto deleted = admin_->Call(r);
    ASSERT_TRUE(deleted.ok()) << deleted.status();
  }
  std::string ValueOf(const std::string& name, const std::string& ns = "") {
    ObjectPtr object = source_->store().Get((ns.empty() ? ns_ : ns) + "/" + name);
    return object == nullptr ? "<absent>" : object->spec.value.value_or("<none>");
  }
  // The store holds exactly `expected` (name -> value) of ns_.
  [[nodiscard]] bool StoreIs(const std::map<std::string, std::string>& expected) {
    return WaitFor(
        [&] {
          if (source_->store().size() != expected.size()) {
            return false;
          }
          for (const auto& [name, value] : expected) {
            if (ValueOf(name) != value) {
              return false;
            }
          }
          return true;
        },
        30s);
  }
  int ListRequests(KubeFaultProxy& proxy) {
    int lists = 0;
    for (const auto& request : proxy.Requests()) {
      lists += !request.watch && request.method == "GET" &&
               absl::EndsWith(request.path, "/serviceregistrations");
    }
    return lists;
  }

  static KubeControlPlane* plane_;
  std::string ns_;
  std::unique_ptr<kube::Client> admin_;
  std::unique_ptr<kube::Api> admin_api_;
  Recorder recorder_;
  std::unique_ptr<KubeFaultProxy> proxy_;  // outlives source_ (stopped in TearDown)
  std::unique_ptr<KubeSource> source_;
};
KubeControlPlane* KubeReflectorTest::plane_ = nullptr;

// First in the file: it deletes the CRD (cluster-wide) if an earlier run of the plane had it, and
// leaves it applied for the tests after it.
TEST_F(KubeReflectorTest, AMissingCrdIsAClearErrorAndTheSourceSyncsOnceItIsApplied) {
  ASSERT_TRUE(plane_->Kubectl({"delete", "crd", kCrdName, "--ignore-not-found", "--wait"}).ok());
  kube::Api api(*admin_);
  StartSource(api, ScopedOptions());
  ASSERT_TRUE(WaitFor([&] { return !source_->last_error().ok(); }, 30s));
  EXPECT_FALSE(source_->synced());
  const std::string error(source_->health().message());
  EXPECT_THAT(error, HasSubstr("list serviceregistrations.registrar.dev in namespace " + ns_));
  EXPECT_THAT(error, HasSubstr("HTTP 404"));
  EXPECT_THAT(error, HasSubstr("is the CRD installed? kubectl apply -f crds/"));

  ApplyCrd();
  ASSERT_TRUE(WaitFor([&] { return source_->synced(); }, 60s)) << source_->last_error();
  EXPECT_TRUE(source_->health().ok()) << source_->health();
  Create("after-crd");
  EXPECT_TRUE(StoreIs({{"after-crd", "v"}}));
}

TEST_F(KubeReflectorTest, ObjectsCreatedChangedAndDeletedArrive) {
  ApplyCrd();
  Create("a", "v1");
  kube::Api api(*admin_);
  StartSource(api, ScopedOptions());
  ASSERT_TRUE(StoreIs({{"a", "v1"}}));
  EXPECT_TRUE(source_->synced());

  Create("b", "v1");
  ASSERT_TRUE(StoreIs({{"a", "v1"}, {"b", "v1"}}));
  SetValue("a", "v2");
  ASSERT_TRUE(StoreIs({{"a", "v2"}, {"b", "v1"}}));
  Delete("b");
  ASSERT_TRUE(StoreIs({{"a", "v2"}}));
  EXPECT_TRUE(recorder_.Saw(ns_ + "/b"));
  EXPECT_EQ(source_->stats().relists, 0);
  EXPECT_EQ(source_->stats().lists, 1);

  // Stop() cancels the open watch of the real client instead of waiting for its timeoutSeconds.
  const auto start = std::chrono::steady_clock::now();
  source_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(KubeReflectorTest, WatchesCutByTheProxyResumeByResourceVersionWithNothingMissed) {
  ApplyCrd();
  proxy_ = StartProxy();
  ASSERT_NE(proxy_, nullptr);
  KubeFaultProxy* proxy = proxy_.get();
  auto client = NewClient(proxy->url(), ServiceAccountToken("watcher", "cluster-admin"), false);
  ASSERT_NE(client, nullptr);
  kube::Api api(*client);
  Create("a", "0");
  StartSource(api, ScopedOptions());
  ASSERT_TRUE(StoreIs({{"a", "0"}}));

  std::map<std::string, std::string> expected = {{"a", "0"}};
  for (int round = 1; round <= 5; ++round) {
    // The cut must find a watch the reflector has opened (its answer came), or the reopen is
    // not a restart on its side: slow builds (ASan) can leave the answer unread for a moment.
    ASSERT_TRUE(WaitFor([&] { return source_->stats().watches >= round; }, 30s));
    ASSERT_TRUE(WaitFor([&] { return proxy->OpenWatches() >= 1; }, 30s));
    EXPECT_GE(proxy->CloseWatches(1s), 1);
    // Changes while no watch is open: they must arrive through the resumed watch.
    const std::string name = "n" + std::to_string(round);
    Create(name, "v");
    SetValue("a", std::to_string(round));
    expected[name] = "v";
    expected["a"] = std::to_string(round);
    if (round == 3) {
      Delete("n1");
      expected.erase("n1");
    }
  }
  ASSERT_TRUE(StoreIs(expected)) << "store has " << source_->store().size();
  runtime::ReflectorStats stats = source_->stats();
  EXPECT_EQ(stats.relists, 0);
  EXPECT_EQ(stats.lists, 1);
  // Five cuts of opened watches, each reopened (a cut can also catch a reopen before its answer
  // came, which adds attempts, never removes one); one list and every watch from a version.
  EXPECT_GE(stats.watch_restarts, 5);
  EXPECT_EQ(ListRequests(*proxy), 1) << "every watch resumed from a resourceVersion";
  for (const auto& request : proxy->Requests()) {
    if (request.watch) {
      EXPECT_THAT(request.query, HasSubstr("resourceVersion=")) << request.query;
    }
  }
  EXPECT_TRUE(recorder_.Saw(ns_ + "/n1"));
}

// A real 410: the CRD's storage (and its watch cache) is rebuilt by a change of the CRD's spec,
// and etcd is compacted, while the source's watch is cut and changes happen. The watch resumed
// from the old resourceVersion is refused with 410, whether the new watch cache or (while it
// initializes) etcd answers it; the relist's diff carries the deletion made in the gap.
TEST_F(KubeReflectorTest, ARealGoneGivesExactlyOneRelistAndNothingIsMissed) {
  ApplyCrd();
  proxy_ = StartProxy();
  ASSERT_NE(proxy_, nullptr);
  KubeFaultProxy* proxy = proxy_.get();
  auto client = NewClient(proxy->url(), ServiceAccountToken("watcher", "cluster-admin"), false);
  ASSERT_NE(client, nullptr);
  kube::Api api(*client);
  Create("a");
  Create("b");
  Create("c");
  StartSource(api, ScopedOptions());
  ASSERT_TRUE(StoreIs({{"a", "v"}, {"b", "v"}, {"c", "v"}}));
  ASSERT_TRUE(WaitFor([&] { return proxy->OpenWatches() >= 1; }, 30s));
  recorder_.Clear();

  const std::string column = absl::StrCat(
      R"([{"op":"add","path":"/spec/versions/0/additionalPrinterColumns/-","value":)",
      R"({"name":"Probe)", ns_.substr(ns_.size() - 5), R"(","type":"string","jsonPath":".spec.key"}}])");
  ASSERT_TRUE(plane_->Kubectl({"patch", "crd", kCrdName, "--type=json", "-p", column}).ok());
  EXPECT_GE(proxy->CloseWatches(5s), 1);  // room for the gap and the compaction
  Delete("a");
  SetValue("b", "gap");
  Create("d");
  auto status = plane_->etcd().Etcdctl({"endpoint", "status", "-w", "json"});
  ASSERT_TRUE(status.ok()) << status.status();
  const int64_t revision = json::parse(*status)[0]["Status"]["header"]["revision"];
  ASSERT_TRUE(plane_->etcd().Etcdctl({"compact", std::to_string(revision), "--physical"}).ok());

  ASSERT_TRUE(StoreIs({{"b", "gap"}, {"c", "v"}, {"d", "v"}}));
  ASSERT_TRUE(WaitFor([&] { return source_->stats().relists >= 1; }, 30s));
  EXPECT_EQ(source_->stats().relists, 1);
  EXPECT_EQ(ListRequests(*proxy), 2);
  EXPECT_TRUE(recorder_.Saw(ns_ + "/a")) << "the deletion in the gap reached the handler";
  // Still watching after the relist: a later change arrives by the watch.
  SetValue("c", "later");
  ASSERT_TRUE(StoreIs({{"b", "gap"}, {"c", "later"}, {"d", "v"}}));
  EXPECT_EQ(source_->stats().relists, 1);
}

TEST_F(KubeReflectorTest, NamespaceAndSelectorScopeWhatTheSourceSees) {
  ApplyCrd();
  auto other = plane_->CreateNamespace("refl-other");
  ASSERT_TRUE(other.ok()) << other.status();
  Create("a", "v", {{"tier", "rpc"}});
  Create("b", "v", {{"tier", "web"}});
  Create("c", "v", {{"tier", "rpc"}}, *other);
  kube::Api api(*admin_);
  KubeSourceOptions options = ScopedOptions();
  options.label_selector = "tier=rpc";
  StartSource(api, options);
  ASSERT_TRUE(StoreIs({{"a", "v"}}));

  Patch("b", {{"metadata", {{"labels", {{"tier", "rpc"}}}}}});
  ASSERT_TRUE(StoreIs({{"a", "v"}, {"b", "v"}}));
  Patch("a", {{"metadata", {{"labels", {{"tier", "web"}}}}}});
  ASSERT_TRUE(StoreIs({{"b", "v"}}));
  EXPECT_EQ(source_->store().Get(*other + "/c"), nullptr);
}

TEST_F(KubeReflectorTest, ForbiddenListIsAnErrorNamingTheVerbAndTheResource) {
  ApplyCrd();
  auto client = NewClient(plane_->server(), ServiceAccountToken("no-rbac", ""), false);
  ASSERT_NE(client, nullptr);
  kube::Api api(*client);
  StartSource(api, ScopedOptions());
  ASSERT_TRUE(WaitFor([&] { return !source_->last_error().ok(); }, 30s));
  EXPECT_FALSE(source_->synced());
  const std::string error(source_->last_error().message());
  EXPECT_THAT(error, HasSubstr("HTTP 403 Forbidden"));
  EXPECT_THAT(error, HasSubstr("cannot list resource \"serviceregistrations\""));
  EXPECT_THAT(error, HasSubstr("in API group \"registrar.dev\""));
  EXPECT_EQ(source_->errors()["serviceregistrations.registrar.dev"], error);
}

}  // namespace
}  // namespace registrar::source
