// Reflector with a fake kube::Client (tests/unit/runtime/fake_kube_client.h) and a FakeClock:
// pagination, watch resume by resourceVersion, bookmarks, 410 -> relist, partial lists, errors,
// backoff waits and Stop(). The reflector runs its real thread; the tests wait for what it did
// (the requests it sent, what reached the sink) and move the fake clock through backoffs.
#include "controller/runtime/reflector.h"

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"
#include "tests/unit/runtime/fake_kube_client.h"

namespace registrar::runtime {
namespace {

using kube::testing::Bookmark;
using kube::testing::Event;
using kube::testing::FakeClient;
using kube::testing::ListBody;
using kube::testing::QueryValue;
using kube::testing::StatusBody;
using ::registrar::testing::FakeClock;
using ::registrar::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::chrono_literals;
using nlohmann::json;

json Object(const std::string& name, const std::string& rv, const std::string& ns = "ns") {
  return {{"apiVersion", "registrar.dev/v1alpha1"},
          {"kind", "ServiceRegistration"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"resourceVersion", rv}}},
          {"spec", {{"key", "/k/" + name}, {"value", "v"}}}};
}

// Records what reaches the sink.
class RecordingSink final : public ReflectorSink {
 public:
  struct Replace {
    std::vector<std::string> names;
    std::string rv;
  };
  // Called at the start of every OnReplace (the reflector's thread), when set before Start().
  std::function<void()> on_replace;

  void OnReplace(std::vector<json> objects, const std::string& rv) override {
    if (on_replace) {
      on_replace();
    }
    absl::MutexLock lock(&mu_);
    Replace r{{}, rv};
    for (const json& o : objects) {
      r.names.push_back(o["metadata"]["name"]);
      managed_fields_ += o["metadata"].contains("managedFields") ? 1 : 0;
    }
    replaces_.push_back(std::move(r));
  }
  void OnEvent(kube::EventType type, const json& object) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::string(kube::EventTypeName(type)) + " " +
                      object["metadata"]["name"].get<std::string>());
    managed_fields_ += object["metadata"].contains("managedFields") ? 1 : 0;
  }
  // Objects that reached the sink with metadata.managedFields.
  int managed_fields() const {
    absl::MutexLock lock(&mu_);
    return managed_fields_;
  }
  std::vector<Replace> replaces() const {
    absl::MutexLock lock(&mu_);
    return replaces_;
  }
  std::vector<std::string> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Replace> replaces_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
  int managed_fields_ ABSL_GUARDED_BY(mu_) = 0;
};

class ReflectorTest : public ::testing::Test {
 protected:
  ReflectorOptions Options() {
    ReflectorOptions options;
    options.resource = kube::kServiceRegistrations;
    options.not_found_hint = "is the CRD installed? kubectl apply -f crds/";
    options.random01 = [] { return 0.5; };
    options.hooks.list_page = [this] { ++pages_; };
    options.hooks.event = [this](kube::EventType type) {
      absl::MutexLock lock(&mu_);
      ++events_by_type_[kube::EventTypeName(type)];
    };
    return options;
  }
  void StartReflector(ReflectorOptions options) {
    reflector_ = std::make_unique<Reflector>(api_, sink_, clock_, std::move(options));
    reflector_->Start();
  }
  void StartReflector() { StartReflector(Options()); }
  // Waits for `condition`, moving the fake clock 1 s per poll so that backoffs pass.
  [[nodiscard]] bool Eventually(const std::function<bool()>& condition) {
    return ::registrar::testing::WaitFor(
        [&] {
          clock_.Advance(1s);
          return condition();
        },
        10s);
  }
  [[nodiscard]] bool WatchesOpened(size_t n) {
    return ::registrar::testing::WaitFor([&] { return client_.watch_count() >= n; }, 10s);
  }
  int EventsOfType(const std::string& type) {
    absl::MutexLock lock(&mu_);
    return events_by_type_[type];
  }

  FakeClient client_;
  kube::Api api_{client_};
  RecordingSink sink_;
  FakeClock clock_;
  std::atomic<int> pages_{0};
  absl::Mutex mu_;
  std::map<std::string, int> events_by_type_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Reflector> reflector_;
};

