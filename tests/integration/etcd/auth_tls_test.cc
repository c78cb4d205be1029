// Integration tests of the client's user/password auth and TLS against a real etcd.
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/etcd/client_impl.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/fixtures/tcp_proxy.h"
#include "tests/testing/status_matchers.h"

namespace registrar::etcd {
namespace {

using ::registrar::testing::EtcdOptions;
using ::registrar::testing::EtcdProcess;
using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::registrar::testing::TcpProxy;
using ::testing::HasSubstr;
using ::testing::Not;

pb::PutRequest MakePut(const std::string& key, const std::string& value) {
  pb::PutRequest put;
  put.set_key(key);
  put.set_value(value);
  return put;
}

std::unique_ptr<EtcdProcess> StartEtcd(EtcdOptions options) {
  auto etcd = EtcdProcess::Start(options);
  EXPECT_THAT(etcd, IsOk());
  return etcd.ok() ? *std::move(etcd) : nullptr;
}

ClientOptions UserOptions(const EtcdProcess& etcd, const std::string& user,
                          const std::string& password) {
  ClientOptions options = etcd.client_options();
  options.username = user;
  options.password = password;
  return options;
}

TEST(EtcdAuth, RightPasswordAuthenticatesOncePerConnection) {
  auto etcd = StartEtcd({.auth = true});
  ASSERT_NE(etcd, nullptr);
  ASSERT_THAT(etcd->AddUser("alice", "alice-pw", "/app/"), IsOk());
  auto client = ClientImpl::Create(UserOptions(*etcd, "alice", "alice-pw"));
  ASSERT_THAT(client, IsOk());
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT((*client)->PutSync(MakePut("/app/k", std::to_string(i))), IsOk());
  }
  EXPECT_EQ((*client)->authentications(), 1);
  EXPECT_EQ(*etcd->Etcdctl({"get", "/app/k", "--print-value-only"}), "4\n");
  // Outside the granted prefix etcd says permission denied: not a token problem, no re-auth.
  EXPECT_THAT((*client)->PutSync(MakePut("/other", "x")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ((*client)->authentications(), 1);
}

TEST(EtcdAuth, WrongPasswordIsUnauthenticatedWithAClearMessage) {
  auto etcd = StartEtcd({.auth = true});
  ASSERT_NE(etcd, nullptr);
  ASSERT_THAT(etcd->AddUser("alice", "alice-pw", "/app/"), IsOk());
  auto client = ClientImpl::Create(UserOptions(*etcd, "alice", "not-the-password"));
  ASSERT_THAT(client, IsOk());
  auto put = (*client)->PutSync(MakePut("/app/k", "v"));
  EXPECT_THAT(put, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(std::string(put.status().message()),
              HasSubstr("etcd authentication failed for user alice"));
  EXPECT_THAT(std::string(put.status().message()), Not(HasSubstr("not-the-password")));

  // A stream reports the same failure through on_closed.
  absl::Mutex mu;
  std::optional<absl::Status> closed;
  KeepAliveHandler handler;
  handler.on_response = [](const pb::LeaseKeepAliveResponse&) {};
  handler.on_closed = [&](absl::Status s) {
    absl::MutexLock lock(&mu);
    closed = s;
  };
  auto stream = (*client)->KeepAlive(handler);
  ASSERT_THAT(stream, IsOk());
  absl::MutexLock lock(&mu);
  ASSERT_TRUE(mu.AwaitWithTimeout(
      absl::Condition(
          +[](std::optional<absl::Status>* c) { return c->has_value(); }, &closed),
      absl::Seconds(10)));
  EXPECT_THAT(*closed, StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(EtcdAuth, ExpiredTokenIsRenewedTransparentlyAndOnce) {
  auto etcd = StartEtcd({.auth = true, .auth_token_ttl_seconds = 2});
  ASSERT_NE(etcd, nullptr);
  ASSERT_THAT(etcd->AddUser("alice", "alice-pw", "/app/"), IsOk());
  auto client = ClientImpl::Create(UserOptions(*etcd, "alice", "alice-pw"));
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT((*client)->PutSync(MakePut("/app/k", "before")), IsOk());
  EXPECT_EQ((*client)->authentications(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));  // past the 2 s token TTL

  // Many calls fail on the expired token at once; they share one Authenticate and all succeed.
  constexpr int kCalls = 50;
  absl::Mutex mu;
  int done = 0;
  int ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    (*client)->Put(MakePut("/app/c" + std::to_string(i), "v"),
                   [&](absl::StatusOr<pb::PutResponse> r) {
                     absl::MutexLock lock(&mu);
                     ++done;
                     ok += r.ok() ? 1 : 0;
                   });
  }
  {
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(
                            +[](int* d) { return *d == kCalls; }, &done),
                        absl::Seconds(20));
    EXPECT_EQ(ok, kCalls);
  }
  EXPECT_EQ((*client)->authentications(), 2);
  EXPECT_EQ(*etcd->Etcdctl({"get", "/app/c7", "--print-value-only"}), "v\n");
}

class WatchProbe {
 public:
  WatchHandler Handler() {
    WatchHandler h;
    h.on_response = [this](const pb::WatchResponse& r) {
      absl::MutexLock lock(&mu_);
      created_ = created_ || (r.created() && !r.canceled());
      events_ += r.events_size();
    };
    h.on_closed = [this](absl::Status s) {
      absl::MutexLock lock(&mu_);
      closed_ = s;
    };
    return h;
  }
  // Waits until the watch is created (true) or closed (false).
  bool WaitCreatedOrClosed() {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](WatchProbe* p) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                               return p->created_ || p->closed_.has_value();
                             },
                             this),
                         absl::Seconds(10));
    return created_;
  }
  std::optional<absl::Status> closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }
  // Waits until `n` events arrived (true) or the watch closed (false).
  bool WaitEvents(int n) {
    absl::MutexLock lock(&mu_);
    std::pair<WatchProbe*, int> arg{this, n};
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](std::pair<WatchProbe*, int>* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                               return a->first->events_ >= a->second ||
                                      a->first->closed_.has_value();
                             },
                             &arg),
                         absl::Seconds(10));
    return events_ >= n;
  }

 private:
  absl::Mutex mu_;
  bool created_ ABSL_GUARDED_BY(mu_) = false;
  int events_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
};

