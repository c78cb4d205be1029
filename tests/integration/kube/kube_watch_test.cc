// Watch semantics of the real kube-apiserver 1.34 that the controller's watcher relies on: event
// types and order, resume from a resourceVersion with nothing lost or repeated, no events for
// no-op writes, latency, timeoutSeconds, selector transitions, 410 for a resourceVersion older
// than the watch cache (and none for a merely compacted etcd), all-namespaces and Table watches,
// many watches beside a stuck consumer.
#include <unistd.h>

#include <chrono>

#include "gtest/gtest.h"
#include "tests/integration/kube/kube_api_harness.h"

namespace registrar::kube_testing {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kMerge = "application/merge-patch+json";

class WatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = Backend::Start().release();
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE(EnsureCrd(server_->http()));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ns_ = "w" + std::to_string(++counter_);
    ASSERT_TRUE(CreateNamespace(http(), ns_));
  }
  Http http() const { return server_->http(); }
  std::string Coll() const {
    return "/apis/registrar.dev/v1alpha1/namespaces/" + ns_ + "/serviceregistrations";
  }
  json Create(const std::string& name, json labels = json::object()) {
    json body = {{"apiVersion", "registrar.dev/v1alpha1"}, {"kind", "ServiceRegistration"},
                 {"metadata", {{"name", name}, {"labels", labels}}},
                 {"spec", {{"key", "/k/" + name}, {"value", "v"}}}};
    HttpResponse r = http().Post(Coll(), body);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json();
  }
  json SetValue(const std::string& name, const std::string& value) {
    HttpResponse r = http().Patch(Coll() + "/" + name, kMerge, {{"spec", {{"value", value}}}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }
  std::unique_ptr<WatchReader> Watch(const std::string& query) {
    auto w = WatchReader::Open(server_->http(), Coll() + "?watch=true&" + query);
    EXPECT_EQ(w->status(), 200) << w->error_body();
    return w;
  }
  static std::string Rv(const json& obj) { return obj["metadata"]["resourceVersion"]; }

  static Backend* server_;
  static int counter_;
  std::string ns_;
};
Backend* WatchTest::server_ = nullptr;
int WatchTest::counter_ = 0;

TEST_F(WatchTest, InitialAddedThenChangesInOrder) {
  json a = Create("a");
  auto w = Watch("");
  auto first = w->Next(seconds(5));
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["type"], "ADDED");
  EXPECT_EQ((*first)["object"]["metadata"]["name"], "a");
  json m = SetValue("a", "v2");
  HttpResponse del = http().Delete(Coll() + "/a");
  ASSERT_EQ(del.status, 200);
  auto e1 = w->Next(seconds(5));
  auto e2 = w->Next(seconds(5));
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ((*e1)["type"], "MODIFIED");
  EXPECT_EQ(Rv((*e1)["object"]), Rv(m));
  EXPECT_EQ((*e2)["type"], "DELETED");
  EXPECT_GT(std::stoll(Rv((*e2)["object"])), std::stoll(Rv(m)));  // the deletion revision
  EXPECT_EQ((*e2)["object"]["spec"]["value"], "v2");               // last state
}

TEST_F(WatchTest, ResumeFromResourceVersionLosesNothingAndRepeatsNothing) {
  json a = Create("a");
  std::string start = Rv(a);
  std::vector<std::string> written;
  for (int i = 0; i < 6; ++i) written.push_back(Rv(SetValue("a", "v" + std::to_string(i))));
  std::vector<std::string> seen;
  {
    auto w = Watch("resourceVersion=" + start);
    for (int i = 0; i < 3; ++i) {
      auto e = w->Next(seconds(5));
      ASSERT_TRUE(e);
      seen.push_back(Rv((*e)["object"]));
    }
  }  // the client goes away after three events
  for (int i = 6; i < 9; ++i) written.push_back(Rv(SetValue("a", "v" + std::to_string(i))));
  auto w = Watch("resourceVersion=" + seen.back());
  while (seen.size() < written.size()) {
    auto e = w->Next(seconds(5));
    ASSERT_TRUE(e) << "missing events after " << seen.back();
    EXPECT_EQ((*e)["type"], "MODIFIED");
    seen.push_back(Rv((*e)["object"]));
  }
  EXPECT_EQ(seen, written);
  EXPECT_FALSE(w->Next(milliseconds(300)));  // nothing repeated or invented
}

TEST_F(WatchTest, NoOpWritesEmitNothing) {
  json a = Create("a");
  auto w = Watch("resourceVersion=" + Rv(a));
  SetValue("a", "v");  // same value: no-op
  ASSERT_EQ(http().Patch(Coll() + "/a/status", kMerge, {{"status", nullptr}}).status, 200);
  json real = SetValue("a", "changed");
  auto e = w->Next(seconds(5));
  ASSERT_TRUE(e);
  EXPECT_EQ(Rv((*e)["object"]), Rv(real));
}

TEST_F(WatchTest, EventReachesALongWatchQuickly) {
  json a = Create("a");
  auto w = Watch("resourceVersion=" + Rv(a) + "&timeoutSeconds=300&allowWatchBookmarks=false");
  auto t0 = std::chrono::steady_clock::now();
  SetValue("a", "fast");
  auto e = w->Next(seconds(5));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(e);
  EXPECT_LT(elapsed, milliseconds(500));
}

TEST_F(WatchTest, TimeoutSecondsEndsTheStreamCleanly) {
  json a = Create("a");
  auto t0 = std::chrono::steady_clock::now();
  auto w = Watch("resourceVersion=" + Rv(a) + "&timeoutSeconds=1&allowWatchBookmarks=true");
  ASSERT_TRUE(w->WaitEnded(seconds(5)));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, milliseconds(900));
  EXPECT_LT(elapsed, milliseconds(2500));
  // Anything it sent before ending is a bookmark (the real server's cadence is about a minute,
  // so a 1 s watch usually gets none).
  while (auto e = w->Next(milliseconds(10))) {
    EXPECT_EQ((*e)["type"], "BOOKMARK");
  }
}

