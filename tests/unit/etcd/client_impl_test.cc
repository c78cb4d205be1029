// Unit tests of ClientImpl through the generated gRPC mocks (etcd_mock.grpc.pb.h, grpcpp's
// mock_stream.h): authentication, fail-over, deadlines and stream opening, without an etcd.
//
// The mocks answer a call by completing its tag on the client's own completion queue (a
// grpc::Alarm that is already due), so every answer is handled on the client's poller thread as a
// real one would be. An answer can be held back (Gate) until the test releases it: the test
// decides the order of events, and waits only for conditions, never for time.
#include "controller/etcd/client_impl.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/etcd/proto/etcd_mock.grpc.pb.h"
#include "grpcpp/alarm.h"
#include "grpcpp/test/client_context_test_peer.h"
#include "grpcpp/test/mock_stream.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace registrar::etcd {
namespace {

using ::grpc::testing::MockClientAsyncReaderWriter;
using ::grpc::testing::MockClientAsyncResponseReader;
using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StrictMock;

constexpr std::chrono::milliseconds kTimeout{1234};

// What the client sent: one entry per call attempt or stream.
struct Sent {
  std::string method;
  std::string endpoint;
  std::string token;  // "" when the call carried none
  std::string hasleader;
  std::chrono::system_clock::duration deadline_in;  // deadline minus the fake wall clock at send
};

std::string Metadata(grpc::ClientContext* ctx, const std::string& key) {
  auto metadata = grpc::testing::ClientContextTestPeer(ctx).GetSendInitialMetadata();
  auto it = metadata.find(key);
  return it == metadata.end() ? "" : it->second;
}

// Completes completion-queue tags as gRPC would when an answer arrives (ok) or a call ends (!ok).
class TagFirer {
 public:
  void Fire(grpc::CompletionQueue* cq, void* tag, bool ok = true) {
    auto alarm = std::make_unique<grpc::Alarm>();
    if (ok) {
      alarm->Set(cq, gpr_now(GPR_CLOCK_MONOTONIC), tag);
    } else {
      alarm->Set(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), tag);
      alarm->Cancel();
    }
    absl::MutexLock lock(&mu_);
    alarms_.push_back(std::move(alarm));
  }

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<grpc::Alarm>> alarms_ ABSL_GUARDED_BY(mu_);
};

// A unary answer held back until Answer().
template <typename Resp>
class Gate {
 public:
  void Arm(TagFirer* firer, grpc::CompletionQueue* cq, Resp* resp, grpc::Status* status,
           void* tag) {
    absl::MutexLock lock(&mu_);
    firer_ = firer;
    cq_ = cq;
    resp_ = resp;
    status_ = status;
    tag_ = tag;
    armed_ = true;
  }
  // Waits until the call was sent, then answers it.
  void Answer(grpc::Status status, Resp resp = Resp()) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&armed_));
    *resp_ = std::move(resp);
    *status_ = std::move(status);
    firer_->Fire(cq_, tag_);
  }

 private:
  absl::Mutex mu_;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  TagFirer* firer_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::CompletionQueue* cq_ ABSL_GUARDED_BY(mu_) = nullptr;
  Resp* resp_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::Status* status_ ABSL_GUARDED_BY(mu_) = nullptr;
  void* tag_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// The result of one asynchronous call, waited for without sleeping.
template <typename T>
class Outcome {
 public:
  Callback<T> callback() {
    return [this](absl::StatusOr<T> result) {
      absl::MutexLock lock(&mu_);
      result_ = std::move(result);
    };
  }
  absl::StatusOr<T> Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::optional<absl::StatusOr<T>>* r) { return r->has_value(); }, &result_));
    return *result_;
  }

 private:
  absl::Mutex mu_;
  std::optional<absl::StatusOr<T>> result_ ABSL_GUARDED_BY(mu_);
};

struct MockEndpoint {
  std::string address;
  StrictMock<pb::MockKVStub>* kv;
  StrictMock<pb::MockLeaseStub>* lease;
  StrictMock<pb::MockWatchStub>* watch;
  StrictMock<pb::MockAuthStub>* auth;
  StrictMock<pb::MockMaintenanceStub>* maintenance;
};