TEST(EtcdAuth, WatchWithAnExpiredTokenWorksAfterReopen) {
  auto etcd = StartEtcd({.auth = true, .auth_token_ttl_seconds = 2});
  ASSERT_NE(etcd, nullptr);
  ASSERT_THAT(etcd->AddUser("alice", "alice-pw", "/app/"), IsOk());
  auto client = ClientImpl::Create(UserOptions(*etcd, "alice", "alice-pw"));
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT((*client)->PutSync(MakePut("/app/k", "before")), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));  // past the 2 s token TTL
  pb::WatchCreateRequest req;
  req.set_key("/app/");
  req.set_range_end(PrefixRangeEnd("/app/"));
  WatchProbe first;
  auto watch = (*client)->Watch(req, first.Handler());
  ASSERT_THAT(watch, IsOk());
  // etcd 3.4 cancels the watch ("etcdserver: invalid auth token"): the stream reports it, drops
  // the token, and the owner's reopen authenticates again.
  ASSERT_FALSE(first.WaitCreatedOrClosed());
  EXPECT_THAT(*first.closed(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(std::string(first.closed()->message()), HasSubstr("invalid auth token"));
  WatchProbe second;
  auto reopened = (*client)->Watch(req, second.Handler());
  ASSERT_THAT(reopened, IsOk());
  EXPECT_TRUE(second.WaitCreatedOrClosed()) << second.closed()->ToString();
  EXPECT_EQ((*client)->authentications(), 2);
}

// Opening a watch does not wait for authentication: with the connection to etcd cut, Watch()
// returns before Authenticate has an answer (before this change it blocked until Authenticate
// failed on its deadline, and on_closed had run by the time it returned). Once the connection is
// restored, the token comes and the watch starts and delivers events.
TEST(EtcdAuth, OpeningAWatchDoesNotWaitForAuthentication) {
  auto etcd = StartEtcd({.auth = true});
  ASSERT_NE(etcd, nullptr);
  ASSERT_THAT(etcd->AddUser("alice", "alice-pw", "/app/"), IsOk());
  auto proxy = TcpProxy::Start(etcd->endpoint());
  ASSERT_THAT(proxy, IsOk());
  ClientOptions options = UserOptions(*etcd, "alice", "alice-pw");
  options.endpoints = {(*proxy)->endpoint()};
  auto client = ClientImpl::Create(options);
  ASSERT_THAT(client, IsOk());
  (*proxy)->Cut();

  pb::WatchCreateRequest req;
  req.set_key("/app/");
  req.set_range_end(PrefixRangeEnd("/app/"));
  WatchProbe probe;
  auto watch = (*client)->Watch(req, probe.Handler());
  ASSERT_THAT(watch, IsOk());
  EXPECT_EQ((*client)->authentications(), 0);
  EXPECT_FALSE(probe.closed().has_value()) << probe.closed()->ToString();

  (*proxy)->Restore();
  ASSERT_TRUE(probe.WaitCreatedOrClosed()) << probe.closed()->ToString();
  EXPECT_EQ((*client)->authentications(), 1);
  ASSERT_THAT(etcd->Etcdctl({"put", "/app/after", "v"}), IsOk());
  EXPECT_TRUE(probe.WaitEvents(1));
}

// Credentials given to an etcd without auth (the usual roll-out: set credentials, then enable
// auth). etcd answers Authenticate with "authentication is not enabled"; before this change every
// call and the keep-alive stream failed with it for ever. Now no token is used, and once auth is
// enabled the first call refused for lacking a token authenticates and succeeds.
TEST(EtcdAuth, CredentialsAgainstEtcdWithoutAuthWorkWithoutAToken) {
  auto etcd = StartEtcd({});
  ASSERT_NE(etcd, nullptr);
  ClientOptions options = UserOptions(*etcd, "alice", "alice-pw");
  auto client = ClientImpl::Create(options);
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT((*client)->PutSync(MakePut("/app/k", "no-auth")), IsOk());
  EXPECT_EQ(*etcd->Etcdctl({"get", "/app/k", "--print-value-only"}), "no-auth\n");

  pb::LeaseGrantRequest grant;
  grant.set_ttl(5);
  auto lease = (*client)->LeaseGrantSync(grant);
  ASSERT_THAT(lease, IsOk());
  absl::Mutex mu;
  int renewed = 0;
  KeepAliveHandler handler;
  handler.on_response = [&](const pb::LeaseKeepAliveResponse& r) {
    absl::MutexLock lock(&mu);
    renewed += r.ttl() > 0 ? 1 : 0;
  };
  handler.on_closed = [](absl::Status) {};
  auto stream = (*client)->KeepAlive(handler);
  ASSERT_THAT(stream, IsOk());
  (*stream)->Send(lease->id());
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(
                                        +[](int* n) { return *n > 0; }, &renewed),
                                    absl::Seconds(10)));
  }
  (*stream)->Close();
  EXPECT_EQ((*client)->authentications(), 0);

  // Auth enabled afterwards: the client authenticates when etcd asks for a token.
  ASSERT_THAT(etcd->Etcdctl({"user", "add", "root:rootpw"}), IsOk());
  ASSERT_THAT(etcd->Etcdctl({"user", "add", "alice:alice-pw"}), IsOk());
  ASSERT_THAT(etcd->Etcdctl({"role", "add", "app"}), IsOk());
  ASSERT_THAT(
      etcd->Etcdctl({"role", "grant-permission", "app", "--prefix=true", "readwrite", "/app/"}),
      IsOk());
  ASSERT_THAT(etcd->Etcdctl({"user", "grant-role", "alice", "app"}), IsOk());
  ASSERT_THAT(etcd->Etcdctl({"auth", "enable"}), IsOk());
  EXPECT_THAT((*client)->PutSync(MakePut("/app/k", "auth-on")), IsOk());
  EXPECT_EQ((*client)->authentications(), 1);
  EXPECT_EQ(*etcd->Etcdctl({"--user", "root:rootpw", "get", "/app/k", "--print-value-only"}),
            "auth-on\n");
}

