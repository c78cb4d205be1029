// Unit tests of TokenSource with a scripted Authenticate: the test holds each Authenticate's
// callback and answers it when it wants, so every order of events is deterministic.
#include "controller/etcd/token_source.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace registrar::etcd {
namespace {

using ::registrar::testing::FakeClock;
using ::registrar::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ScriptedAuth {
 public:
  TokenSource::Authenticate fn() {
    return [this](TokenSource::TokenCallback done) { pending_.push_back(std::move(done)); };
  }
  size_t started() const { return started_ + pending_.size(); }
  void Answer(absl::StatusOr<std::string> token) {
    ASSERT_FALSE(pending_.empty());
    TokenSource::TokenCallback done = std::move(pending_.front());
    pending_.erase(pending_.begin());
    ++started_;
    done(std::move(token));
  }

 private:
  std::vector<TokenSource::TokenCallback> pending_;
  size_t started_ = 0;
};

TEST(TokenSource, ConcurrentGetsShareOneAuthenticateAndAllGetTheToken) {
  ScriptedAuth auth;
  FakeClock clock;
  TokenSource tokens("alice", "etcd-0:2379", clock, auth.fn());
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    tokens.Get([&](absl::StatusOr<std::string> t) { got.push_back(*t); });
  }
  EXPECT_EQ(auth.started(), 1u);
  EXPECT_TRUE(got.empty());
  auth.Answer("tok");
  EXPECT_THAT(got, ElementsAre("tok", "tok", "tok"));
  tokens.Get([&](absl::StatusOr<std::string> t) { got.push_back(*t); });  // cached: at once
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(auth.started(), 1u);
  EXPECT_EQ(tokens.authentications(), 1);
}

TEST(TokenSource, InvalidatingAReplacedTokenKeepsTheNewOne) {
  ScriptedAuth auth;
  FakeClock clock;
  TokenSource tokens("alice", "etcd-0:2379", clock, auth.fn());
  tokens.Get([](absl::StatusOr<std::string>) {});
  auth.Answer("tok-1");
  tokens.Invalidate("tok-1");
  tokens.Get([](absl::StatusOr<std::string>) {});
  auth.Answer("tok-2");
  tokens.Invalidate("tok-1");  // a late rejection of the old token
  std::string got;
  tokens.Get([&](absl::StatusOr<std::string> t) { got = *t; });
  EXPECT_EQ(got, "tok-2");
  EXPECT_EQ(auth.started(), 2u);
}

// A wrong password is remembered for the hold-down: the Gets in that time fail at once without
// an Authenticate (before, every Get sent one: a controller retrying registrations flooded etcd
// with bcrypt checks); after it, or once the credentials changed, etcd is asked again.
TEST(TokenSource, WrongPasswordIsUnauthenticatedAndHeldDown) {
  ScriptedAuth auth;
  FakeClock clock;
  bool changed = false;
  TokenSource tokens("alice", "etcd-0:2379", clock, auth.fn(), [&] { return changed; });
  absl::Status failed;
  tokens.Get([&](absl::StatusOr<std::string> t) { failed = t.status(); });
  auth.Answer(absl::InvalidArgumentError(
      "Authenticate: etcdserver: authentication failed, invalid user ID or password"));
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(std::string(failed.message()),
              HasSubstr("etcd authentication failed for user alice"));

  absl::Status held;
  tokens.Get([&](absl::StatusOr<std::string> t) { held = t.status(); });
  EXPECT_EQ(auth.started(), 1u) << "asked etcd again during the hold-down";
  EXPECT_EQ(held, failed);

  clock.Advance(TokenSource::kRejectedHoldDown);
  absl::Status other;
  tokens.Get([&](absl::StatusOr<std::string> t) { other = t.status(); });
  EXPECT_EQ(auth.started(), 2u);
  auth.Answer(absl::UnavailableError("Authenticate: connection refused"));
  EXPECT_THAT(other, StatusIs(absl::StatusCode::kUnavailable));
  // An unavailable etcd is not remembered.
  tokens.Get([](absl::StatusOr<std::string>) {});
  EXPECT_EQ(auth.started(), 3u);
  auth.Answer(absl::InvalidArgumentError(
      "Authenticate: etcdserver: authentication failed, invalid user ID or password"));
  EXPECT_EQ(tokens.authentications(), 0);

  // Held down again, until the password file changes.
  tokens.Get([](absl::StatusOr<std::string>) {});
  EXPECT_EQ(auth.started(), 3u);
  changed = true;
  std::string got;
  tokens.Get([&](absl::StatusOr<std::string> t) { got = t.value_or("error"); });
  EXPECT_EQ(auth.started(), 4u);
  auth.Answer("tok");
  EXPECT_EQ(got, "tok");
}