TEST_F(ReflectorTest, ListsEveryPageThenWatchesFromTheFirstPagesResourceVersion) {
  client_.AnswerList(ListBody({Object("a", "5"), Object("b", "6")}, "10", "token-1"));
  client_.AnswerList(ListBody({Object("c", "7")}, "11", "token-2"));
  client_.AnswerList(ListBody({}, "12"));
  ReflectorOptions options = Options();
  options.page_size = 2;
  options.min_watch_timeout = 300s;
  options.max_watch_timeout = 600s;
  StartReflector(std::move(options));
  ASSERT_TRUE(WatchesOpened(1));

  std::vector<kube::Request> calls = client_.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].path, "/apis/registrar.dev/v1alpha1/serviceregistrations");
  EXPECT_EQ(QueryValue(calls[0], "limit"), "2");
  EXPECT_EQ(QueryValue(calls[0], "continue"), "");
  EXPECT_EQ(QueryValue(calls[1], "continue"), "token-1");
  EXPECT_EQ(QueryValue(calls[2], "continue"), "token-2");
  ASSERT_EQ(sink_.replaces().size(), 1u);
  EXPECT_THAT(sink_.replaces()[0].names, ElementsAre("a", "b", "c"));
  EXPECT_EQ(sink_.replaces()[0].rv, "10");
  EXPECT_TRUE(reflector_->synced());
  EXPECT_EQ(pages_.load(), 3);

  kube::Request watch = client_.watch_requests().at(0);
  EXPECT_EQ(QueryValue(watch, "watch"), "true");
  EXPECT_EQ(QueryValue(watch, "resourceVersion"), "10");
  EXPECT_EQ(QueryValue(watch, "allowWatchBookmarks"), "true");
  EXPECT_EQ(QueryValue(watch, "timeoutSeconds"), "450");  // 300 + 0.5 * (600 - 300)
  EXPECT_THAT(reflector_->last_error(), ::registrar::testing::IsOk());
}

json WithManagedFields(json object) {
  object["metadata"]["managedFields"] = json::array({{{"manager", "kubectl"},
                                                      {"operation", "Apply"},
                                                      {"fieldsV1", {{"f:spec", json::object()}}}}});
  return object;
}

// The listing is held whole until its last page: what the transform drops is not held.
TEST_F(ReflectorTest, TheTransformReachesEveryListedObjectAndEveryWatchEvent) {
  client_.AnswerList(ListBody({WithManagedFields(Object("a", "5"))}, "10", "token-1"));
  client_.AnswerList(ListBody({WithManagedFields(Object("b", "6"))}, "11"));
  ReflectorOptions options = Options();
  options.transform = kube::StripManagedFields;
  StartReflector(std::move(options));
  ASSERT_TRUE(WatchesOpened(1));
  client_.watch(0)->Push(Event("MODIFIED", WithManagedFields(Object("a", "12"))));
  ASSERT_TRUE(Eventually([&] { return sink_.events().size() == 1; }));

  ASSERT_EQ(sink_.replaces().size(), 1u);
  EXPECT_THAT(sink_.replaces()[0].names, ElementsAre("a", "b"));
  EXPECT_THAT(sink_.events(), ElementsAre("MODIFIED a"));
  EXPECT_EQ(sink_.managed_fields(), 0);
}

TEST_F(ReflectorTest, WithoutATransformObjectsReachTheSinkAsSent) {
  client_.AnswerList(ListBody({WithManagedFields(Object("a", "5"))}, "10"));
  StartReflector();
  ASSERT_TRUE(WatchesOpened(1));
  client_.watch(0)->Push(Event("MODIFIED", WithManagedFields(Object("a", "12"))));
  ASSERT_TRUE(Eventually([&] { return sink_.events().size() == 1; }));

  EXPECT_EQ(sink_.managed_fields(), 2);
}

TEST_F(ReflectorTest, ACleanEndResumesFromTheLastEventsResourceVersionWithoutRelisting) {
  client_.AnswerList(ListBody({Object("a", "5")}, "10"));
  StartReflector();
  ASSERT_TRUE(WatchesOpened(1));
  client_.watch(0)->Push(Event("ADDED", Object("b", "11")));
  client_.watch(0)->Push(Event("MODIFIED", Object("a", "12")));
  client_.watch(0)->End();
  ASSERT_TRUE(WatchesOpened(2));

  EXPECT_EQ(QueryValue(client_.watch_requests().at(1), "resourceVersion"), "12");
  EXPECT_EQ(client_.calls().size(), 1u) << "no relist";
  EXPECT_THAT(sink_.events(), ElementsAre("ADDED b", "MODIFIED a"));
  ReflectorStats stats = reflector_->stats();
  EXPECT_EQ(stats.relists, 0);
  EXPECT_EQ(stats.watches, 2);
  EXPECT_EQ(stats.watch_restarts, 1);
  EXPECT_EQ(stats.events, 2);
}

