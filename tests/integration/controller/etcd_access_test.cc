// How the controller (manifest mode) reaches etcd when the credentials or the TLS settings are
// wrong, or given to an etcd that does not need them (issue 12, items 2 and 4; DESIGN.md §1:
// a person must act -> Failed/AuthFailed with the reason, retried slowly). Real etcd with auth
// and TLS (certificates made by the fixture with openssl); the controller as a process.
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/controller/controller_harness.h"
#include "tests/testing/status_matchers.h"

namespace registrar::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kSoon = std::chrono::seconds(10);

// Lines of `log` containing `needle`, debug lines left out (the harness runs the controller with
// --log-level debug).
int CountLines(const std::string& log, const std::string& needle) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    n += absl::StrContains(line, needle) && !absl::StrContains(line, " debug ") ? 1 : 0;
  }
  return n;
}

// gRPC's own log lines ("E1202 22:52:03.475 ... ssl_transport_security.cc:...").
int CountGrpcLines(const std::string& log) {
  static const std::regex kGrpcLine("^[EWIF][0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}");
  int n = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    n += std::regex_search(std::string(line), kGrpcLine) ? 1 : 0;
  }
  return n;
}

class EtcdWithoutAuthTest : public ControllerTest {};

// Credentials given to an etcd where auth is not enabled: before, Authenticate's "authentication
// is not enabled" failed adoption and the keep-alive stream for ever (every registration stayed
// Pending). Now the controller works without a token and says so once.
TEST_F(EtcdWithoutAuthTest, CredentialsAreNotNeededAndSaidOnce) {
  const std::string password_file = root() + "/password";
  std::ofstream(password_file) << "pw\n";
  Write("a.yaml", Manifest({.name = "a", .key = "a.rpc", .value = "10.0.0.1:1"}));
  auto controller =
      StartController({"--etcd-username", "alice", "--etcd-password-file", password_file});
  ASSERT_NE(controller, nullptr);
  auto a = WaitForRegistration("default", "a", "Registered", kSoon);
  ASSERT_THAT(a, IsOk()) << controller->Describe();
  auto kv = WaitForKey("a.rpc/", kSoon);
  ASSERT_THAT(kv, IsOk());
  // Held over two TTLs on the tokenless keep-alive stream.
  std::this_thread::sleep_for(std::chrono::seconds(2 * kTtl));
  auto again = WaitForKey("a.rpc/", kSoon);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->lease, kv->lease);
  EXPECT_EQ(
      CountLines(controller->Stderr() + controller->Output(), "authentication is not enabled"), 1)
      << controller->Describe();
}

class EtcdAuthTlsTest : public ControllerTest {
 protected:
  EtcdOptions etcd_options() const override { return {.tls = true, .auth = true}; }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = root() + "/" + name;
    std::ofstream(path, std::ios::trunc) << content;
    return path;
  }

  std::vector<std::string> TlsFlags(const std::string& ca) {
    return {"--etcd-ca", ca, "--etcd-cert", etcd().cert_file(), "--etcd-key", etcd().key_file()};
  }
};

// A wrong password: before, every registration stayed Pending/Registering with an empty
// lastError while the controller retried about three times a second. Now Failed/AuthFailed
// naming the user, few log lines, and registered at once when the password file is fixed.
TEST_F(EtcdAuthTlsTest, WrongPasswordIsAuthFailedUntilThePasswordFileIsFixed) {
  const std::string password_file = WriteFile("password", "not-the-password\n");
  Write("a.yaml", Manifest({.name = "a", .key = "a.rpc", .value = "10.0.0.1:1"}));
  std::vector<std::string> extra = TlsFlags(etcd().ca_file());
  extra.insert(extra.end(), {"--etcd-username", "root", "--etcd-password-file", password_file});
  auto controller = StartController(extra);
  ASSERT_NE(controller, nullptr);
  auto a = WaitForRegistration("default", "a", "Failed", kSoon);
  ASSERT_THAT(a, IsOk()) << controller->Describe();
  EXPECT_EQ((*a)["reason"], "AuthFailed");
  const std::string last_error = (*a)["lastError"].get<std::string>();
  EXPECT_THAT(last_error, HasSubstr("authentication failed for user root"));
  EXPECT_THAT(last_error, Not(HasSubstr("not-the-password")));

  // Retried slowly: a few seconds later, only a handful of lines name the failure.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  const std::string log = controller->Stderr() + controller->Output();
  EXPECT_LE(CountLines(log, "authentication failed"), 4) << log;
  EXPECT_THAT(log, Not(HasSubstr("not-the-password")));
  auto still = WaitForRegistration("default", "a", "Failed", kSoon);
  ASSERT_THAT(still, IsOk());
  EXPECT_EQ((*still)["reason"], "AuthFailed");

  // The password file is fixed: registered within a few seconds, no restart.
  WriteFile("password", std::string(EtcdProcess::kRootPassword) + "\n");
  const TimePoint fixed = Now();
  auto registered = WaitForRegistration("default", "a", "Registered", kSoon);
  ASSERT_THAT(registered, IsOk()) << controller->Describe();
  ReportMeasurement("registered after the password file was fixed", SecondsSince(fixed));
  EXPECT_LE(SecondsSince(fixed), 5.0);
  EXPECT_EQ((*registered)["lastError"], "");
  ASSERT_THAT(WaitForKey("a.rpc/", kSoon), IsOk());
}

// A CA that did not sign etcd's certificate: before, raw gRPC handshake lines on stderr and
// every registration Pending with an empty lastError. Now Failed/AuthFailed naming the CA file
// and the TLS error, in lastError and one log line, and no gRPC lines.
TEST_F(EtcdAuthTlsTest, UntrustedCaIsAuthFailedNamingTheFile) {
  const std::string other = root() + "/other-ca";
  const std::string openssl =
      absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -keyout ", other, ".key -out ", other,
                   ".pem -subj /CN=other-ca -days 1 >/dev/null 2>&1");
  ASSERT_EQ(std::system(openssl.c_str()), 0);
  const std::string ca = other + ".pem";
  const std::string password_file =
      WriteFile("password", std::string(EtcdProcess::kRootPassword) + "\n");
  Write("a.yaml", Manifest({.name = "a", .key = "a.rpc", .value = "10.0.0.1:1"}));
  std::vector<std::string> extra = TlsFlags(ca);
  extra.insert(extra.end(), {"--etcd-username", "root", "--etcd-password-file", password_file});
  auto controller = StartController(extra);
  ASSERT_NE(controller, nullptr);
  auto a = WaitForRegistration("default", "a", "Failed", kSoon);
  ASSERT_THAT(a, IsOk()) << controller->Describe();
  EXPECT_EQ((*a)["reason"], "AuthFailed");
  const std::string last_error = (*a)["lastError"].get<std::string>();
  EXPECT_THAT(last_error, HasSubstr(ca));
  EXPECT_THAT(last_error, HasSubstr("certificate"));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const std::string log = controller->Stderr() + controller->Output();
  EXPECT_EQ(CountGrpcLines(log), 0) << log;
  EXPECT_GE(CountLines(log, ca), 1) << log;
  EXPECT_LE(CountLines(log, ca), 3) << log;
  auto leases = Leases();
  ASSERT_THAT(leases, IsOk());
  EXPECT_TRUE(leases->empty());
}

}  // namespace
}  // namespace registrar::testing