// A wrong password is sent to etcd once per hold-down, not once per call: before, every call
// cost etcd an Authenticate (a raft write and a bcrypt check). Rewriting the password file ends
// the hold-down at once.
TEST(EtcdAuth, RejectedPasswordIsNotSentAgainUntilThePasswordFileChanges) {
  auto etcd = StartEtcd({.auth = true});
  ASSERT_NE(etcd, nullptr);
  ASSERT_THAT(etcd->AddUser("alice", "alice-pw", "/app/"), IsOk());
  const std::string password_file = etcd->dir() + "/alice-password";
  std::ofstream(password_file) << "not-the-password\n";
  ClientOptions options = UserOptions(*etcd, "alice", "not-the-password");
  options.password_file = password_file;
  auto client = ClientImpl::Create(options);
  ASSERT_THAT(client, IsOk());
  for (int i = 0; i < 5; ++i) {
    EXPECT_THAT((*client)->PutSync(MakePut("/app/k", "v")),
                StatusIs(absl::StatusCode::kUnauthenticated));
  }
  EXPECT_EQ((*client)->authentication_attempts(), 1);

  std::ofstream(password_file, std::ios::trunc) << "alice-pw\n";
  EXPECT_THAT((*client)->PutSync(MakePut("/app/k", "fixed")), IsOk());
  EXPECT_EQ((*client)->authentication_attempts(), 2);
  EXPECT_EQ((*client)->authentications(), 1);
}