// A ClientImpl over StrictMock stubs, one set per endpoint ("e0", "e1", ...).
class MockedClient {
 public:
  MockedClient(int endpoints, const std::string& username) {
    ClientOptions options;
    options.username = username;
    options.password = username.empty() ? "" : "pw";
    options.request_timeout = kTimeout;
    std::vector<ClientImpl::Endpoint> stubs;
    for (int i = 0; i < endpoints; ++i) {
      ClientImpl::Endpoint e;
      e.address = "e" + std::to_string(i);
      auto kv = std::make_unique<StrictMock<pb::MockKVStub>>();
      auto lease = std::make_unique<StrictMock<pb::MockLeaseStub>>();
      auto watch = std::make_unique<StrictMock<pb::MockWatchStub>>();
      auto auth = std::make_unique<StrictMock<pb::MockAuthStub>>();
      auto maintenance = std::make_unique<StrictMock<pb::MockMaintenanceStub>>();
      mocks_.push_back(
          {e.address, kv.get(), lease.get(), watch.get(), auth.get(), maintenance.get()});
      e.kv = std::move(kv);
      e.lease = std::move(lease);
      e.watch = std::move(watch);
      e.auth = std::move(auth);
      e.maintenance = std::move(maintenance);
      stubs.push_back(std::move(e));
    }
    auto client = ClientImpl::Create(options, std::move(stubs), clock_);
    EXPECT_THAT(client, IsOk());
    client_ = *std::move(client);
  }

  ClientImpl& client() { return *client_; }
  MockEndpoint& at(int i) { return mocks_[i]; }
  testing::FakeClock& clock() { return clock_; }
  TagFirer& firer() { return firer_; }

  void Record(const std::string& method, const std::string& endpoint, grpc::ClientContext* ctx) {
    Sent sent{method, endpoint, Metadata(ctx, "token"), Metadata(ctx, "hasleader"),
              ctx->deadline() - clock_.WallNow()};
    absl::MutexLock lock(&mu_);
    sent_.push_back(std::move(sent));
  }
  std::vector<Sent> sent() {
    absl::MutexLock lock(&mu_);
    return sent_;
  }
  std::vector<std::string> sent_where(const std::string& method) {
    std::vector<std::string> out;
    for (const Sent& s : sent()) {
      if (s.method == method) {
        out.push_back(s.endpoint);
      }
    }
    return out;
  }
  std::vector<std::string> tokens(const std::string& method) {
    std::vector<std::string> out;
    for (const Sent& s : sent()) {
      if (s.method == method) {
        out.push_back(s.token);
      }
    }
    return out;
  }

  // An action for a PrepareAsync*Raw mock: records the call, answers `status` / `resp`.
  template <typename Resp>
  auto Reply(const std::string& method, const std::string& endpoint, grpc::Status status,
             Resp resp = Resp()) {
    return [this, method, endpoint, status, resp](grpc::ClientContext* ctx, const auto&,
                                                  grpc::CompletionQueue* cq) {
      Record(method, endpoint, ctx);
      auto* reader = Keep(std::make_shared<MockClientAsyncResponseReader<Resp>>());
      EXPECT_CALL(*reader, StartCall());
      EXPECT_CALL(*reader, Finish(_, _, _))
          .WillOnce([this, cq, status, resp](Resp* r, grpc::Status* s, void* tag) {
            *r = resp;
            *s = status;
            firer_.Fire(cq, tag);
          });
      return static_cast<grpc::ClientAsyncResponseReaderInterface<Resp>*>(reader);
    };
  }

  // As Reply, but the answer waits for `gate`.
  template <typename Resp>
  auto Hold(const std::string& method, const std::string& endpoint, Gate<Resp>* gate) {
    return [this, method, endpoint, gate](grpc::ClientContext* ctx, const auto&,
                                          grpc::CompletionQueue* cq) {
      Record(method, endpoint, ctx);
      auto* reader = Keep(std::make_shared<MockClientAsyncResponseReader<Resp>>());
      EXPECT_CALL(*reader, StartCall());
      EXPECT_CALL(*reader, Finish(_, _, _))
          .WillOnce([this, cq, gate](Resp* r, grpc::Status* s, void* tag) {
            gate->Arm(&firer_, cq, r, s, tag);
          });
      return static_cast<grpc::ClientAsyncResponseReaderInterface<Resp>*>(reader);
    };
  }

