// Watch streams of the REST client (controller/kube/client_impl.h) against the real
// kube-apiserver 1.34: events arrive as lines, bookmarks, the server's timeoutSeconds end as
// nullopt, the idle timeout, Cancel() from another thread, a too-old resourceVersion (410) and a
// compacted one (served), a refused watch; and what cpprest's own http_client_config timeout does
// to a streaming body (the reason the client sets it to a day and keeps its own deadlines).
#include <chrono>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>

#include "controller/kube/api_status.h"
#include "tests/integration/kube/kube_client_fixture.h"
#include "tests/testing/status_matchers.h"

namespace registrar::kube {
namespace {

using json = nlohmann::json;
using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

class KubeClientWatchTest : public KubeClientTest {
 protected:
  void SetUp() override {
    KubeClientTest::SetUp();
    client_ = Admin();
    ASSERT_NE(client_, nullptr);
  }
  // The next event, parsed; a test failure when the stream ends or fails.
  static std::optional<WatchEvent> NextEvent(WatchStream& stream) {
    absl::StatusOr<std::optional<std::string>> line = stream.Next();
    EXPECT_THAT(line, IsOk());
    if (!line.ok() || !line->has_value()) {
      ADD_FAILURE() << "the stream ended";
      return std::nullopt;
    }
    absl::StatusOr<WatchEvent> event = ParseWatchEvent(**line);
    EXPECT_THAT(event, IsOk()) << **line;
    return event.ok() ? std::optional<WatchEvent>(*event) : std::nullopt;
  }
  std::unique_ptr<WatchStream> MustWatch(const WatchOptions& options) {
    auto stream = Api(*client_).Watch(kServiceRegistrations, *ns_, options);
    EXPECT_THAT(stream, IsOk());
    return stream.ok() ? std::move(*stream) : nullptr;
  }
  std::string ListRv() {
    auto page = Api(*client_).List(kServiceRegistrations, *ns_, {});
    EXPECT_THAT(page, IsOk());
    return page.ok() ? page->resource_version : "";
  }
  json Create(const std::string& name) {
    auto created = Api(*client_).Create(kServiceRegistrations, *ns_, NewRegistration(name));
    EXPECT_THAT(created, IsOk());
    return created.ok() ? *created : json();
  }