TEST_F(ReflectorTest, ABookmarkAdvancesTheResourceVersionAndReachesNoSink) {
  client_.AnswerList(ListBody({}, "10"));
  StartReflector();
  ASSERT_TRUE(WatchesOpened(1));
  client_.watch(0)->Push(Bookmark("20"));
  client_.watch(0)->End();
  ASSERT_TRUE(WatchesOpened(2));

  EXPECT_EQ(QueryValue(client_.watch_requests().at(1), "resourceVersion"), "20");
  EXPECT_THAT(sink_.events(), IsEmpty());
  EXPECT_EQ(EventsOfType("BOOKMARK"), 1);
  EXPECT_EQ(reflector_->resource_version(), "20");
}

TEST_F(ReflectorTest, ABrokenStreamBacksOffThenResumesFromTheLastResourceVersion) {
  client_.AnswerList(ListBody({}, "10"));
  StartReflector();
  ASSERT_TRUE(WatchesOpened(1));
  client_.watch(0)->Push(Event("ADDED", Object("a", "11")));
  client_.watch(0)->Break(absl::UnavailableError("connection reset"));
  ASSERT_TRUE(::registrar::testing::WaitFor([&] { return !reflector_->last_error().ok(); }, 10s));
  EXPECT_THAT(reflector_->last_error().message(),
              HasSubstr("watch serviceregistrations.registrar.dev: connection reset"));
  EXPECT_EQ(client_.watch_count(), 1u) << "waits the backoff (0.6 s on the fake clock) first";

  ASSERT_TRUE(Eventually([&] { return client_.watch_count() >= 2; }));
  EXPECT_EQ(QueryValue(client_.watch_requests().at(1), "resourceVersion"), "11");
  EXPECT_EQ(client_.calls().size(), 1u) << "no relist";
  EXPECT_THAT(reflector_->last_error(), ::registrar::testing::IsOk());
}

TEST_F(ReflectorTest, AGoneErrorEventRelistsAndTheNextListingReplacesEverything) {
  client_.AnswerList(ListBody({Object("a", "5"), Object("b", "6")}, "10"));
  StartReflector();
  ASSERT_TRUE(WatchesOpened(1));
  client_.AnswerList(ListBody({Object("a", "5")}, "30"));
  client_.watch(0)->Push(Event("ADDED", Object("c", "11")));
  client_.watch(0)->Push(
      Event("ERROR", StatusBody(410, "Expired", "too old resource version: 11 (25)")));
  ASSERT_TRUE(WatchesOpened(2));

  std::vector<RecordingSink::Replace> replaces = sink_.replaces();
  ASSERT_EQ(replaces.size(), 2u);
  EXPECT_THAT(replaces[1].names, ElementsAre("a"));
  EXPECT_EQ(replaces[1].rv, "30");
  EXPECT_EQ(QueryValue(client_.watch_requests().at(1), "resourceVersion"), "30");
  EXPECT_EQ(reflector_->stats().relists, 1);
  EXPECT_EQ(EventsOfType("ERROR"), 1);
}

