// ResolveTarget (target_resolver.h): spec.etcd + Secrets -> the target's ClientOptions, or the
// SecretNotFound refusal naming Secret and key, or a read error; never the controller's own
// credentials, never a Secret value in a message.
#include "controller/registration/target_resolver.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/registration/conditions.h"

namespace registrar::registration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "s3cr3t-pw";
constexpr char kKey[] = "-----BEGIN PRIVATE KEY-----k";

class TargetResolverTest : public ::testing::Test {
 protected:
  TargetResolverTest() {
    secrets_["team/auth"] = {{"username", "alice"}, {"password", kPassword}};
    secrets_["team/tls"] = {{"ca.crt", "CA"}, {"tls.crt", "CERT"}, {"tls.key", kKey}};
    base_.username = "controller";
    base_.password = "controller-pw";
    base_.ca_file = "/etc/own/ca.crt";
    base_.cert_file = "/etc/own/tls.crt";
    base_.key_file = "/etc/own/tls.key";
    base_.request_timeout = std::chrono::milliseconds(1234);
    target_.endpoints = {"etcd-b:2379"};
  }

  absl::StatusOr<ResolvedTarget> Resolve() {
    SecretReader read = [this](const std::string& ns,
                               const std::string& name) -> absl::StatusOr<SecretData> {
      reads_.push_back(ns + "/" + name);
      if (fail_) {
        return absl::UnavailableError("connection refused");
      }
      if (forbidden_) {
        return absl::PermissionDeniedError("secrets \"x\" is forbidden");
      }
      auto it = secrets_.find(ns + "/" + name);
      if (it == secrets_.end()) {
        return absl::NotFoundError("secrets not found");
      }
      return it->second;
    };
    return ResolveTarget(target_, "team", read, base_);
  }
  Refusal RefusalOf(const absl::StatusOr<ResolvedTarget>& r) {
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r.ok() && r->refusal.has_value());
    return r.ok() && r->refusal ? *r->refusal : Refusal{};
  }
  etcd::ClientOptions OptionsOf(const absl::StatusOr<ResolvedTarget>& r) {
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r.ok() && !r->refusal.has_value())
        << (r.ok() && r->refusal ? r->refusal->message : "");
    return r.ok() ? r->options : etcd::ClientOptions{};
  }

  std::map<std::string, SecretData> secrets_;
  etcd::ClientOptions base_;
  EtcdTarget target_;
  std::vector<std::string> reads_;
  bool fail_ = false;
  bool forbidden_ = false;
};

TEST_F(TargetResolverTest, NoSecretsNeverCarriesTheControllersOwnCredentials) {
  etcd::ClientOptions o = OptionsOf(Resolve());
  EXPECT_EQ(o.endpoints, std::vector<std::string>{"etcd-b:2379"});
  EXPECT_EQ(o.username, "");
  EXPECT_EQ(o.password, "");
  EXPECT_EQ(o.ca_file, "");
  EXPECT_EQ(o.cert_file, "");
  EXPECT_EQ(o.key_file, "");
  EXPECT_FALSE(o.tls());
  EXPECT_EQ(o.request_timeout, std::chrono::milliseconds(1234));
  EXPECT_TRUE(reads_.empty());
}

TEST_F(TargetResolverTest, CredentialsAndTlsFromSecretsInTheResourcesNamespace) {
  target_.credentials_secret_ref = SecretRef{"auth"};
  target_.tls_secret_ref = SecretRef{"tls"};
  etcd::ClientOptions o = OptionsOf(Resolve());
  EXPECT_EQ(o.username, "alice");
  EXPECT_EQ(o.password, kPassword);
  EXPECT_EQ(o.ca_pem, "CA");
  EXPECT_EQ(o.cert_pem, "CERT");
  EXPECT_EQ(o.key_pem, kKey);
  EXPECT_TRUE(o.tls());
  EXPECT_EQ(o.tls_source, "Secret team/tls");
  EXPECT_EQ(reads_, (std::vector<std::string>{"team/auth", "team/tls"}));
  // The identity changes with the password and the TLS material, and never holds them.
  const std::string identity = o.Identity();
  EXPECT_THAT(identity, Not(HasSubstr(kPassword)));
  EXPECT_THAT(identity, Not(HasSubstr("CERT")));
  secrets_["team/auth"]["password"] = "rotated";
  EXPECT_NE(OptionsOf(Resolve()).Identity(), identity);
  secrets_["team/auth"]["password"] = kPassword;
  EXPECT_EQ(OptionsOf(Resolve()).Identity(), identity);
  secrets_["team/tls"]["tls.crt"] = "CERT2";
  EXPECT_NE(OptionsOf(Resolve()).Identity(), identity);
}