  // gRPC never deletes a unary reader (std::default_delete is specialized to a no-op: real ones
  // live in the call's arena), so the test owns its mock readers until the client is gone.
  template <typename T>
  T* Keep(std::shared_ptr<T> reader) {
    absl::MutexLock lock(&mu_);
    readers_.push_back(reader);
    return reader.get();
  }

  auto ReplyToken(int endpoint, const std::string& token) {
    pb::AuthenticateResponse resp;
    resp.set_token(token);
    return Reply<pb::AuthenticateResponse>("Authenticate", at(endpoint).address, grpc::Status::OK,
                                           resp);
  }

 private:
  testing::FakeClock clock_;
  TagFirer firer_;  // outlives the client: its alarms complete the client's last calls
  absl::Mutex mu_;
  std::vector<Sent> sent_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<void>> readers_ ABSL_GUARDED_BY(mu_);
  std::vector<MockEndpoint> mocks_;
  std::unique_ptr<ClientImpl> client_;  // last: destroyed first, waiting for its calls
};

pb::PutRequest MakePut(const std::string& key) {
  pb::PutRequest put;
  put.set_key(key);
  put.set_value("v");
  return put;
}

pb::RangeRequest MakeGet(const std::string& key) {
  pb::RangeRequest get;
  get.set_key(key);
  return get;
}

const grpc::Status kUnavailable(grpc::StatusCode::UNAVAILABLE, "connection refused");
const grpc::Status kInvalidToken(grpc::StatusCode::UNAUTHENTICATED,
                                 "etcdserver: invalid auth token");
const grpc::Status kAuthStoreOld(grpc::StatusCode::INVALID_ARGUMENT,
                                 "etcdserver: revision of auth store is old");

