#include "controller/kube/client_impl.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace registrar::kube {
namespace {

using ::registrar::testing::FakeClock;
using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::HasSubstr;

class StaticToken final : public Credentials {
 public:
  absl::StatusOr<std::string> Token() override { return std::string("t"); }
  void Invalidate() override {}
};

TEST(RequestTarget, EscapesQueryKeysAndValues) {
  EXPECT_EQ(RequestTarget("/api/v1/namespaces/a/secrets", {}), "/api/v1/namespaces/a/secrets");
  EXPECT_EQ(RequestTarget("/apis/registrar.dev/v1alpha1/serviceregistrations",
                          {{"labelSelector", "app=x,tier in (a b)"},
                           {"fieldSelector", "metadata.name=n"},
                           {"limit", "500"},
                           {"continue", "eyJ2Ijo+/="}}),
            "/apis/registrar.dev/v1alpha1/serviceregistrations"
            "?labelSelector=app%3Dx%2Ctier%20in%20%28a%20b%29"
            "&fieldSelector=metadata.name%3Dn&limit=500&continue=eyJ2Ijo%2B%2F%3D");
  EXPECT_EQ(RequestTarget("/a b/%", {{"k&", "v#"}}), "/a%20b/%25?k%26=v%23");
}

TEST(CheckClusterConfig, NamesTheBadField) {
  ClusterConfig c;
  c.origin = "kubeconfig /k, context x";
  EXPECT_THAT(CheckClusterConfig(c),
              StatusIs(absl::StatusCode::kInvalidArgument));
  c.server = "ftp://h";
  EXPECT_THAT(CheckClusterConfig(c).message(), HasSubstr("not an http(s) URL"));
  c.server = "https://127.0.0.1:6443";
  EXPECT_THAT(CheckClusterConfig(c), IsOk());
  c.ca_pem = "not a certificate";
  EXPECT_THAT(CheckClusterConfig(c).message(), HasSubstr("certificate-authority"));
  EXPECT_THAT(CheckClusterConfig(c).message(), HasSubstr("kubeconfig /k, context x"));
  c.ca_pem.clear();
  c.client_cert_pem = "x";
  EXPECT_THAT(CheckClusterConfig(c).message(), HasSubstr("given together"));
  c.client_key_pem = "y";
  EXPECT_THAT(CheckClusterConfig(c).message(), HasSubstr("client-certificate"));
}

TEST(NewClient, RefusesABadConfigAndMissingCredentials) {
  FakeClock clock;
  ClusterConfig c;
  c.server = "https://127.0.0.1:6443";
  EXPECT_THAT(NewClient(c, nullptr, {}, clock), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(NewClient(c, std::make_unique<StaticToken>(), {}, clock), IsOk());
  c.server = "127.0.0.1:6443";
  EXPECT_THAT(NewClient(c, std::make_unique<StaticToken>(), {}, clock),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace registrar::kube