TEST_F(TargetResolverTest, MissingSecretOrKeyIsSecretNotFoundNamingThem) {
  struct Case {
    std::string name;
    std::function<void()> change;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"credentials Secret missing", [&] { secrets_.erase("team/auth"); },
       "Secret team/auth: not found (credentialsSecretRef)"},
      {"no password", [&] { secrets_["team/auth"].erase("password"); },
       "Secret team/auth: no key \"password\""},
      {"empty username", [&] { secrets_["team/auth"]["username"] = ""; },
       "Secret team/auth: no key \"username\""},
      {"TLS Secret missing", [&] { secrets_.erase("team/tls"); },
       "Secret team/tls: not found (tlsSecretRef)"},
      {"no ca.crt", [&] { secrets_["team/tls"].erase("ca.crt"); },
       "Secret team/tls: no key \"ca.crt\""},
      {"certificate without key", [&] { secrets_["team/tls"].erase("tls.key"); },
       "Secret team/tls: no key \"tls.key\""},
      {"forbidden", [&] { forbidden_ = true; }, "Secret team/auth: the controller may not read it"},
  };
  target_.credentials_secret_ref = SecretRef{"auth"};
  target_.tls_secret_ref = SecretRef{"tls"};
  const std::map<std::string, SecretData> initial = secrets_;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    secrets_ = initial;
    forbidden_ = false;
    c.change();
    Refusal r = RefusalOf(Resolve());
    EXPECT_EQ(r.reason, kReasonSecretNotFound);
    EXPECT_THAT(r.message, HasSubstr(c.expected));
    EXPECT_THAT(r.message, Not(HasSubstr(kPassword)));
    EXPECT_THAT(r.message, Not(HasSubstr(kKey)));
  }
}

TEST_F(TargetResolverTest, CaMayBeLeftOutOnlyWithInsecureSkipVerify) {
  target_.tls_secret_ref = SecretRef{"tls"};
  target_.insecure_skip_verify = true;
  secrets_["team/tls"].erase("ca.crt");
  etcd::ClientOptions o = OptionsOf(Resolve());
  EXPECT_TRUE(o.insecure_skip_verify);
  EXPECT_EQ(o.ca_pem, "");
  EXPECT_EQ(o.cert_pem, "CERT");
}

TEST_F(TargetResolverTest, AnApiFailureIsAnErrorNotARefusal) {
  target_.credentials_secret_ref = SecretRef{"auth"};
  fail_ = true;
  auto r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("reading Secret team/auth"));
}

}  // namespace
}  // namespace registrar::registration

namespace registrar::registration {
namespace {

struct RecheckRow {
  const char* name;
  RecheckInput in;
  std::optional<std::chrono::milliseconds> want;
};

TEST(SecretRecheck, Table) {
  using std::chrono::milliseconds;
  const milliseconds recheck(5000);
  const milliseconds live(500);
  const std::vector<RecheckRow> rows = {
      {"healthy: only the periodic requeue", {}, std::nullopt},
      {"Secret missing", {.secret_missing = true}, recheck},
      {"AuthFailed without a lease", {.auth_failed = true}, recheck},
      {"AuthFailed, the lease still held (password changed in etcd first): quickly",
       {.auth_failed = true, .lease_held = true},
       live},
      {"live, the new credentials rejected (Secret changed first)",
       {.lease_held = true, .move_waits = true},
       recheck},
      {"a plain move (no warning): nothing more", {.lease_held = true}, std::nullopt},
  };
  for (const RecheckRow& row : rows) {
    EXPECT_EQ(SecretRecheck(row.in, recheck, live), row.want) << row.name;
  }
}

}  // namespace
}  // namespace registrar::registration