TEST(ClientImplMock, EveryCallCarriesTheDeadlineFromTheClock) {
  MockedClient m(1, "alice");
  MockEndpoint& e = m.at(0);
  const std::string a = e.address;
  EXPECT_CALL(*e.auth, PrepareAsyncAuthenticateRaw(_, _, _)).WillOnce(m.ReplyToken(0, "tok"));
  EXPECT_CALL(*e.kv, PrepareAsyncRangeRaw(_, _, _))
      .WillOnce(m.Reply<pb::RangeResponse>("Range", a, grpc::Status::OK));
  EXPECT_CALL(*e.kv, PrepareAsyncPutRaw(_, _, _))
      .WillOnce(m.Reply<pb::PutResponse>("Put", a, grpc::Status::OK));
  EXPECT_CALL(*e.kv, PrepareAsyncDeleteRangeRaw(_, _, _))
      .WillOnce(m.Reply<pb::DeleteRangeResponse>("DeleteRange", a, grpc::Status::OK));
  EXPECT_CALL(*e.kv, PrepareAsyncTxnRaw(_, _, _))
      .WillOnce(m.Reply<pb::TxnResponse>("Txn", a, grpc::Status::OK));
  EXPECT_CALL(*e.kv, PrepareAsyncCompactRaw(_, _, _))
      .WillOnce(m.Reply<pb::CompactionResponse>("Compact", a, grpc::Status::OK));
  EXPECT_CALL(*e.lease, PrepareAsyncLeaseGrantRaw(_, _, _))
      .WillOnce(m.Reply<pb::LeaseGrantResponse>("LeaseGrant", a, grpc::Status::OK));
  EXPECT_CALL(*e.lease, PrepareAsyncLeaseRevokeRaw(_, _, _))
      .WillOnce(m.Reply<pb::LeaseRevokeResponse>("LeaseRevoke", a, grpc::Status::OK));
  EXPECT_CALL(*e.lease, PrepareAsyncLeaseTimeToLiveRaw(_, _, _))
      .WillOnce(m.Reply<pb::LeaseTimeToLiveResponse>("LeaseTimeToLive", a, grpc::Status::OK));
  EXPECT_CALL(*e.lease, PrepareAsyncLeaseLeasesRaw(_, _, _))
      .WillOnce(m.Reply<pb::LeaseLeasesResponse>("LeaseLeases", a, grpc::Status::OK));
  EXPECT_CALL(*e.maintenance, PrepareAsyncStatusRaw(_, _, _))
      .WillOnce(m.Reply<pb::StatusResponse>("Status", a, grpc::Status::OK));

  ClientImpl& c = m.client();
  // The fake clock moves between calls: each deadline follows the clock at its own send.
  auto tick = [&] { m.clock().Advance(std::chrono::seconds(7)); };
  EXPECT_THAT(c.RangeSync(MakeGet("k")), IsOk());
  tick();
  EXPECT_THAT(c.PutSync(MakePut("k")), IsOk());
  tick();
  EXPECT_THAT(c.DeleteRangeSync({}), IsOk());
  tick();
  EXPECT_THAT(c.TxnSync({}), IsOk());
  tick();
  EXPECT_THAT(c.CompactSync({}), IsOk());
  tick();
  EXPECT_THAT(c.LeaseGrantSync({}), IsOk());
  tick();
  EXPECT_THAT(c.LeaseRevokeSync({}), IsOk());
  tick();
  EXPECT_THAT(c.LeaseTimeToLiveSync({}), IsOk());
  tick();
  EXPECT_THAT(c.LeaseLeasesSync({}), IsOk());
  tick();
  EXPECT_THAT(c.StatusSync({}), IsOk());

  std::vector<Sent> sent = m.sent();
  ASSERT_EQ(sent.size(), 11u);
  EXPECT_EQ(sent[0].method, "Authenticate");
  for (const Sent& s : sent) {
    SCOPED_TRACE(s.method);
    EXPECT_EQ(s.deadline_in, std::chrono::system_clock::duration(kTimeout));
    EXPECT_EQ(s.token, s.method == "Authenticate" ? "" : "tok");
  }
}

TEST(ClientImplMock, ConcurrentCallsShareOneAuthenticate) {
  MockedClient m(1, "alice");
  MockEndpoint& e = m.at(0);
  Gate<pb::AuthenticateResponse> auth;
  EXPECT_CALL(*e.auth, PrepareAsyncAuthenticateRaw(_, _, _))
      .WillOnce(m.Hold("Authenticate", e.address, &auth));
  EXPECT_CALL(*e.kv, PrepareAsyncPutRaw(_, _, _))
      .Times(3)
      .WillRepeatedly(m.Reply<pb::PutResponse>("Put", e.address, grpc::Status::OK));

  Outcome<pb::PutResponse> puts[3];
  for (auto& put : puts) {
    m.client().Put(MakePut("k"), put.callback());
  }
  pb::AuthenticateResponse token;
  token.set_token("tok-1");
  auth.Answer(grpc::Status::OK, token);  // waits until the one Authenticate was sent
  for (auto& put : puts) {
    EXPECT_THAT(put.Wait(), IsOk());
  }
  EXPECT_THAT(m.tokens("Put"), ElementsAre("tok-1", "tok-1", "tok-1"));
  EXPECT_EQ(m.client().authentications(), 1);
}

TEST(ClientImplMock, RejectedOrExpiredTokenReauthenticatesAndRetriesOnce) {
  for (const grpc::Status& rejection : {kInvalidToken, kAuthStoreOld}) {
    SCOPED_TRACE(rejection.error_message());
    MockedClient m(1, "alice");
    MockEndpoint& e = m.at(0);
    EXPECT_CALL(*e.auth, PrepareAsyncAuthenticateRaw(_, _, _))
        .WillOnce(m.ReplyToken(0, "tok-1"))
        .WillOnce(m.ReplyToken(0, "tok-2"));
    EXPECT_CALL(*e.kv, PrepareAsyncPutRaw(_, _, _))
        .WillOnce(m.Reply<pb::PutResponse>("Put", e.address, rejection))
        .WillOnce(m.Reply<pb::PutResponse>("Put", e.address, grpc::Status::OK));

    EXPECT_THAT(m.client().PutSync(MakePut("k")), IsOk());
    EXPECT_THAT(m.tokens("Put"), ElementsAre("tok-1", "tok-2"));
    EXPECT_EQ(m.client().authentications(), 2);
  }
}

