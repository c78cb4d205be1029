// KubeSource over a fake kube::Client (tests/unit/runtime/fake_kube_client.h) and a FakeClock:
// the store after listings and watch events, the diff of a relist, partial lists, objects that
// do not decode, the periodic resync and the errors shown for /readyz.
#include "controller/source/kube_source.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"
#include "tests/unit/runtime/fake_kube_client.h"

namespace registrar::source {
namespace {

using kube::testing::Event;
using kube::testing::FakeClient;
using kube::testing::ListBody;
using kube::testing::StatusBody;
using ::registrar::testing::FakeClock;
using ::registrar::testing::IsOk;
using ::registrar::testing::WaitFor;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Key;
using ::testing::Not;
using namespace std::chrono_literals;
using nlohmann::json;

json Object(const std::string& name, const std::string& rv, const std::string& value = "v") {
  return {{"apiVersion", "registrar.dev/v1alpha1"},
          {"kind", "ServiceRegistration"},
          {"metadata",
           {{"name", name}, {"namespace", "ns"}, {"resourceVersion", rv}, {"uid", "uid-" + name}}},
          {"spec", {{"key", "/k/" + name}, {"value", value}}}};
}

json Undecodable(const std::string& name, const std::string& rv) {
  json object = Object(name, rv);
  object["spec"]["ttlSeconds"] = "ten";
  return object;
}

class KubeSourceTest : public ::testing::Test {
 protected:
  ~KubeSourceTest() override {
    if (source_) {
      source_->Stop();
    }
  }
  void StartSource(KubeSourceOptions options = {}) {
    options.random01 = [] { return 0.5; };
    source_ = std::make_unique<KubeSource>(api_, clock_, std::move(options));
    source_->Start([this](const std::vector<std::string>& ids) {
      absl::MutexLock lock(&mu_);
      calls_.push_back(ids);
    });
  }
  std::vector<std::vector<std::string>> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  size_t call_count() {
    absl::MutexLock lock(&mu_);
    return calls_.size();
  }
  [[nodiscard]] bool CallsReach(size_t n) {
    return WaitFor([&] { return call_count() >= n; }, 10s);
  }
  [[nodiscard]] bool Eventually(const std::function<bool()>& condition) {
    return WaitFor(
        [&] {
          clock_.Advance(1s);
          return condition();
        },
        10s);
  }
  [[nodiscard]] bool WatchesOpened(size_t n) {
    return WaitFor([&] { return client_.watch_count() >= n; }, 10s);
  }
  std::string ValueOf(const std::string& identity) {
    ObjectPtr object = source_->store().Get(identity);
    return object != nullptr && object->spec.value ? *object->spec.value : "<none>";
  }