TEST(EtcdTls, WorksWithTheGeneratedCertificates) {
  auto etcd = StartEtcd({.tls = true});
  ASSERT_NE(etcd, nullptr);
  auto client = ClientImpl::Create(etcd->client_options());
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT((*client)->PutSync(MakePut("tls", "yes")), IsOk());
  EXPECT_EQ(*etcd->Etcdctl({"get", "tls", "--print-value-only"}), "yes\n");
}

TEST(EtcdTls, InsecureSkipVerifyNeedsNoCa) {
  auto etcd = StartEtcd({.tls = true});
  ASSERT_NE(etcd, nullptr);
  ClientOptions options = etcd->client_options();
  options.ca_file.clear();
  options.insecure_skip_verify = true;
  auto client = ClientImpl::Create(options);
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT((*client)->PutSync(MakePut("tls", "skip")), IsOk());
}

TEST(EtcdTls, FailsClearlyWithoutTheCa) {
  auto etcd = StartEtcd({.tls = true});
  ASSERT_NE(etcd, nullptr);
  ClientOptions options = etcd->client_options();
  options.ca_file.clear();  // system roots do not trust the test CA
  auto client = ClientImpl::Create(options);
  ASSERT_THAT(client, IsOk());
  auto put = (*client)->PutSync(MakePut("tls", "no"));
  EXPECT_THAT(put, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(put.status().message()), HasSubstr("Put: "));
  EXPECT_THAT(std::string(put.status().message()), HasSubstr(etcd->endpoint()));
  // Without TLS at all the server refuses the plaintext connection.
  ClientOptions plain;
  plain.endpoints = {etcd->endpoint()};
  plain.request_timeout = std::chrono::milliseconds(2000);
  auto plain_client = ClientImpl::Create(plain);
  ASSERT_THAT(plain_client, IsOk());
  EXPECT_THAT((*plain_client)->PutSync(MakePut("tls", "no")), Not(IsOk()));
}

TEST(EtcdTls, UnreadableKeyFileIsNamed) {
  ClientOptions options;
  options.cert_file = "/nonexistent/client.crt";
  options.key_file = "/nonexistent/client.key";
  auto client = ClientImpl::Create(options);
  EXPECT_THAT(client, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(client.status().message()), HasSubstr("/nonexistent/client.crt"));
}

}  // namespace
}  // namespace registrar::etcd
