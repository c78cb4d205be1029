#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/etcd/client.h"
#include "tests/testing/status_matchers.h"

namespace registrar::etcd {
namespace {

using ::registrar::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(PrefixRangeEnd, IncrementsTheLastByte) {
  EXPECT_EQ(PrefixRangeEnd("user.rpc/"), "user.rpc0");
  EXPECT_EQ(PrefixRangeEnd("a"), "b");
}

TEST(PrefixRangeEnd, DropsTrailingFfBytes) {
  EXPECT_EQ(PrefixRangeEnd(std::string("a\xff\xff", 3)), "b");
}

TEST(PrefixRangeEnd, EmptyOrAllFfMeansEverything) {
  EXPECT_EQ(PrefixRangeEnd(""), std::string(1, '\0'));
  EXPECT_EQ(PrefixRangeEnd(std::string("\xff", 1)), std::string(1, '\0'));
}

TEST(ClientOptions, IdentityDiffersByCredentialsAndHidesThePassword) {
  ClientOptions a;
  a.username = "u";
  a.password = "secret-password";
  ClientOptions b = a;
  b.password = "other";
  EXPECT_NE(a.Identity(), b.Identity());
  EXPECT_THAT(a.Identity(), Not(HasSubstr("secret-password")));
  ClientOptions c = a;
  EXPECT_EQ(a.Identity(), c.Identity());
  c.endpoints = {"10.0.0.1:2379"};
  EXPECT_NE(a.Identity(), c.Identity());
}

TEST(NewClient, UnreadableCaFileNamesTheFile) {
  ClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  auto client = NewClient(options);
  EXPECT_THAT(client, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(client.status().message()), HasSubstr("/nonexistent/ca.pem"));
}

TEST(NewClient, NoEndpointIsInvalid) {
  ClientOptions options;
  options.endpoints.clear();
  EXPECT_THAT(NewClient(options), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(NewClient, DownEtcdIsNotAConstructionError) {
  ClientOptions options;
  options.endpoints = {"127.0.0.1:1"};
  auto client = NewClient(options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->target(), "127.0.0.1:1");
}

}  // namespace
}  // namespace registrar::etcd