TEST(ClientImplMock, TokenRejectedTwiceFailsTheCall) {
  MockedClient m(1, "alice");
  MockEndpoint& e = m.at(0);
  EXPECT_CALL(*e.auth, PrepareAsyncAuthenticateRaw(_, _, _))
      .WillOnce(m.ReplyToken(0, "tok-1"))
      .WillOnce(m.ReplyToken(0, "tok-2"));
  EXPECT_CALL(*e.kv, PrepareAsyncPutRaw(_, _, _))
      .Times(2)
      .WillRepeatedly(m.Reply<pb::PutResponse>("Put", e.address, kInvalidToken));

  EXPECT_THAT(m.client().PutSync(MakePut("k")), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(m.client().authentications(), 2);
}

TEST(ClientImplMock, ConcurrentRejectionsShareOneReauthentication) {
  MockedClient m(1, "alice");
  MockEndpoint& e = m.at(0);
  Gate<pb::AuthenticateResponse> second_auth;
  Gate<pb::PutResponse> first_put;
  Gate<pb::PutResponse> second_put;
  EXPECT_CALL(*e.auth, PrepareAsyncAuthenticateRaw(_, _, _))
      .WillOnce(m.ReplyToken(0, "tok-1"))
      .WillOnce(m.Hold("Authenticate", e.address, &second_auth));
  EXPECT_CALL(*e.kv, PrepareAsyncPutRaw(_, _, _))
      .WillOnce(m.Hold("Put", e.address, &first_put))
      .WillOnce(m.Hold("Put", e.address, &second_put))
      .WillRepeatedly(m.Reply<pb::PutResponse>("Put", e.address, grpc::Status::OK));

  Outcome<pb::PutResponse> a;
  Outcome<pb::PutResponse> b;
  m.client().Put(MakePut("a"), a.callback());
  m.client().Put(MakePut("b"), b.callback());
  first_put.Answer(kInvalidToken);
  second_put.Answer(kInvalidToken);
  pb::AuthenticateResponse token;
  token.set_token("tok-2");
  second_auth.Answer(grpc::Status::OK, token);
  EXPECT_THAT(a.Wait(), IsOk());
  EXPECT_THAT(b.Wait(), IsOk());
  EXPECT_THAT(m.tokens("Put"), ElementsAre("tok-1", "tok-1", "tok-2", "tok-2"));
  EXPECT_EQ(m.client().authentications(), 2);
}

TEST(ClientImplMock, UnavailableReadFailsOverToTheNextEndpoint) {
  MockedClient m(2, "");
  MockEndpoint& e0 = m.at(0);
  MockEndpoint& e1 = m.at(1);
  EXPECT_CALL(*e0.kv, PrepareAsyncRangeRaw(_, _, _))
      .WillOnce(m.Reply<pb::RangeResponse>("Range", "e0", kUnavailable));
  EXPECT_CALL(*e1.kv, PrepareAsyncRangeRaw(_, _, _))
      .WillOnce(m.Reply<pb::RangeResponse>("Range", "e1", grpc::Status::OK));

  EXPECT_THAT(m.client().RangeSync(MakeGet("k")), IsOk());
  EXPECT_THAT(m.sent_where("Range"), ElementsAre("e0", "e1"));
}

TEST(ClientImplMock, UnavailableWriteIsNotRepeatedButMovesTheNextCall) {
  MockedClient m(2, "");
  MockEndpoint& e0 = m.at(0);
  MockEndpoint& e1 = m.at(1);
  EXPECT_CALL(*e0.kv, PrepareAsyncPutRaw(_, _, _))
      .WillOnce(m.Reply<pb::PutResponse>("Put", "e0", kUnavailable));
  EXPECT_CALL(*e1.kv, PrepareAsyncPutRaw(_, _, _))
      .WillOnce(m.Reply<pb::PutResponse>("Put", "e1", grpc::Status::OK));

  auto failed = m.client().PutSync(MakePut("k"));
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("(endpoint e0)"));
  EXPECT_THAT(m.client().PutSync(MakePut("k")), IsOk());
  EXPECT_THAT(m.sent_where("Put"), ElementsAre("e0", "e1"));
}