// RetryNow ends the hold-down at once (another connection to the same etcd had its credentials
// rejected: a password was just changed there, so these may be accepted now).
TEST(TokenSource, RetryNowEndsTheHoldDown) {
  ScriptedAuth auth;
  FakeClock clock;
  TokenSource tokens("alice", "etcd-0:2379", clock, auth.fn());
  EXPECT_FALSE(tokens.RetryNow());  // nothing held down
  absl::Status failed;
  tokens.Get([&](absl::StatusOr<std::string> t) { failed = t.status(); });
  auth.Answer(absl::InvalidArgumentError(
      "Authenticate: etcdserver: authentication failed, invalid user ID or password"));
  EXPECT_TRUE(IsCredentialsRejected(failed));
  tokens.Get([](absl::StatusOr<std::string>) {});
  EXPECT_EQ(auth.started(), 1u);  // held down
  EXPECT_TRUE(tokens.RetryNow());
  std::string got;
  tokens.Get([&](absl::StatusOr<std::string> t) { got = t.value_or("error"); });
  EXPECT_EQ(auth.started(), 2u);
  auth.Answer("tok");
  EXPECT_EQ(got, "tok");
  EXPECT_FALSE(tokens.RetryNow());
}

TEST(TokenSource, OnlyARefusedUserOrPasswordIsCredentialsRejected) {
  EXPECT_TRUE(IsCredentialsRejected(
      absl::UnauthenticatedError("etcd authentication failed for user bob: invalid password")));
  // A token etcd no longer takes is renewed, not a rejection of the credentials.
  EXPECT_FALSE(IsCredentialsRejected(
      absl::UnauthenticatedError("LeaseKeepAlive: etcdserver: invalid auth token")));
  EXPECT_FALSE(IsCredentialsRejected(absl::UnavailableError("connection refused")));
}

// etcd without auth answers Authenticate with "authentication is not enabled": that means no
// token is needed (as etcd's Go client reads it). Before, every call and stream failed with
// it for ever. Asked once; Invalidate("") (a call refused for lacking a token once auth is
// enabled) makes the next Get authenticate.
TEST(TokenSource, AuthNotEnabledMeansNoTokenUntilEtcdAsksForOne) {
  ScriptedAuth auth;
  FakeClock clock;
  TokenSource tokens("alice", "etcd-0:2379", clock, auth.fn());
  std::vector<absl::StatusOr<std::string>> got;
  tokens.Get([&](absl::StatusOr<std::string> t) { got.push_back(t); });
  auth.Answer(
      absl::FailedPreconditionError("Authenticate: etcdserver: authentication is not enabled"));
  tokens.Get([&](absl::StatusOr<std::string> t) { got.push_back(t); });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_THAT(got[0], ::registrar::testing::IsOkAndHolds(std::string()));
  EXPECT_THAT(got[1], ::registrar::testing::IsOkAndHolds(std::string()));
  EXPECT_EQ(auth.started(), 1u);

  tokens.Invalidate("");
  tokens.Get([&](absl::StatusOr<std::string> t) { got.push_back(t); });
  EXPECT_EQ(auth.started(), 2u);
  auth.Answer("tok");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_THAT(got[2], ::registrar::testing::IsOkAndHolds(std::string("tok")));
}

}  // namespace
}  // namespace registrar::etcd
