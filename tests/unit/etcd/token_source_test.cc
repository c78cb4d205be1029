// Unit tests of TokenSource with a scripted Authenticate: the test holds each Authenticate's
// callback and answers it when it wants, so every order of events is deterministic.
#include "controller/etcd/token_source.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace registrar::etcd {
namespace {

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
  TokenSource tokens("alice", auth.fn());
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
  TokenSource tokens("alice", auth.fn());
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

TEST(TokenSource, WrongPasswordIsUnauthenticatedAndNotRemembered) {
  ScriptedAuth auth;
  TokenSource tokens("alice", auth.fn());
  absl::Status failed;
  tokens.Get([&](absl::StatusOr<std::string> t) { failed = t.status(); });
  auth.Answer(absl::InvalidArgumentError(
      "Authenticate: etcdserver: authentication failed, invalid user ID or password"));
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(std::string(failed.message()),
              HasSubstr("etcd authentication failed for user alice"));

  absl::Status other;
  tokens.Get([&](absl::StatusOr<std::string> t) { other = t.status(); });
  EXPECT_EQ(auth.started(), 2u);  // the failure was not cached
  auth.Answer(absl::UnavailableError("Authenticate: connection refused"));
  EXPECT_THAT(other, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(tokens.authentications(), 0);
}

}  // namespace
}  // namespace registrar::etcd