TEST(ClientImplMock, AuthenticateFailsOverToo) {
  MockedClient m(2, "alice");
  EXPECT_CALL(*m.at(0).auth, PrepareAsyncAuthenticateRaw(_, _, _))
      .WillOnce(m.Reply<pb::AuthenticateResponse>("Authenticate", "e0", kUnavailable));
  EXPECT_CALL(*m.at(1).auth, PrepareAsyncAuthenticateRaw(_, _, _)).WillOnce(m.ReplyToken(1, "tok"));
  EXPECT_CALL(*m.at(1).kv, PrepareAsyncRangeRaw(_, _, _))
      .WillOnce(m.Reply<pb::RangeResponse>("Range", "e1", grpc::Status::OK));

  EXPECT_THAT(m.client().RangeSync(MakeGet("k")), IsOk());
  EXPECT_THAT(m.sent_where("Authenticate"), ElementsAre("e0", "e1"));
  EXPECT_THAT(m.tokens("Range"), ElementsAre("tok"));
}

// ---- Streams ----

using WatchRw = MockClientAsyncReaderWriter<pb::WatchRequest, pb::WatchResponse>;

struct WatchEvents {
  absl::Mutex mu;
  std::vector<pb::WatchResponse> responses ABSL_GUARDED_BY(mu);
  std::optional<absl::Status> closed ABSL_GUARDED_BY(mu);

  WatchHandler handler() {
    WatchHandler h;
    h.on_response = [this](const pb::WatchResponse& r) {
      absl::MutexLock lock(&mu);
      responses.push_back(r);
    };
    h.on_closed = [this](absl::Status s) {
      absl::MutexLock lock(&mu);
      closed = std::move(s);
    };
    return h;
  }
  absl::Status WaitClosed() {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](std::optional<absl::Status>* c) { return c->has_value(); }, &closed));
    return *closed;
  }
};

pb::WatchCreateRequest WatchKey(const std::string& key) {
  pb::WatchCreateRequest req;
  req.set_key(key);
  return req;
}