  std::unique_ptr<Client> client_;
};

TEST_F(KubeClientWatchTest, EventsArriveAsLinesAndTheServersTimeoutEndsTheStream) {
  const std::string rv = ListRv();
  auto stream = MustWatch({.resource_version = rv, .timeout_seconds = 3});
  ASSERT_NE(stream, nullptr);
  json a = Create("ev-a");
  ASSERT_THAT(Api(*client_).Patch(kServiceRegistrations, *ns_, "ev-a", PatchType::kMerge,
                                  {{"spec", {{"value", "v2"}}}}),
              IsOk());
  std::vector<std::string> types;
  const auto start = SteadyClock::now();
  while (true) {
    absl::StatusOr<std::optional<std::string>> line = stream->Next();
    ASSERT_THAT(line, IsOk());
    if (!line->has_value()) {
      break;  // timeoutSeconds: the chunked body ended cleanly
    }
    auto event = ParseWatchEvent(**line);
    ASSERT_THAT(event, IsOk());
    if (event->type != EventType::kBookmark) {
      types.push_back(EventTypeName(event->type));
      EXPECT_EQ(event->object["metadata"]["name"], "ev-a");
    }
  }
  EXPECT_LT(SteadyClock::now() - start, seconds(10));
  EXPECT_EQ(types, std::vector<std::string>({"ADDED", "MODIFIED"}));
  // After the end, Next() keeps saying so.
  auto after = stream->Next();
  ASSERT_THAT(after, IsOk());
  EXPECT_FALSE(after->has_value());
}

TEST_F(KubeClientWatchTest, BookmarkEndsTheInitialEventsOfAStreamingList) {
  // A watch with sendInitialEvents (the streaming list) sends the current objects as ADDED
  // events and then a BOOKMARK annotated k8s.io/initial-events-end.
  Create("bm-a");
  Create("bm-b");
  Request request{.path = CollectionPath(kServiceRegistrations, *ns_),
                  .query = {{"watch", "true"},
                            {"sendInitialEvents", "true"},
                            {"resourceVersionMatch", "NotOlderThan"},
                            {"allowWatchBookmarks", "true"},
                            {"timeoutSeconds", "30"}},
                  .verb = "watch",
                  .resource = "serviceregistrations"};
  auto stream = client_->Watch(request, milliseconds(10'000));
  ASSERT_THAT(stream, IsOk());
  std::vector<std::string> added;
  std::optional<WatchEvent> event;
  while (true) {
    event = NextEvent(**stream);
    ASSERT_TRUE(event.has_value());
    if (event->type != EventType::kAdded) {
      break;
    }
    added.push_back(event->object["metadata"]["name"]);
  }
  EXPECT_EQ(event->type, EventType::kBookmark) << event->object.dump();
  EXPECT_EQ(event->object["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
  EXPECT_FALSE(event->object["metadata"]["resourceVersion"].get<std::string>().empty());
  // The namespace is shared with the other tests: their objects come too.
  EXPECT_THAT(added, ::testing::IsSupersetOf({"bm-a", "bm-b"}));
}

TEST_F(KubeClientWatchTest, IdleTimeoutEndsAQuietStream) {
  Request request{.path = CollectionPath(kServiceRegistrations, *ns_),
                  .query = {{"watch", "true"}, {"resourceVersion", ListRv()},
                            {"timeoutSeconds", "60"}},
                  .verb = "watch",
                  .resource = "serviceregistrations"};
  auto stream = client_->Watch(request, milliseconds(1000));
  ASSERT_THAT(stream, IsOk());
  const auto start = SteadyClock::now();
  auto line = (*stream)->Next();
  EXPECT_THAT(line, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(line.status().message(), HasSubstr("idle"));
  EXPECT_LT(SteadyClock::now() - start, seconds(3));
  EXPECT_THAT((*stream)->Next(), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(KubeClientWatchTest, CancelFromAnotherThreadUnblocksNext) {
  auto stream = MustWatch({.resource_version = ListRv(), .timeout_seconds = 120});
  ASSERT_NE(stream, nullptr);
  SteadyClock::time_point cancelled_at;
  std::jthread canceller([&] {
    std::this_thread::sleep_for(milliseconds(300));  // let Next() block first
    cancelled_at = SteadyClock::now();
    stream->Cancel();
  });
  auto line = stream->Next();
  const auto returned_at = SteadyClock::now();
  canceller.join();
  EXPECT_THAT(line, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_LT(returned_at - cancelled_at, milliseconds(500));
  EXPECT_THAT(stream->Next(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(KubeClientWatchTest, TooOldResourceVersionArrivesAsAnErrorEventWith410) {
  // What the real server does: the watch opens with 200 and its first line is an ERROR event
  // carrying a 410 Expired Status, then the body ends. (Compacting etcd alone does not give a
  // 410: the watch cache still serves those revisions; kube_watch_test.cc shows it.)
  Create("old-a");
  auto stream = MustWatch({.resource_version = "1", .timeout_seconds = 30});
  ASSERT_NE(stream, nullptr);
  std::optional<WatchEvent> event = NextEvent(*stream);
  ASSERT_TRUE(event.has_value());
  ASSERT_EQ(event->type, EventType::kError);
  absl::Status gone = StatusFromWatchError(event->object.dump());
  EXPECT_TRUE(kube::IsGone(gone)) << gone;
  EXPECT_THAT(gone, StatusIs(absl::StatusCode::kOutOfRange));
  auto end = stream->Next();
  ASSERT_THAT(end, IsOk());
  EXPECT_FALSE(end->has_value());
}

TEST_F(KubeClientWatchTest, ACompactedEtcdRevisionIsStillServedByTheWatchCache) {
  // Compacting etcd past a resourceVersion does not make the API server answer 410 for it: the
  // watch cache still holds those events, so the watch resumes with nothing lost.
  json a = Create("cmp-a");
  auto changed = Api(*client_).Patch(kServiceRegistrations, *ns_, "cmp-a", PatchType::kMerge,
                                     {{"spec", {{"value", "c1"}}}});
  ASSERT_THAT(changed, IsOk());
  auto status = plane_->etcd().Etcdctl({"endpoint", "status", "-w", "json"});
  ASSERT_TRUE(status.ok()) << status.status();
  const int64_t revision = json::parse(*status)[0]["Status"]["header"]["revision"];
  ASSERT_TRUE(plane_->etcd().Etcdctl({"compact", std::to_string(revision), "--physical"}).ok());
  auto stream = MustWatch({.resource_version = Rv(a), .timeout_seconds = 30});
  ASSERT_NE(stream, nullptr);
  std::optional<WatchEvent> event = NextEvent(*stream);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->type, EventType::kModified) << event->object.dump();
  EXPECT_EQ(Rv(event->object), Rv(*changed));
}

TEST_F(KubeClientWatchTest, ARefusedWatchIsTheDecodedStatusFromWatchItself) {
  auto nobody = MustClient(TokenConfig(), {*nobody_token_});
  ASSERT_NE(nobody, nullptr);
  auto stream = Api(*nobody).Watch(kServiceRegistrations, *ns_, {});
  EXPECT_TRUE(kube::IsForbidden(stream.status())) << stream.status();
  EXPECT_THAT(stream.status().message(), HasSubstr("cannot watch resource"));
}

// cpprest's own timeout, measured with a raw http_client (no deadlines of ours).
class CpprestTimeoutTest : public KubeClientWatchTest {
 protected:
  static web::http::client::http_client RawClient(std::chrono::seconds timeout) {
    web::http::client::http_client_config config;
    config.set_timeout(timeout);
    const std::string dir = plane_->dir();
    config.set_ssl_context_callback([dir](boost::asio::ssl::context& ctx) {
      boost::system::error_code ec;
      ctx.load_verify_file(dir + "/ca.crt", ec);
      ctx.use_certificate_chain_file(dir + "/admin.crt", ec);
      ctx.use_private_key_file(dir + "/admin.key", boost::asio::ssl::context::pem, ec);
    });
    return web::http::client::http_client(web::uri(plane_->server()), config);
  }
  // Reads a whole watch body with a raw client; the body, or the exception's text.
  static std::pair<std::string, std::string> ReadWatch(std::chrono::seconds timeout,
                                                       const std::string& query) {
    auto http = RawClient(timeout);
    std::string error;
    std::string body;
    try {
      web::http::http_response r =
          http.request(web::http::methods::GET,
                       CollectionPath(kServiceRegistrations, *ns_) + "?watch=true&" + query)
              .get();
      EXPECT_EQ(r.status_code(), 200);
      concurrency::streams::container_buffer<std::string> buf;
      r.body().read_to_end(buf).get();
      body = buf.collection();
    } catch (const std::exception& e) {
      error = e.what();
    }
    return {body, error};
  }
};

TEST_F(CpprestTimeoutTest, ItIsAnInactivityTimeoutNotADeadlineForTheWholeBody) {
  // Timeout 2 s; events every 500 ms for 4 s; the server ends the watch at 5 s. The body took
  // longer than the timeout and was read whole: the timer restarts with every chunk.
  auto client = Admin();
  ASSERT_NE(client, nullptr);
  Create("busy");
  const std::string rv = ListRv();
  std::jthread writer([&] {
    for (int i = 0; i < 8; ++i) {
      std::this_thread::sleep_for(milliseconds(500));
      (void)Api(*client).Patch(kServiceRegistrations, *ns_, "busy", PatchType::kMerge,
                               {{"spec", {{"value", "v" + std::to_string(i)}}}});
    }
  });
  const auto start = SteadyClock::now();
  auto [body, error] = ReadWatch(seconds(2), "resourceVersion=" + rv + "&timeoutSeconds=5");
  writer.join();
  EXPECT_EQ(error, "");
  EXPECT_GE(SteadyClock::now() - start, seconds(4));
  EXPECT_THAT(body, HasSubstr("\"v7\""));
}

TEST_F(CpprestTimeoutTest, ItCutsAWatchThatIsQuietForLongerThanTheTimeout) {
  // Timeout 2 s, a quiet watch the server would end at 8 s: cpprest closes it after ~2 s of
  // silence and the body read fails. Hence kTransportTimeout and the client's own idle timeout.
  const auto start = SteadyClock::now();
  auto [body, error] = ReadWatch(seconds(2), "resourceVersion=" + ListRv() + "&timeoutSeconds=8");
  const auto took = SteadyClock::now() - start;
  EXPECT_NE(error, "") << "the quiet watch was read whole: " << body;
  EXPECT_LT(took, seconds(7));
}

}  // namespace
}  // namespace registrar::kube