TEST_F(WatchTest, SelectorTransitionsAddedModifiedDeleted) {
  json a = Create("a");
  Create("b");
  auto w = Watch("labelSelector=app%3Dx&resourceVersion=" + Rv(a));
  auto label = [&](const std::string& name, json value) {
    HttpResponse r = http().Patch(Coll() + "/" + name, kMerge,
                                  {{"metadata", {{"labels", {{"app", value}}}}}});
    EXPECT_EQ(r.status, 200);
  };
  label("a", "x");
  SetValue("a", "changed");
  label("a", "y");
  SetValue("b", "ignored");
  std::vector<std::string> types;
  for (int i = 0; i < 3; ++i) {
    auto e = w->Next(seconds(5));
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)["object"]["metadata"]["name"], "a");
    types.push_back((*e)["type"]);
  }
  EXPECT_EQ(types, std::vector<std::string>({"ADDED", "MODIFIED", "DELETED"}));
  EXPECT_FALSE(w->Next(milliseconds(300)));
  // fieldSelector=metadata.name as kubectl wait/delete use it.
  auto named = Watch("fieldSelector=metadata.name%3Db&resourceVersion=0");
  auto e = named->Next(seconds(5));
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "b");
}

// A real 410 comes from the server itself: a watch from a resourceVersion older than the watch
// cache's window (here: from before the CRD was established) gets an ERROR event with a 410
// Expired Status and the stream ends; a client relists and watches from the list RV. Compacting
// etcd alone does not do it: the watch cache still serves the compacted revisions.
TEST_F(WatchTest, TooOldResourceVersionGivesExpiredThenRelistAndWatchWorks) {
  json a = Create("a");
  auto w = Watch("resourceVersion=1");
  auto e = w->Next(seconds(5));
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ERROR");
  EXPECT_EQ((*e)["object"]["code"], 410);
  EXPECT_EQ((*e)["object"]["reason"], "Expired");
  EXPECT_NE((*e)["object"]["message"].get<std::string>().find("too old resource version"),
            std::string::npos) << e->dump();
  EXPECT_TRUE(w->WaitEnded(seconds(5)));
  std::string rv = http().Get(Coll()).json()["metadata"]["resourceVersion"];
  auto fresh = Watch("resourceVersion=" + rv);
  json m = SetValue("a", "after");
  auto ok = fresh->Next(seconds(5));
  ASSERT_TRUE(ok);
  EXPECT_EQ(Rv((*ok)["object"]), Rv(m));
}

TEST_F(WatchTest, CompactedEtcdStillServesWatchesFromTheWatchCache) {
  json a = Create("a");
  json m = SetValue("a", "c1");
  auto compacted = server_->plane().etcd().Etcdctl({"endpoint", "status", "-w", "json"});
  ASSERT_TRUE(compacted.ok()) << compacted.status();
  int64_t rev = json::parse(*compacted)[0]["Status"]["header"]["revision"];
  ASSERT_TRUE(server_->plane().etcd().Etcdctl({"compact", std::to_string(rev), "--physical"}).ok());
  auto w = Watch("resourceVersion=" + Rv(a));
  auto e = w->Next(seconds(5));
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "MODIFIED");
  EXPECT_EQ(Rv((*e)["object"]), Rv(m));
}

TEST_F(WatchTest, AllNamespacesWatchAndTableEvents) {
  auto all = WatchReader::Open(server_->http(),
                               "/apis/registrar.dev/v1alpha1/serviceregistrations?watch=true&resourceVersion=" +
                                   std::string(http().Get(Coll()).json()["metadata"]["resourceVersion"]));
  ASSERT_EQ(all->status(), 200);
  auto table = WatchReader::Open(server_->http(), Coll() + "?watch=true",
                                 "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
  ASSERT_EQ(table->status(), 200);
  Create("a");
  auto e = all->Next(seconds(5));
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ADDED");
  EXPECT_EQ((*e)["object"]["metadata"]["namespace"], ns_);
  auto t = table->Next(seconds(5));
  ASSERT_TRUE(t);
  EXPECT_EQ((*t)["object"]["kind"], "Table");
  EXPECT_EQ((*t)["object"]["rows"][0]["cells"][0], "a");
}

TEST_F(WatchTest, ManyConcurrentWatchesAndASlowConsumerBlocksNoOne) {
  json a = Create("a");
  // A watcher that never reads: its socket buffers fill up; it must not hold anyone back.
  auto stuck = SendAndNeverRead(server_->http(), Coll() + "?watch=true&resourceVersion=" + Rv(a));
  ASSERT_NE(stuck, nullptr);
  std::vector<std::unique_ptr<WatchReader>> watches;
  for (int i = 0; i < 40; ++i) watches.push_back(Watch("resourceVersion=" + Rv(a)));
  std::string big(20000, 'x');
  json last;
  for (int i = 0; i < 30; ++i) {
    HttpResponse r = http().Patch(Coll() + "/a", kMerge,
                                  {{"metadata", {{"annotations", {{"pad", big + std::to_string(i)}}}}}});
    ASSERT_EQ(r.status, 200);
    last = r.json();
  }
  for (auto& w : watches) {
    std::string rv;
    while (rv != Rv(last)) {
      auto e = w->Next(seconds(10));
      ASSERT_TRUE(e) << "a watcher stalled";
      rv = Rv((*e)["object"]);
    }
  }
  stuck.reset();
}

}  // namespace
}  // namespace registrar::kube_testing
