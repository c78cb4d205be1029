// KubeEventRecorder over a recording fake of kube::Client (our own interface; the real API
// server is in tests/integration/registration): what it POSTs and PATCHes, the 404 and failure
// paths, and that Record() never waits for the API.
#include "controller/registration/kube_event_recorder.h"

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/kube/api_status.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/wait.h"

namespace registrar::registration {
namespace {

using json = nlohmann::json;

// Records requests; answers each with the next scripted answer (default: 201/200 with "{}").
// With `hold` set, Call() blocks until it is released.
class FakeClient final : public kube::Client {
 public:
  absl::StatusOr<std::string> Call(const kube::Request& request) override {
    if (hold != nullptr) {
      hold->WaitForNotification();
    }
    absl::MutexLock lock(&mu);
    requests.push_back(request);
    if (!answers.empty()) {
      absl::StatusOr<std::string> a = answers.front();
      answers.erase(answers.begin());
      return a;
    }
    return std::string("{}");
  }
  absl::StatusOr<std::unique_ptr<kube::WatchStream>> Watch(const kube::Request&,
                                                           std::chrono::milliseconds) override {
    return absl::UnimplementedError("no watch here");
  }

  absl::Mutex mu;
  std::vector<kube::Request> requests;
  std::vector<absl::StatusOr<std::string>> answers;
  absl::Notification* hold = nullptr;
};

ServiceRegistration Object() {
  ServiceRegistration o;
  o.metadata.namespace_ = "shop";
  o.metadata.name = "order-rpc";
  o.metadata.uid = "uid-1";
  o.metadata.resource_version = "77";
  return o;
}

class RecorderTest : public ::testing::Test {
 protected:
  RecorderTest() : api_(client_) {}
  EventRecorderOptions Options() {
    EventRecorderOptions o;
    o.instance = "host-1";
    return o;
  }
  std::vector<kube::Request> Requests() {
    absl::MutexLock lock(&client_.mu);
    return client_.requests;
  }

  FakeClient client_;
  kube::Api api_;
  registrar::testing::FakeClock clock_;
};

TEST_F(RecorderTest, FirstOccurrenceIsACreateOfACoreEvent) {
  KubeEventRecorder recorder(api_, clock_, Options());
  recorder.Record(Object(), EventType::kWarning, "KeyConflict", "held by lease 9");
  recorder.Flush();
  auto requests = Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/api/v1/namespaces/shop/events");
  json e = json::parse(requests[0].body);
  EXPECT_EQ(e["apiVersion"], "v1");
  EXPECT_EQ(e["kind"], "Event");
  EXPECT_THAT(e["metadata"]["name"].get<std::string>(), ::testing::StartsWith("order-rpc."));
  EXPECT_EQ(e["metadata"]["namespace"], "shop");
  EXPECT_EQ(e["involvedObject"], json({{"apiVersion", "registrar.dev/v1alpha1"},
                                       {"kind", "ServiceRegistration"},
                                       {"namespace", "shop"},
                                       {"name", "order-rpc"},
                                       {"uid", "uid-1"},
                                       {"resourceVersion", "77"}}));
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["reason"], "KeyConflict");
  EXPECT_EQ(e["message"], "held by lease 9");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["source"], json({{"component", "etcd-registrar"}, {"host", "host-1"}}));
  EXPECT_EQ(e["reportingComponent"], "etcd-registrar");
  EXPECT_EQ(e["reportingInstance"], "host-1");
  EXPECT_EQ(e["firstTimestamp"], "2026-01-01T01:00:00Z");  // FakeClock's wall time
  EXPECT_EQ(e["lastTimestamp"], e["firstTimestamp"]);
}

TEST_F(RecorderTest, RepeatIsAMergePatchOfCountAndLastTimestamp) {
  KubeEventRecorder recorder(api_, clock_, Options());
  recorder.Record(Object(), EventType::kWarning, "KeyConflict", "held");
  recorder.Flush();
  clock_.Advance(std::chrono::seconds(30));
  recorder.Record(Object(), EventType::kWarning, "KeyConflict", "held");
  recorder.Flush();
  auto requests = Requests();
  ASSERT_EQ(requests.size(), 2u);
  std::string name = json::parse(requests[0].body)["metadata"]["name"];
  EXPECT_EQ(requests[1].method, "PATCH");
  EXPECT_EQ(requests[1].path, "/api/v1/namespaces/shop/events/" + name);
  EXPECT_EQ(requests[1].content_type, "application/merge-patch+json");
  EXPECT_EQ(json::parse(requests[1].body),
            json({{"count", 2}, {"lastTimestamp", "2026-01-01T01:00:30Z"}, {"message", "held"}}));
}

TEST_F(RecorderTest, ExpiredEventIsCreatedAgain) {
  KubeEventRecorder recorder(api_, clock_, Options());
  recorder.Record(Object(), EventType::kNormal, "Registered", "live");
  recorder.Flush();
  {
    absl::MutexLock lock(&client_.mu);
    client_.answers.push_back(kube::StatusFromResponse(
        404, R"({"kind":"Status","code":404,"reason":"NotFound","message":"gone"})"));
  }
  recorder.Record(Object(), EventType::kNormal, "Registered", "live");
  recorder.Flush();
  auto requests = Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].method, "PATCH");
  EXPECT_EQ(requests[2].method, "POST");
  json e = json::parse(requests[2].body);
  EXPECT_EQ(e["count"], 1);
  EXPECT_NE(e["metadata"]["name"], json::parse(requests[0].body)["metadata"]["name"]);
}