TEST_F(ReflectorTest, AnErrorEventOtherThanGoneBacksOffAndResumesWithoutRelisting) {
  client_.AnswerList(ListBody({}, "10"));
  StartReflector();
  ASSERT_TRUE(WatchesOpened(1));
  client_.watch(0)->Push(Event("ADDED", Object("a", "11")));
  client_.watch(0)->Push(Event("ERROR", StatusBody(500, "InternalError", "etcd leader changed")));
  ASSERT_TRUE(::registrar::testing::WaitFor([&] { return !reflector_->last_error().ok(); }, 10s));
  EXPECT_THAT(reflector_->last_error(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(reflector_->last_error().message()), HasSubstr("etcd leader changed"));
  ASSERT_TRUE(Eventually([&] { return client_.watch_count() >= 2; }));
  EXPECT_EQ(QueryValue(client_.watch_requests().at(1), "resourceVersion"), "11");
  EXPECT_EQ(client_.calls().size(), 1u) << "no relist";
  EXPECT_EQ(reflector_->stats().relists, 0);
}

TEST_F(ReflectorTest, AGoneBeforeAnyEventRightAfterAListBacksOffBeforeListingAgain) {
  client_.AnswerList(ListBody({}, "10"));
  client_.FailWatch(410, StatusBody(410, "Gone", "too old resource version"));
  StartReflector();
  ASSERT_TRUE(::registrar::testing::WaitFor([&] { return !reflector_->last_error().ok(); }, 10s));
  EXPECT_EQ(client_.calls().size(), 1u) << "no second list before the backoff passed";
  client_.AnswerList(ListBody({}, "20"));
  ASSERT_TRUE(Eventually([&] { return client_.watch_count() >= 1; }));
  EXPECT_EQ(client_.calls().size(), 2u);
  EXPECT_EQ(QueryValue(client_.watch_requests().back(), "resourceVersion"), "20");
}

TEST_F(ReflectorTest, AGoneAnswerToTheWatchRequestRelists) {
  client_.AnswerList(ListBody({}, "10"));
  StartReflector();
  ASSERT_TRUE(WatchesOpened(1));
  client_.AnswerList(ListBody({}, "40"));
  client_.FailWatch(410, StatusBody(410, "Gone", "too old resource version"));
  client_.watch(0)->Push(Event("ADDED", Object("a", "11")));
  client_.watch(0)->End();
  ASSERT_TRUE(Eventually([&] { return client_.watch_count() >= 2; }));

  ASSERT_EQ(client_.watch_requests().size(), 3u);
  EXPECT_EQ(QueryValue(client_.watch_requests()[1], "resourceVersion"), "11");
  EXPECT_EQ(QueryValue(client_.watch_requests()[2], "resourceVersion"), "40");
  EXPECT_EQ(reflector_->stats().relists, 1);
}

TEST_F(ReflectorTest, AFailedPageInTheMiddleReplacesNothingAndTheWholeListIsRetried) {
  client_.AnswerList(ListBody({Object("a", "5")}, "10", "token-1"));
  client_.FailCall(500, StatusBody(500, "InternalError", "etcd is sad"));
  StartReflector();
  ASSERT_TRUE(::registrar::testing::WaitFor([&] { return !reflector_->last_error().ok(); }, 10s));
  EXPECT_THAT(sink_.replaces(), IsEmpty());
  EXPECT_FALSE(reflector_->synced());
  EXPECT_EQ(reflector_->stats().list_failures, 1);
  EXPECT_THAT(reflector_->last_error(), StatusIs(absl::StatusCode::kUnavailable));

  client_.AnswerList(ListBody({Object("a", "5")}, "20", "token-2"));
  client_.AnswerList(ListBody({Object("b", "6")}, "20"));
  ASSERT_TRUE(Eventually([&] { return client_.watch_count() >= 1; }));
  std::vector<kube::Request> calls = client_.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(QueryValue(calls[2], "continue"), "") << "the retry starts from the first page";
  ASSERT_EQ(sink_.replaces().size(), 1u);
  EXPECT_THAT(sink_.replaces()[0].names, ElementsAre("a", "b"));
  EXPECT_EQ(reflector_->stats().relists, 0);
}

TEST_F(ReflectorTest, NotFoundOnListNamesTheResourceAndTheCrdThenSyncsOnceItExists) {
  client_.FailCall(404, StatusBody(404, "NotFound", "the server could not find the requested resource"));
  StartReflector();
  ASSERT_TRUE(::registrar::testing::WaitFor([&] { return !reflector_->last_error().ok(); }, 10s));
  EXPECT_THAT(reflector_->last_error(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(reflector_->last_error().message(),
            "list serviceregistrations.registrar.dev: HTTP 404 NotFound: the server could not "
            "find the requested resource (is the CRD installed? kubectl apply -f crds/)");
  EXPECT_FALSE(reflector_->synced());

  client_.AnswerList(ListBody({}, "10"));
  ASSERT_TRUE(Eventually([&] { return reflector_->synced(); }));
  EXPECT_THAT(reflector_->last_error(), ::registrar::testing::IsOk());
}

// A sink that marks itself synced in OnReplace (KubeSource) must not see the previous failure
// as the current error: /readyz said "not ready" with a stale 404 right after a good list (found
// by the sanitizer build, where kube_source_test's AMissingCrd... test failed on it).
TEST_F(ReflectorTest, AListThatSucceedsAfterAFailureIsHealthyBeforeTheSinkHearsOfIt) {
  client_.FailCall(404, StatusBody(404, "NotFound", "the server could not find the requested resource"));
  absl::Mutex mu;
  std::vector<absl::Status> at_replace;
  sink_.on_replace = [&] {
    absl::Status error = reflector_->last_error();
    absl::MutexLock lock(&mu);
    at_replace.push_back(std::move(error));
  };
  StartReflector();
  ASSERT_TRUE(::registrar::testing::WaitFor([&] { return !reflector_->last_error().ok(); }, 10s));
  client_.AnswerList(ListBody({}, "10"));
  ASSERT_TRUE(Eventually([&] { return reflector_->synced(); }));
  absl::MutexLock lock(&mu);
  ASSERT_EQ(at_replace.size(), 1u);
  EXPECT_THAT(at_replace[0], ::registrar::testing::IsOk());
}

TEST_F(ReflectorTest, ForbiddenOnListKeepsTheServersMessageNamingVerbAndResource) {
  const std::string message =
      "serviceregistrations.registrar.dev is forbidden: User \"system:serviceaccount:a:b\" "
      "cannot list resource \"serviceregistrations\" in API group \"registrar.dev\" at the "
      "cluster scope";
  client_.FailCall(403, StatusBody(403, "Forbidden", message));
  StartReflector();
  ASSERT_TRUE(::registrar::testing::WaitFor([&] { return !reflector_->last_error().ok(); }, 10s));
  EXPECT_THAT(reflector_->last_error(), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(reflector_->last_error().message(),
            "list serviceregistrations.registrar.dev: HTTP 403 Forbidden: " + message);
}

TEST_F(ReflectorTest, NamespaceAndSelectorScopeTheListAndTheWatch) {
  client_.AnswerList(ListBody({}, "10"));
  ReflectorOptions options = Options();
  options.namespace_ = "team-a";
  options.label_selector = "tier=rpc";
  StartReflector(std::move(options));
  ASSERT_TRUE(WatchesOpened(1));
  kube::Request list = client_.calls().at(0);
  kube::Request watch = client_.watch_requests().at(0);
  EXPECT_EQ(list.path, "/apis/registrar.dev/v1alpha1/namespaces/team-a/serviceregistrations");
  EXPECT_EQ(watch.path, list.path);
  EXPECT_EQ(QueryValue(list, "labelSelector"), "tier=rpc");
  EXPECT_EQ(QueryValue(watch, "labelSelector"), "tier=rpc");
}

TEST_F(ReflectorTest, StopWhileAWatchBlocksReturnsPromptly) {
  client_.AnswerList(ListBody({}, "10"));
  StartReflector();
  ASSERT_TRUE(WatchesOpened(1));
  const auto start = std::chrono::steady_clock::now();
  reflector_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_TRUE(client_.watch(0)->cancelled());
  EXPECT_EQ(client_.watch_count(), 1u);
}

TEST_F(ReflectorTest, StopDuringABackoffReturnsPromptly) {
  client_.FailCall(500, StatusBody(500, "InternalError", "down"));
  StartReflector();
  ASSERT_TRUE(::registrar::testing::WaitFor([&] { return !reflector_->last_error().ok(); }, 10s));
  const auto start = std::chrono::steady_clock::now();
  reflector_->Stop();  // the fake clock never reaches the end of the backoff
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(client_.calls().size(), 1u);
}

TEST_F(ReflectorTest, AnUnparsableLineBreaksTheStreamAndTheWatchResumes) {
  client_.AnswerList(ListBody({}, "10"));
  StartReflector();
  ASSERT_TRUE(WatchesOpened(1));
  client_.watch(0)->Push(Event("ADDED", Object("a", "11")));
  client_.watch(0)->Push(std::string("{not json"));
  ASSERT_TRUE(Eventually([&] { return client_.watch_count() >= 2; }));
  EXPECT_EQ(QueryValue(client_.watch_requests().at(1), "resourceVersion"), "11");
  EXPECT_EQ(client_.calls().size(), 1u);
}

TEST_F(ReflectorTest, AWatchEndedAtOnceWithNothingSentBacksOff) {
  client_.AnswerList(ListBody({}, "10"));
  StartReflector();
  ASSERT_TRUE(WatchesOpened(1));
  client_.watch(0)->End();  // the fake clock stands still: the stream lasted no time at all
  ASSERT_TRUE(::registrar::testing::WaitFor([&] { return !reflector_->last_error().ok(); }, 10s));
  EXPECT_THAT(reflector_->last_error().message(), HasSubstr("ended the stream at once"));
  EXPECT_EQ(client_.watch_count(), 1u);
  ASSERT_TRUE(Eventually([&] { return client_.watch_count() >= 2; }));
}

}  // namespace
}  // namespace registrar::runtime