  FakeClient client_;
  kube::Api api_{client_};
  FakeClock clock_;
  absl::Mutex mu_;
  std::vector<std::vector<std::string>> calls_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<KubeSource> source_;
};

TEST_F(KubeSourceTest, TheFirstListingFillsTheStoreAndSyncsWithOneHandlerCall) {
  client_.AnswerList(ListBody({Object("a", "5"), Object("b", "6")}, "10"));
  StartSource();
  ASSERT_TRUE(CallsReach(1));
  EXPECT_TRUE(source_->synced());
  EXPECT_THAT(calls(), ElementsAre(ElementsAre("ns/a", "ns/b")));
  EXPECT_EQ(source_->store().size(), 2u);
  EXPECT_EQ(source_->store().Get("ns/a")->metadata.uid, "uid-a");
  EXPECT_THAT(source_->health(), IsOk());
  EXPECT_THAT(source_->errors(), IsEmpty());
}

TEST_F(KubeSourceTest, AnEmptyFirstListingStillSyncsAndCallsTheHandler) {
  client_.AnswerList(ListBody({}, "10"));
  StartSource();
  ASSERT_TRUE(CallsReach(1));
  EXPECT_TRUE(source_->synced());
  EXPECT_THAT(calls(), ElementsAre(IsEmpty()));
}

TEST_F(KubeSourceTest, WatchEventsAddChangeAndRemoveOneIdentityEach) {
  client_.AnswerList(ListBody({Object("a", "5"), Object("b", "6")}, "10"));
  StartSource();
  ASSERT_TRUE(WatchesOpened(1));
  client_.watch(0)->Push(Event("ADDED", Object("c", "11")));
  client_.watch(0)->Push(Event("MODIFIED", Object("a", "12", "v2")));
  client_.watch(0)->Push(Event("DELETED", Object("b", "13")));
  ASSERT_TRUE(CallsReach(4));
  EXPECT_THAT(calls(), ElementsAre(ElementsAre("ns/a", "ns/b"), ElementsAre("ns/c"),
                                   ElementsAre("ns/a"), ElementsAre("ns/b")));
  EXPECT_EQ(ValueOf("ns/a"), "v2");
  EXPECT_EQ(source_->store().Get("ns/b"), nullptr);
  EXPECT_NE(source_->store().Get("ns/c"), nullptr);
}

TEST_F(KubeSourceTest, ARelistAfterGoneReportsExactlyTheDiff) {
  client_.AnswerList(ListBody({Object("a", "5"), Object("b", "6"), Object("c", "7")}, "10"));
  StartSource();
  ASSERT_TRUE(WatchesOpened(1));
  ObjectPtr a_before = source_->store().Get("ns/a");
  // During the gap: b deleted, c changed, d created; a untouched.
  client_.AnswerList(ListBody({Object("a", "5"), Object("c", "9", "v2"), Object("d", "8")}, "30"));
  client_.watch(0)->Push(Event("ERROR", StatusBody(410, "Expired", "too old resource version")));
  ASSERT_TRUE(CallsReach(2));
  EXPECT_THAT(calls().at(1), ElementsAre("ns/b", "ns/c", "ns/d"));
  EXPECT_EQ(source_->store().Get("ns/a"), a_before) << "an unchanged object keeps its pointer";
  EXPECT_EQ(source_->store().Get("ns/b"), nullptr);
  EXPECT_EQ(ValueOf("ns/c"), "v2");
  EXPECT_EQ(source_->stats().relists, 1);
}

TEST_F(KubeSourceTest, AFailedPageOnARelistRemovesNothing) {
  client_.AnswerList(ListBody({Object("a", "5"), Object("b", "6")}, "10"));
  StartSource();
  ASSERT_TRUE(WatchesOpened(1));
  client_.AnswerList(ListBody({Object("a", "5")}, "30", "token"));
  client_.FailCall(500, StatusBody(500, "InternalError", "etcd timed out"));
  client_.watch(0)->Push(Event("ERROR", StatusBody(410, "Expired", "too old resource version")));
  ASSERT_TRUE(WaitFor([&] { return !source_->last_error().ok(); }, 10s));
  EXPECT_EQ(source_->store().size(), 2u);
  EXPECT_THAT(calls(), ElementsAre(ElementsAre("ns/a", "ns/b")));
  EXPECT_THAT(source_->errors(), Contains(Key("serviceregistrations.registrar.dev")));

  client_.AnswerList(ListBody({Object("a", "5")}, "31"));  // the retry completes: b is gone
  ASSERT_TRUE(Eventually([&] { return call_count() >= 2; }));
  EXPECT_THAT(calls().at(1), ElementsAre("ns/b"));
  EXPECT_EQ(source_->store().size(), 1u);
  EXPECT_THAT(source_->errors(), IsEmpty());
}

TEST_F(KubeSourceTest, AnObjectThatNoLongerDecodesKeepsItsLastGoodVersion) {
  client_.AnswerList(ListBody({Object("a", "5")}, "10"));
  StartSource();
  ASSERT_TRUE(WatchesOpened(1));
  ObjectPtr good = source_->store().Get("ns/a");
  ASSERT_NE(good, nullptr);
  client_.watch(0)->Push(Event("MODIFIED", Undecodable("a", "11")));
  client_.watch(0)->Push(Event("ADDED", Undecodable("z", "12")));
  client_.watch(0)->Push(Event("ADDED", Object("b", "13")));  // proves the two were handled
  ASSERT_TRUE(CallsReach(2));
  EXPECT_THAT(calls(), ElementsAre(ElementsAre("ns/a"), ElementsAre("ns/b")));
  EXPECT_EQ(source_->store().Get("ns/a"), good);
  EXPECT_EQ(source_->store().Get("ns/z"), nullptr) << "never decoded: not in the store";
  std::map<std::string, std::string> errors = source_->errors();
  EXPECT_THAT(errors["ns/a"], HasSubstr("ttlSeconds"));
  EXPECT_THAT(errors["ns/a"], HasSubstr("keeping the last good version, resourceVersion 5"));
  EXPECT_THAT(errors["ns/z"], HasSubstr("ttlSeconds"));

  // A relist with the object still bad keeps it too; fixed, it is replaced and the error goes.
  client_.AnswerList(ListBody({Undecodable("a", "11"), Object("b", "13")}, "20"));
  client_.watch(0)->Push(Event("ERROR", StatusBody(410, "Expired", "too old resource version")));
  ASSERT_TRUE(WaitFor([&] { return source_->stats().relists == 1; }, 10s));
  EXPECT_EQ(source_->store().Get("ns/a"), good);
  EXPECT_THAT(source_->errors(), Not(Contains(Key("ns/z")))) << "z is gone from the listing";
  ASSERT_TRUE(WatchesOpened(2));
  client_.watch(1)->Push(Event("MODIFIED", Object("a", "21", "fixed")));
  ASSERT_TRUE(WaitFor([&] { return ValueOf("ns/a") == "fixed"; }, 10s));
  EXPECT_THAT(source_->errors(), IsEmpty());
}

TEST_F(KubeSourceTest, ThePeriodicResyncHandsEveryIdentityToTheHandler) {
  client_.AnswerList(ListBody({Object("a", "5"), Object("b", "6")}, "10"));
  KubeSourceOptions options;
  options.resync_period = 60s;
  int hook_calls = 0;
  options.on_resync = [&] { ++hook_calls; };
  StartSource(std::move(options));
  ASSERT_TRUE(CallsReach(1));
  EXPECT_EQ(source_->resyncs(), 0);
  ASSERT_TRUE(Eventually([&] { return call_count() >= 2; }));
  EXPECT_THAT(calls().at(1), ElementsAre("ns/a", "ns/b"));
  EXPECT_EQ(source_->resyncs(), 1);
  source_->Stop();
  EXPECT_EQ(hook_calls, 1);
}

TEST_F(KubeSourceTest, AMissingCrdIsAClearErrorUntilTheListWorks) {
  client_.FailCall(404, StatusBody(404, "NotFound", "the server could not find the requested resource"));
  StartSource();
  ASSERT_TRUE(WaitFor([&] { return !source_->last_error().ok(); }, 10s));
  EXPECT_THAT(std::string(source_->health().message()), HasSubstr("is the CRD installed? kubectl apply -f crds/"));
  EXPECT_THAT(source_->errors()["serviceregistrations.registrar.dev"],
              HasSubstr("list serviceregistrations.registrar.dev: HTTP 404"));
  EXPECT_FALSE(source_->synced());
  EXPECT_EQ(call_count(), 0u);

  client_.AnswerList(ListBody({}, "10"));
  ASSERT_TRUE(Eventually([&] { return source_->synced(); }));
  EXPECT_THAT(source_->health(), IsOk());
}

TEST_F(KubeSourceTest, HealthSaysTheFirstListIsPendingBeforeAnyAnswer) {
  KubeSource source(api_, clock_, {});
  EXPECT_THAT(std::string(source.health().message()),
              HasSubstr("the first list of serviceregistrations.registrar.dev has not completed"));
}

}  // namespace
}  // namespace registrar::source