TEST_F(RecorderTest, FailedCreateIsDroppedAndTheNextOccurrenceCreates) {
  KubeEventRecorder recorder(api_, clock_, Options());
  {
    absl::MutexLock lock(&client_.mu);
    client_.answers.push_back(absl::UnavailableError("connection refused"));
  }
  recorder.Record(Object(), EventType::kWarning, "AuthFailed", "bad password");
  recorder.Flush();
  EXPECT_EQ(recorder.dropped(), 1);
  recorder.Record(Object(), EventType::kWarning, "AuthFailed", "bad password");
  recorder.Flush();
  auto requests = Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(json::parse(requests[1].body)["count"], 1);
}

TEST_F(RecorderTest, RecordNeverWaitsForTheApiAndAFullQueueDrops) {
  absl::Notification release;
  client_.hold = &release;
  EventRecorderOptions options = Options();
  options.max_queued = 2;
  KubeEventRecorder recorder(api_, clock_, options);
  // One in flight (held), two queued, the rest dropped: every Record() returns at once.
  for (int i = 0; i < 6; ++i) {
    recorder.Record(Object(), EventType::kNormal, "Registered", "m" + std::to_string(i));
  }
  EXPECT_GE(recorder.dropped(), 3);
  release.Notify();
  recorder.Flush();
  EXPECT_EQ(Requests().size() + recorder.dropped(), 6u);
}

// kube_bench at n=2000 saw 0.80 Registered events per object: the queue of 1 024 dropped the
// rest of a burst. A burst of 2 000 objects at once now loses none.
TEST_F(RecorderTest, ABurstOfTwoThousandObjectsLosesNoEvent) {
  absl::Notification release;
  client_.hold = &release;  // the API is slow: everything queues
  KubeEventRecorder recorder(api_, clock_, Options());
  for (int i = 0; i < 2000; ++i) {
    ServiceRegistration o = Object();
    o.metadata.name = "sr-" + std::to_string(i);
    o.metadata.uid = "uid-" + std::to_string(i);
    recorder.Record(o, EventType::kNormal, "Registered", "key k/" + std::to_string(i) + " is live");
  }
  EXPECT_EQ(recorder.dropped(), 0);
  release.Notify();
  recorder.Flush();
  EXPECT_EQ(Requests().size(), 2000u);
  EXPECT_EQ(recorder.dropped(), 0);
}

TEST_F(RecorderTest, AnOccurrenceIdenticalToAQueuedOneIsMergedIntoIt) {
  absl::Notification release;
  client_.hold = &release;
  EventRecorderOptions options = Options();
  options.max_queued = 2;
  KubeEventRecorder recorder(api_, clock_, options);
  recorder.Record(Object(), EventType::kWarning, "EtcdUnavailable", "connection refused");
  ASSERT_TRUE(registrar::testing::WaitFor([&] { return recorder.queued() == 0; },
                                          std::chrono::seconds(10)));  // taken: in flight
  for (int i = 0; i < 50; ++i) {                                       // a flapping registration
    recorder.Record(Object(), EventType::kWarning, "EtcdUnavailable", "connection refused");
    recorder.Record(Object(), EventType::kNormal, "Registered", "key k/1 is live");
  }
  EXPECT_EQ(recorder.queued(), 2);
  EXPECT_EQ(recorder.merged(), 98);
  EXPECT_EQ(recorder.dropped(), 0);
  release.Notify();
  recorder.Flush();
  EXPECT_EQ(Requests().size(), 3u);  // the create in flight, a patch (count 2), a create
}

TEST_F(RecorderTest, EveryDropIsReportedWithItsCause) {
  absl::Notification release;
  client_.hold = &release;
  std::vector<std::string> causes;
  absl::Mutex mu;
  EventRecorderOptions options = Options();
  options.max_queued = 1;
  options.on_drop = [&](const char* cause) {
    absl::MutexLock lock(&mu);
    causes.emplace_back(cause);
  };
  KubeEventRecorder recorder(api_, clock_, options);
  {
    absl::MutexLock lock(&client_.mu);
    client_.answers.push_back(absl::UnavailableError("connection refused"));
  }
  recorder.Record(Object(), EventType::kNormal, "Registered", "m0");  // in flight, fails
  ASSERT_TRUE(registrar::testing::WaitFor([&] { return recorder.queued() == 0; },
                                          std::chrono::seconds(10)));
  recorder.Record(Object(), EventType::kNormal, "Registered", "m1");  // queued
  recorder.Record(Object(), EventType::kNormal, "Registered", "m2");  // full
  release.Notify();
  recorder.Flush();
  absl::MutexLock lock(&mu);
  EXPECT_THAT(causes, ::testing::UnorderedElementsAre("queue_full", "write_failed"));
  EXPECT_EQ(recorder.dropped(), 2);
}

}  // namespace
}  // namespace registrar::registration