TEST(ClientImplMock, OpeningAWatchDoesNotWaitForAuthentication) {
  MockedClient m(1, "alice");
  MockEndpoint& e = m.at(0);
  Gate<pb::AuthenticateResponse> auth;
  ::testing::MockFunction<void()> watch_returned;
  absl::Mutex mu;
  std::vector<pb::WatchRequest> written;
  {
    ::testing::InSequence in_order;
    EXPECT_CALL(*e.auth, PrepareAsyncAuthenticateRaw(_, _, _))
        .WillOnce(m.Hold("Authenticate", e.address, &auth));
    EXPECT_CALL(watch_returned, Call());
    // The stream starts only once the token is there: a scripted etcd that confirms the watch
    // and then ends the stream.
    EXPECT_CALL(*e.watch, PrepareAsyncWatchRaw(_, _))
        .WillOnce([&](grpc::ClientContext* ctx, grpc::CompletionQueue* cq) {
          m.Record("Watch", e.address, ctx);
          auto* rw = new WatchRw();
          EXPECT_CALL(*rw, StartCall(_)).WillOnce([&m, cq](void* tag) { m.firer().Fire(cq, tag); });
          EXPECT_CALL(*rw, Write(_, _, _))
              .WillOnce([&m, &mu, &written, cq](const pb::WatchRequest& w, grpc::WriteOptions,
                                                void* tag) {
                {
                  absl::MutexLock lock(&mu);
                  written.push_back(w);
                }
                m.firer().Fire(cq, tag);
              });
          EXPECT_CALL(*rw, Read(_, _))
              .WillOnce([&m, cq](pb::WatchResponse* r, void* tag) {
                r->set_created(true);
                r->set_watch_id(7);
                r->mutable_header()->set_revision(42);
                m.firer().Fire(cq, tag);
              })
              .WillOnce([&m, cq](pb::WatchResponse*, void* tag) {
                m.firer().Fire(cq, tag, /*ok=*/false);
              });
          EXPECT_CALL(*rw, Finish(_, _)).WillOnce([&m, cq](grpc::Status* s, void* tag) {
            *s = grpc::Status::OK;
            m.firer().Fire(cq, tag);
          });
          return rw;
        });
  }

  WatchEvents events;
  auto watch = m.client().Watch(WatchKey("/app/"), events.handler());
  ASSERT_THAT(watch, IsOk());
  watch_returned.Call();  // Watch returned while Authenticate is still unanswered
  pb::AuthenticateResponse token;
  token.set_token("tok-w");
  auth.Answer(grpc::Status::OK, token);

  EXPECT_THAT(events.WaitClosed(), StatusIs(absl::StatusCode::kUnavailable));
  {
    absl::MutexLock lock(&events.mu);
    ASSERT_EQ(events.responses.size(), 1u);
    EXPECT_TRUE(events.responses[0].created());
  }
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(written.size(), 1u);
    EXPECT_EQ(written[0].create_request().key(), "/app/");
  }
  std::vector<Sent> sent = m.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].method, "Watch");
  EXPECT_EQ(sent[1].token, "tok-w");
  EXPECT_EQ(sent[1].hasleader, "true");
  EXPECT_EQ(m.client().max_revision(), 42);
  (*watch)->Close();
}

TEST(ClientImplMock, AuthenticationFailureEndsTheWatchThroughOnClosed) {
  MockedClient m(1, "alice");
  MockEndpoint& e = m.at(0);
  EXPECT_CALL(*e.auth, PrepareAsyncAuthenticateRaw(_, _, _))
      .WillOnce(m.Reply<pb::AuthenticateResponse>(
          "Authenticate", e.address,
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "etcdserver: authentication failed, invalid user ID or password")));
  // No PrepareAsyncWatchRaw expected: the StrictMock fails the test if the stream starts.

  WatchEvents events;
  auto watch = m.client().Watch(WatchKey("/app/"), events.handler());
  ASSERT_THAT(watch, IsOk());
  absl::Status closed = events.WaitClosed();
  EXPECT_THAT(closed, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(std::string(closed.message()),
              HasSubstr("etcd authentication failed for user alice"));
}

TEST(ClientImplMock, ClosingAWatchThatWaitsForItsTokenNeverStartsIt) {
  MockedClient m(1, "alice");
  MockEndpoint& e = m.at(0);
  Gate<pb::AuthenticateResponse> auth;
  EXPECT_CALL(*e.auth, PrepareAsyncAuthenticateRaw(_, _, _))
      .WillOnce(m.Hold("Authenticate", e.address, &auth));
  EXPECT_CALL(*e.kv, PrepareAsyncRangeRaw(_, _, _))
      .WillOnce(m.Reply<pb::RangeResponse>("Range", e.address, grpc::Status::OK));

  WatchEvents events;
  auto watch = m.client().Watch(WatchKey("/app/"), events.handler());
  ASSERT_THAT(watch, IsOk());
  (*watch)->Close();
  // A read queued behind the watch for the same token: when it is answered, the token callbacks
  // (the closed watch's first) have all run.
  Outcome<pb::RangeResponse> read;
  m.client().Range(MakeGet("k"), read.callback());
  pb::AuthenticateResponse token;
  token.set_token("tok");
  auth.Answer(grpc::Status::OK, token);
  EXPECT_THAT(read.Wait(), IsOk());
  absl::MutexLock lock(&events.mu);
  EXPECT_FALSE(events.closed.has_value());
  EXPECT_TRUE(events.responses.empty());
}

}  // namespace
}  // namespace registrar::etcd
