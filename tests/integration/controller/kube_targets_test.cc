// End-to-end tests of per-registration etcd targets (issue 15, DESIGN §1 `spec.etcd`): the
// etcd-registrar binary against the real kube-apiserver of this test binary, the harness's etcd
// (the controller's own, no auth) and a second etcd with TLS (certificates made with openssl,
// client certificates required) and user/password auth, shared by the tests of this file. Each
// test has its own namespace, etcd user, Secrets and policy file (the namespace may target
// 127.0.0.1:*); the credentials and TLS material come from Secrets in the namespace.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/fixtures/child_process.h"
#include "tests/fixtures/tcp_proxy.h"
#include "tests/integration/controller/kube_e2e_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace registrar::testing {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr auto kStartup = seconds(60);
constexpr auto kSettle = seconds(30);
constexpr int kTtl = 5;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Every line of a PEM file between its BEGIN and END lines (the secret part of a key).
std::vector<std::string> PemBody(const std::string& pem) {
  std::vector<std::string> body;
  for (absl::string_view line : absl::StrSplit(pem, '\n')) {
    if (!line.empty() && !absl::StartsWith(line, "-----")) {
      body.emplace_back(line);
    }
  }
  return body;
}

bool Stalled(const json& o, const std::string& reason) {
  const json c = Condition(o, "Stalled");
  return c.value("status", "") == "True" && c.value("reason", "") == reason;
}

class KubeTargetsTest : public KubeE2eTest {
 protected:
  static void SetUpTestSuite() {
    KubeE2eTest::SetUpTestSuite();
    auto etcd = EtcdProcess::Start({.tls = true, .auth = true});
    ASSERT_THAT(etcd, IsOk());
    secure_ = etcd->release();
  }
  static void TearDownTestSuite() {
    delete secure_;
    secure_ = nullptr;
  }

  void SetUp() override {
    KubeE2eTest::SetUp();
    ASSERT_NE(secure_, nullptr) << "the second etcd did not start";
    // A user of the second etcd for this test: its keys and the ownership records.
    ASSERT_THAT(AddTenant(user(1), password(1)), IsOk());
    const std::string policy =
        absl::StrCat("rules:\n- namespaces: [\"", ns(),
                     "\"]\n  keys: [\"*\"]\n  endpoints: [\"127.0.0.1:*\"]\n");
    policy_file_ = tmp() + "/policy.yaml";
    std::ofstream(policy_file_) << policy;
  }

  EtcdProcess& secure() { return *secure_; }
  EtcdInspector inspect_secure() const { return EtcdInspector(*secure_); }
  std::string user(int n) const { return absl::StrCat(ns(), "-u", n); }
  std::string password(int n) const { return absl::StrCat("pw-", n, "-", ns(), "-Zq7"); }
  std::string key() const { return ns() + ".rpc"; }
  std::string full_key() const { return key() + "/1"; }

  absl::Status AddTenant(const std::string& name, const std::string& pw) {
    absl::Status added = secure_->AddUser(name, pw, key() + "/");
    if (!added.ok()) {
      return added;
    }
    return secure_
        ->Etcdctl({"role", "grant-permission", name + "-role", "readwrite", kDefaultOwnerPrefixE2e,
                   "--prefix=true"})
        .status();
  }

  absl::Status CreateSecret(const std::string& name,
                            const std::vector<std::string>& from /* --from-... args */) {
    std::vector<std::string> args = {"create", "secret", "generic", name, "-n", ns()};
    args.insert(args.end(), from.begin(), from.end());
    return Kubectl(args).status();
  }
  absl::Status CreateCredentials(int n) {
    return CreateSecret(
        "auth", {"--from-literal=username=" + user(n), "--from-literal=password=" + password(n)});
  }
  // The credentials Secret now holds `username` and `pw`.
  absl::Status PatchCredentials(const std::string& username, const std::string& pw) {
    return Kubectl({"patch", "secret", "auth", "-n", ns(), "--type", "merge", "-p",
                    json{{"data",
                          {{"username", absl::Base64Escape(username)},
                           {"password", absl::Base64Escape(pw)}}}}
                        .dump()})
        .status();
  }
  absl::Status CreateTls() {
    return CreateSecret("tls", {"--from-file=ca.crt=" + secure_->ca_file(),
                                "--from-file=tls.crt=" + secure_->cert_file(),
                                "--from-file=tls.key=" + secure_->key_file()});
  }

  // spec.etcd on the second etcd with both Secrets.
  std::string SecureSpec() const {
    return absl::StrCat("    key: ", key(), "\n    value: \"10.0.0.1:8080\"\n    id: 1\n",
                        "    ttlSeconds: ", kTtl, "\n    etcd:\n      endpoints: [\"",
                        secure_->endpoint(),
                        "\"]\n      credentialsSecretRef: {name: auth}\n"
                        "      tlsSecretRef: {name: tls}\n");
  }

  // The controller's arguments, with `kubeconfig` instead of the admin's when given.
  std::vector<std::string> Args(const std::string& kubeconfig = "") const {
    std::vector<std::string> args = KubeArgs({"--policy", policy_file_, "--resync-period", "2"});
    if (!kubeconfig.empty()) {
      args[1] = kubeconfig;
    }
    return args;
  }
  std::unique_ptr<ControllerProcess> StartReady(const std::string& kubeconfig = "") {
    auto c = StartController(Args(kubeconfig));
    if (c == nullptr) {
      return nullptr;
    }
    const absl::Status ready = c->WaitReady(kStartup);
    if (!ready.ok()) {
      ADD_FAILURE() << ready;
      return nullptr;
    }
    return c;
  }

  // Waits until exactly one key under `prefix` of `etcd` has `accept`.
  absl::StatusOr<StoredKv> WaitForKeyOn(const EtcdProcess& on, const std::string& prefix,
                                        const std::function<bool(const StoredKv&)>& accept = {}) {
    std::vector<StoredKv> last;
    const bool ok = WaitFor(
        [&] {
          auto kvs = EtcdInspector(on).Get(prefix);
          last = kvs.ok() ? *kvs : std::vector<StoredKv>{};
          return last.size() == 1 && (!accept || accept(last[0]));
        },
        kSettle);
    if (!ok) {
      return absl::DeadlineExceededError("keys under " + prefix + ": " + Describe(last));
    }
    return last[0];
  }

  std::unique_ptr<EtcdWatchRecorder> RecordOn(const EtcdProcess& on, const std::string& prefix) {
    auto r = EtcdWatchRecorder::Start(EtcdctlTarget::Of(on), prefix);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *std::move(r) : nullptr;
  }

  // The DELETEs of `key` a recorder saw.
  static std::vector<WatchEvent> DeletesOf(const EtcdWatchRecorder& r, const std::string& key) {
    std::vector<WatchEvent> out;
    for (const WatchEvent& e : r.events()) {
      if (e.type == WatchEvent::Type::kDelete && e.key == key) {
        out.push_back(e);
      }
    }
    return out;
  }

  // Deletes every ServiceRegistration of the namespace and waits until they are gone.
  void DeleteAll(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      ASSERT_THAT(Kubectl({"delete", "sreg", name, "-n", ns(), "--wait=false"}), IsOk());
    }
    for (const std::string& name : names) {
      ASSERT_THAT(WaitForObjectGone(name, kSettle), IsOk());
    }
  }

  static EtcdProcess* secure_;
  std::string policy_file_;
};

EtcdProcess* KubeTargetsTest::secure_ = nullptr;

TEST_F(KubeTargetsTest, SecretMissingThenCreatedRegistersOnTheSecondEtcdAndNoSecretIsShown) {
  ASSERT_THAT(Apply(Sreg("a", ns(), SecureSpec())), IsOk());
  // Not allowed by the policy: another endpoint.
  ASSERT_THAT(Apply(Sreg("far", ns(),
                         absl::StrCat("    key: ", key(), "-far\n    value: \"10.0.0.2:1\"\n",
                                      "    etcd:\n      endpoints: [\"10.255.0.1:2379\"]\n"))),
              IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);

  auto far = WaitForObject(
      "far", [](const json& o) { return Stalled(o, "EndpointNotAllowed"); }, kSettle);
  ASSERT_THAT(far, IsOk()) << c->Describe();
  EXPECT_THAT(Condition(*far, "Stalled").value("message", ""), HasSubstr("10.255.0.1:2379"));

  auto missing = WaitForObject(
      "a", [](const json& o) { return Stalled(o, "SecretNotFound"); }, kSettle);
  ASSERT_THAT(missing, IsOk()) << c->Describe();
  EXPECT_THAT(Condition(*missing, "Stalled").value("message", ""),
              HasSubstr(absl::StrCat("Secret ", ns(), "/auth")));

  // The credentials Secret alone: the TLS one is named next.
  ASSERT_THAT(CreateCredentials(1), IsOk());
  auto no_tls = WaitForObject(
      "a",
      [&](const json& o) {
        return Stalled(o, "SecretNotFound") &&
               absl::StrContains(Condition(o, "Stalled").value("message", ""),
                                 absl::StrCat("Secret ", ns(), "/tls"));
      },
      kSettle);
  ASSERT_THAT(no_tls, IsOk()) << c->Describe();

  ASSERT_THAT(CreateTls(), IsOk());
  auto ready = WaitForObject("a", IsReady, kSettle);
  ASSERT_THAT(ready, IsOk()) << c->Describe();
  const int64_t lease = LeaseOf(*ready);
  auto kv = WaitForKeyOn(secure(), key() + "/");
  ASSERT_THAT(kv, IsOk());
  EXPECT_EQ(kv->key, full_key());
  EXPECT_EQ(kv->lease, lease);
  auto record =
      inspect_secure().GetKey(absl::StrCat(kDefaultOwnerPrefixE2e, owner_id(), "/", full_key()));
  ASSERT_THAT(record, IsOk());
  EXPECT_TRUE(record->has_value()) << "no ownership record on the second etcd";
  // Nothing on the controller's own etcd.
  EXPECT_THAT(inspect().Get(key()), IsOkAndHolds(::testing::IsEmpty()));

  DeleteAll({"a", "far"});
  EXPECT_THAT(inspect_secure().Get(key()), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_THAT(inspect_secure().Leases(), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_THAT(inspect().Leases(), IsOkAndHolds(::testing::IsEmpty()));

  // No password, and no line of the client key, in the log, the events or the status.
  std::vector<std::string> secrets = {password(1)};
  for (const std::string& line : PemBody(ReadText(secure().key_file()))) {
    secrets.push_back(line);
  }
  ASSERT_GT(secrets.size(), 2u);
  auto events = Kubectl({"get", "events", "-n", ns(), "-o", "json"});
  ASSERT_THAT(events, IsOk());
  const std::string log = c->Log();
  ASSERT_THAT(log, HasSubstr("Secret"));  // the log is there and names the Secrets
  for (const std::string& s : secrets) {
    EXPECT_THAT(log, ::testing::Not(HasSubstr(s)));
    EXPECT_THAT(*events, ::testing::Not(HasSubstr(s)));
    EXPECT_THAT(missing->dump(), ::testing::Not(HasSubstr(s)));
    EXPECT_THAT(ready->dump(), ::testing::Not(HasSubstr(s)));
  }
}

TEST_F(KubeTargetsTest, RotatedCredentialsReauthenticateWithoutAGap) {
  ASSERT_THAT(CreateCredentials(1), IsOk());
  ASSERT_THAT(CreateTls(), IsOk());
  ASSERT_THAT(Apply(Sreg("a", ns(), SecureSpec())), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  auto before = WaitForObject("a", IsReady, kSettle);
  ASSERT_THAT(before, IsOk()) << c->Describe();
  const int64_t old_lease = LeaseOf(*before);
  auto recorder = RecordOn(secure(), key() + "/");
  ASSERT_NE(recorder, nullptr);

  // Rotation: new credentials in etcd, then in the Secret, then the old ones are removed.
  ASSERT_THAT(AddTenant(user(2), password(2)), IsOk());
  ASSERT_THAT(PatchCredentials(user(2), password(2)), IsOk());
  // The controller moves to a connection with the new credentials (a new lease, same key).
  auto kv = WaitForKeyOn(secure(), key() + "/",
                         [&](const StoredKv& kv) { return kv.lease != old_lease; });
  ASSERT_THAT(kv, IsOk()) << c->Describe();
  EXPECT_EQ(kv->key, full_key());
  auto after = WaitForObject(
      "a", [&](const json& o) { return IsReady(o) && LeaseOf(o) == kv->lease; }, kSettle);
  ASSERT_THAT(after, IsOk()) << c->Describe();
  // The old lease was revoked, not left to expire; then the old user can go.
  EXPECT_TRUE(WaitFor(
      [&] {
        auto ttl = inspect_secure().TimeToLive(old_lease);
        return ttl.ok() && ttl->ttl == -1;
      },
      kSettle));
  ASSERT_THAT(secure().Etcdctl({"user", "delete", user(1)}), IsOk());
  // The connection with the old credentials is closed once nothing uses it.
  EXPECT_THAT(c->WaitForLog("closed: no registration uses it", kSettle), IsOk());
  // Still there on the new lease once the old one is gone, and never deleted in between.
  auto still =
      WaitForKeyOn(secure(), key() + "/", [&](const StoredKv& s) { return s.lease == kv->lease; });
  ASSERT_THAT(still, IsOk());
  EXPECT_THAT(DeletesOf(*recorder, full_key()), ::testing::IsEmpty());

  DeleteAll({"a"});
  EXPECT_THAT(inspect_secure().Leases(), IsOkAndHolds(::testing::IsEmpty()));
  for (const std::string& s : {password(1), password(2)}) {
    EXPECT_THAT(c->Log(), ::testing::Not(HasSubstr(s)));
  }
}

// The same etcd user gets a new password, in the Secret and in etcd, in either order (nobody can
// make both passwords valid at once). The key must stay in etcd throughout: a watch on it sees no
// DELETE, the registration ends Ready on a new lease taken over make before break, the old lease
// is revoked (through the new connection: the old one's credentials are no longer accepted) and
// the old connection is closed (etcd_registrar_etcd_connections back to the default target's and
// the new one). No password in the log, the Events or the status. The gaps measured before the
// fix of 3 December 2026 (docs/operations.md): etcd first, 3.5/3.6: the key was deleted within a
// TTL (one DELETE) until the Secret was read; Secret first, 3.6: a DELETE and 26 s without the
// key (the new password held down for 30 s after its rejection).
class SameUserRotationTest : public KubeTargetsTest {
 protected:
  struct Started {
    std::unique_ptr<ControllerProcess> controller;
    int64_t lease = 0;
    std::unique_ptr<EtcdWatchRecorder> recorder;
  };
  // Registered on the second etcd with user(1)/password(1), its key watched.
  Started Start() {
    Started out;
    EXPECT_THAT(CreateCredentials(1), IsOk());
    EXPECT_THAT(CreateTls(), IsOk());
    EXPECT_THAT(Apply(Sreg("a", ns(), SecureSpec())), IsOk());
    out.controller = StartReady();
    if (out.controller == nullptr) {
      return out;
    }
    auto before = WaitForObject("a", IsReady, kSettle);
    EXPECT_THAT(before, IsOk()) << out.controller->Describe();
    if (!before.ok()) {
      out.controller.reset();
      return out;
    }
    out.lease = LeaseOf(*before);
    out.recorder = RecordOn(secure(), key() + "/");
    // The controller's own etcd and the second one (the gauge follows within a probe, 2 s).
    EXPECT_TRUE(WaitFor(
        [&] {
          auto n = Connections(*out.controller);
          return n.ok() && *n == 2.0;
        },
        kSettle));
    return out;
  }
  static absl::StatusOr<double> Connections(ControllerProcess& c) {
    return c.Metric("etcd_registrar_etcd_connections", {});
  }
  // Ready on a lease other than `old`, which holds the key in etcd.
  absl::StatusOr<json> WaitReadyOnANewLease(int64_t old, Duration timeout = kSettle) {
    return WaitForObject(
        "a",
        [&](const json& o) {
          if (!IsReady(o) || LeaseOf(o) == old ||
              Condition(o, "Reconciling").value("status", "") == "True") {
            return false;
          }
          auto kv = EtcdInspector(secure()).GetKey(full_key());
          return kv.ok() && kv->has_value() && (*kv)->lease == LeaseOf(o);
        },
        timeout);
  }
  // After the move: the old lease revoked, the old connection closed, no DELETE, no password.
  void ExpectMovedWithoutAGap(Started& s, const json& after, const std::string& rotated) {
    ControllerProcess& c = *s.controller;
    auto ttl_new = inspect_secure().TimeToLive(LeaseOf(after));
    ASSERT_THAT(ttl_new, IsOk());
    EXPECT_GT(ttl_new->ttl, 0);
    EXPECT_TRUE(WaitFor(
        [&] {
          auto ttl = inspect_secure().TimeToLive(s.lease);
          return ttl.ok() && ttl->ttl == -1;
        },
        kSettle))
        << "the old lease is still there";
    // The old connection is closed: the default target's and the new one are left.
    EXPECT_THAT(c.WaitForLog("closed: no registration uses it", kSettle), IsOk());
    EXPECT_TRUE(WaitFor(
        [&] {
          auto n = Connections(c);
          return n.ok() && *n == 2.0;
        },
        kSettle))
        << "connections: " << Connections(c).value_or(-1) << "\n"
        << c.Describe();
    EXPECT_THAT(DeletesOf(*s.recorder, full_key()), ::testing::IsEmpty())
        << "etcd " << secure().version() << ": the key was deleted during the rotation";

    DeleteAll({"a"});
    EXPECT_THAT(inspect_secure().Leases(), IsOkAndHolds(::testing::IsEmpty()));
    auto events = Kubectl({"get", "events", "-n", ns(), "-o", "json"});
    ASSERT_THAT(events, IsOk());
    const std::string log = c.Log();
    for (const std::string& pw : {password(1), rotated}) {
      EXPECT_THAT(log, ::testing::Not(HasSubstr(pw)));
      EXPECT_THAT(*events, ::testing::Not(HasSubstr(pw)));
      EXPECT_THAT(after.dump(), ::testing::Not(HasSubstr(pw)));
    }
  }
  // Every version of ServiceRegistration `a` after `from_version`, through the API server's
  // watch (`kubectl get --raw ...?watch=1`: every change, no polling gap), until the version
  // `until` has been seen; a watch the server ends is resumed from the last version seen. One
  // line per version: resourceVersion, phase, then TYPE=status/reason for each condition.
  absl::StatusOr<std::vector<std::string>> StatusesBetween(const std::string& from_version,
                                                           const std::string& until) {
    auto watch = [&](const std::string& from) {
      return ChildProcess::Start(
          plane().kubectl_path(),
          {"--kubeconfig", plane().admin_kubeconfig(), "get", "--raw",
           absl::StrCat("/apis/registrar.dev/v1alpha1/namespaces/", ns(),
                        "/serviceregistrations?watch=1&fieldSelector=metadata.name%3Da"
                        "&resourceVersion=",
                        from)});
    };
    std::vector<std::string> seen;
    std::string last = from_version;
    auto process = watch(last);
    if (!process.ok()) {
      return process.status();
    }
    size_t parsed = 0;  // lines of the current process already read
    const auto deadline = std::chrono::steady_clock::now() + kSettle;
    while (std::chrono::steady_clock::now() < deadline) {
      const bool running = (*process)->Running();
      std::vector<std::string> lines = absl::StrSplit((*process)->Output(), '\n');
      lines.pop_back();  // the part after the last newline: not complete yet
      for (; parsed < lines.size(); ++parsed) {
        const json event = json::parse(lines[parsed], nullptr, /*allow_exceptions=*/false);
        if (!event.is_object() || !event.contains("object")) {
          return absl::InternalError("watch printed " + lines[parsed]);
        }
        const json& o = event["object"];
        last = o["metadata"].value("resourceVersion", "");
        std::string line = absl::StrCat(last, " ", event.value("type", ""), " ",
                                        o.value("status", json::object()).value("phase", ""));
        for (const json& c : o.value("status", json::object()).value("conditions", json::array())) {
          absl::StrAppend(&line, " ", c.value("type", ""), "=", c.value("status", ""), "/",
                          c.value("reason", ""));
        }
        seen.push_back(line);
        if (last == until) {
          return seen;
        }
      }
      if (!running) {  // the server ended the watch: resume after the last version seen
        process = watch(last);
        if (!process.ok()) {
          return process.status();
        }
        parsed = 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("version ", until, " not seen; seen:\n", absl::StrJoin(seen, "\n")));
  }
  static double Since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }
};

// etcd first (`etcdctl user passwd`), then the Secret, a moment later. etcd 3.4 keeps the
// keep-alive stream opened before the change; 3.5 and 3.6 close it and the old password cannot
// open another: the registration is AuthFailed at once (the key lasts until its lease ends) and
// its Secret is read again every half second, so the new password is used within the lease's
// remaining TTL. Before the fix (3.5/3.6) the Secret was read only at the next requeue: the key
// expired (one DELETE) and came back later.
TEST_F(SameUserRotationTest, EtcdFirstThenTheSecretKeepsTheKeyWithoutAGap) {
  Started s = Start();
  ASSERT_NE(s.controller, nullptr);
  ControllerProcess& c = *s.controller;
  const std::string rotated = password(2);  // user(1)'s new password
  ASSERT_THAT(secure().SetPassword(user(1), rotated), IsOk());
  const auto changed = std::chrono::steady_clock::now();
  const bool stream_survives = secure().version() == "3.4";
  if (!stream_survives) {
    // The controller noticed: the old stream cannot authenticate again. (Its log is read: the
    // key's time is short, its lease ends between 2/3 of a TTL and a TTL after the change.)
    ASSERT_TRUE(WaitFor(
        [&] {
          return absl::StrContains(c.Log(), "rejects the credentials the key was registered");
        },
        seconds(kTtl)))
        << c.Describe();
  }
  // Then the operator updates the Secret.
  ASSERT_THAT(PatchCredentials(user(1), rotated), IsOk());
  const double secret_at = Since(changed);
  auto after = WaitReadyOnANewLease(s.lease);
  ASSERT_THAT(after, IsOk()) << c.Describe();
  std::cerr << "etcd " << secure().version() << ", etcd first: Secret updated " << secret_at
            << " s after etcd; Ready on the new lease " << Since(changed) << " s after etcd\n";
  if (!stream_survives) {
    // In between, the status said AuthFailed with the lease still held (its Warning Event).
    auto events = Kubectl({"get", "events", "-n", ns(), "-o", "json"});
    ASSERT_THAT(events, IsOk());
    EXPECT_THAT(*events, HasSubstr("the key stays until its lease ends"));
  }
  ExpectMovedWithoutAGap(s, *after, rotated);
}

// The Secret first: etcd rejects the new password (it still has the old one) while the key is
// live with the old. The registration stays Ready on its lease, with Reconciling True
// (CredentialsRejected) and a Warning Event naming the Secret and the user (before: Failed,
// Stalled AuthFailed). Then etcd gets the new password: on 3.5/3.6 the old connection's stream
// cannot authenticate again, and that ends the new credentials' hold-down at once; on 3.4 the old
// stream goes on, and the check of the old credentials that each rejection of the new ones makes
// (at most every 5 s) finds them rejected (before: the new ones waited for their 30 s hold-down).
TEST_F(SameUserRotationTest, SecretFirstThenEtcdKeepsTheKeyWithoutAGap) {
  Started s = Start();
  ASSERT_NE(s.controller, nullptr);
  ControllerProcess& c = *s.controller;
  const std::string rotated = password(2);
  ASSERT_THAT(PatchCredentials(user(1), rotated), IsOk());
  auto kept = WaitForObject(
      "a",
      [&](const json& o) {
        const json r = Condition(o, "Reconciling");
        return IsReady(o) && LeaseOf(o) == s.lease && r.value("status", "") == "True" &&
               r.value("reason", "") == "CredentialsRejected";
      },
      kSettle);
  ASSERT_THAT(kept, IsOk()) << c.Describe();
  const std::string warning = Condition(*kept, "Reconciling").value("message", "");
  EXPECT_THAT(warning, HasSubstr(user(1)));
  EXPECT_THAT(warning, HasSubstr(absl::StrCat("Secret ", ns(), "/auth")));
  EXPECT_EQ(kept->at("status").value("phase", ""), "Registered");
  EXPECT_TRUE(WaitFor(
      [&] {
        auto events = Kubectl({"get", "events", "-n", ns(), "-o", "json"});
        return events.ok() && absl::StrContains(*events, "CredentialsRejected");
      },
      kSettle))
      << "no CredentialsRejected Event";

  // Every status from here on is read back through a watch on the object.
  const std::string from_version = kept->at("metadata").value("resourceVersion", "");
  ASSERT_THAT(secure().SetPassword(user(1), rotated), IsOk());
  const auto changed = std::chrono::steady_clock::now();
  auto after = WaitReadyOnANewLease(s.lease);
  ASSERT_THAT(after, IsOk()) << c.Describe();
  std::cerr << "etcd " << secure().version() << ", Secret first: Ready on the new lease "
            << Since(changed) << " s after etcd\n";
  // The key was never deleted, so Ready never went False: the move shows Reconciling (Moving or
  // CredentialsRejected), never a false outage (before: Pending/EtcdUnavailable and a moment of
  // Failed/AuthFailed on 3.5/3.6 once etcd closed the old keep-alive stream).
  auto statuses = StatusesBetween(from_version, after->at("metadata").value("resourceVersion", ""));
  ASSERT_THAT(statuses, IsOk());
  const std::vector<std::string>& seen = *statuses;
  EXPECT_THAT(DeletesOf(*s.recorder, full_key()), ::testing::IsEmpty());
  EXPECT_FALSE(seen.empty());
  for (const std::string& line : seen) {
    EXPECT_THAT(line, HasSubstr("Ready=True/"))
        << "etcd " << secure().version() << ": every status seen:\n"
        << absl::StrJoin(seen, "\n") << "\n"
        << c.Describe();
  }
  std::cerr << "statuses seen during the rotation:\n" << absl::StrJoin(seen, "\n") << "\n";
  if (secure().version() != "3.4") {
    // The case in point happened: etcd closed the old keep-alive stream during the move.
    EXPECT_THAT(c.Log(), HasSubstr("is down; still Registered while it moves"));
  }
  ExpectMovedWithoutAGap(s, *after, rotated);
}

// A tlsSecretRef whose ca.crt did not sign etcd's certificate (the Kubernetes CA of this test's
// control plane): the TLS handshake fails, and the status says so naming the Secret and the TLS
// error: Failed, Stalled AuthFailed (DESIGN §1: wrong credentials). Nothing is written on either
// etcd. Once the Secret holds the right CA the registration comes up without a restart.
TEST_F(KubeTargetsTest, UntrustedCaInTheTlsSecretIsAuthFailedNamingTheSecretUntilFixed) {
  ASSERT_THAT(CreateCredentials(1), IsOk());
  ASSERT_THAT(CreateSecret("tls", {"--from-file=ca.crt=" + plane().ca_file(),
                                   "--from-file=tls.crt=" + secure().cert_file(),
                                   "--from-file=tls.key=" + secure().key_file()}),
              IsOk());
  ASSERT_THAT(Apply(Sreg("a", ns(), SecureSpec())), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);

  auto refused = WaitForObject(
      "a", [](const json& o) { return Stalled(o, "AuthFailed"); }, kSettle);
  ASSERT_THAT(refused, IsOk()) << c->Describe();
  EXPECT_EQ((*refused)["status"].value("phase", ""), "Failed");
  const std::string message = Condition(*refused, "Stalled").value("message", "");
  EXPECT_THAT(message, HasSubstr(absl::StrCat("Secret ", ns(), "/tls")));
  EXPECT_THAT(message, HasSubstr("certificate verify failed"));
  EXPECT_THAT(message, HasSubstr(secure().endpoint()));
  EXPECT_EQ(Condition(*refused, "Ready").value("reason", ""), "AuthFailed");
  EXPECT_THAT(inspect_secure().Get(key()), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_THAT(inspect_secure().Leases(), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_THAT(inspect().Get(key()), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_THAT(inspect().Leases(), IsOkAndHolds(::testing::IsEmpty()));
  // The Event says it too.
  auto events = Kubectl({"get", "events", "-n", ns(), "-o", "json"});
  ASSERT_THAT(events, IsOk());
  EXPECT_THAT(*events, HasSubstr("AuthFailed"));

  // The right CA: registered without a restart.
  ASSERT_THAT(
      Kubectl(
          {"patch", "secret", "tls", "-n", ns(), "--type", "merge", "-p",
           json{{"data", {{"ca.crt", absl::Base64Escape(ReadText(secure().ca_file()))}}}}.dump()}),
      IsOk());
  auto ready = WaitForObject("a", IsReady, kSettle);
  ASSERT_THAT(ready, IsOk()) << c->Describe();
  auto kv = WaitForKeyOn(secure(), key() + "/");
  ASSERT_THAT(kv, IsOk());
  EXPECT_EQ(kv->lease, LeaseOf(*ready));

  DeleteAll({"a"});
  EXPECT_THAT(inspect_secure().Leases(), IsOkAndHolds(::testing::IsEmpty()));
  for (const std::string& line : PemBody(ReadText(secure().key_file()))) {
    EXPECT_THAT(message, ::testing::Not(HasSubstr(line)));
    EXPECT_THAT(c->Log(), ::testing::Not(HasSubstr(line)));
  }
}

TEST_F(KubeTargetsTest, EndpointChangeMakesBeforeBreakAcrossEtcds) {
  ASSERT_THAT(CreateCredentials(1), IsOk());
  ASSERT_THAT(CreateTls(), IsOk());
  ASSERT_THAT(Apply(Sreg("a", ns(), SecureSpec())), IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  auto before = WaitForObject("a", IsReady, kSettle);
  ASSERT_THAT(before, IsOk()) << c->Describe();
  const int64_t old_lease = LeaseOf(*before);
  auto on_secure = RecordOn(secure(), key() + "/");
  ASSERT_NE(on_secure, nullptr);

  // To the controller's own etcd given as an explicit endpoint (no credentials, no TLS), while
  // that etcd answers nothing (SIGSTOP): make before break means the old key stays on the
  // second etcd as long as the new one cannot acknowledge the write. The two etcds are watched
  // by two streams whose delivery times differ by milliseconds, so the order is checked this
  // way, not by comparing the times the two watchers saw the events.
  etcd().Pause();
  ASSERT_THAT(MergePatch("a", json{{"spec",
                                    {{"etcd",
                                      {{"endpoints", {etcd().endpoint()}},
                                       {"credentialsSecretRef", nullptr},
                                       {"tlsSecretRef", nullptr}}}}}}
                                  .dump()),
              IsOk());
  // The controller has taken the change: the status speaks of the new generation, still
  // Registered (Ready) on the old lease, which is live, and Reconciling True, reason Moving,
  // until the key is on the new etcd (before: Reconciling False, as if the change were done).
  // Nothing outside shows the engine's attempt to write to the stopped etcd, so the old key is
  // watched for a bounded 3 s: a break-before-make engine would revoke it within milliseconds of
  // taking the change.
  auto moving = WaitForObject(
      "a",
      [&](const json& o) {
        return o.value("/status/observedGeneration"_json_pointer, 0) ==
                   o.value("/metadata/generation"_json_pointer, 0) &&
               IsReady(o) && LeaseOf(o) == old_lease &&
               Condition(o, "Reconciling").value("status", "") == "True" &&
               Condition(o, "Reconciling").value("reason", "") == "Moving";
      },
      kSettle);
  ASSERT_THAT(moving, IsOk()) << c->Describe() << "\n" << Object("a").value_or(json()).dump();
  EXPECT_THAT(inspect_secure().Get(full_key()), IsOkAndHolds(::testing::SizeIs(1)))
      << "the key left the second etcd before the new one could take it";
  EXPECT_FALSE(WaitFor([&] { return !DeletesOf(*on_secure, full_key()).empty(); }, seconds(3)))
      << "the key left the second etcd before the new one could take it";
  etcd().Resume();
  auto moved = WaitForKeyOn(etcd(), key() + "/");
  ASSERT_THAT(moved, IsOk()) << c->Describe();
  ASSERT_TRUE(WaitFor([&] { return !DeletesOf(*on_secure, full_key()).empty(); }, kSettle))
      << c->Describe();
  auto after = WaitForObject(
      "a",
      [&](const json& o) {
        return IsReady(o) && LeaseOf(o) == moved->lease &&
               Condition(o, "Reconciling").value("status", "") == "False";
      },
      kSettle);
  ASSERT_THAT(after, IsOk()) << c->Describe();
  EXPECT_TRUE(WaitFor(
      [&] {
        auto ttl = inspect_secure().TimeToLive(old_lease);
        return ttl.ok() && ttl->ttl == -1;
      },
      kSettle))
      << "the old lease on the second etcd is still there";
  // Nothing uses the second etcd any more: its connection is closed.
  EXPECT_THAT(c->WaitForLog("closed: no registration uses it", kSettle), IsOk());

  DeleteAll({"a"});
  EXPECT_THAT(inspect().Leases(), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_THAT(inspect_secure().Leases(), IsOkAndHolds(::testing::IsEmpty()));
}

TEST_F(KubeTargetsTest, RestartAdoptsOnBothTargetsWithoutADelete) {
  ASSERT_THAT(CreateCredentials(1), IsOk());
  ASSERT_THAT(CreateTls(), IsOk());
  ASSERT_THAT(Apply(Sreg("a", ns(), SecureSpec())), IsOk());
  ASSERT_THAT(Apply(Sreg("own", ns(),
                         absl::StrCat("    key: ", key(), "\n    value: \"10.0.0.3:1\"\n",
                                      "    id: 2\n    ttlSeconds: ", kTtl, "\n"))),
              IsOk());
  auto c = StartReady();
  ASSERT_NE(c, nullptr);
  auto a = WaitForObject("a", IsReady, kSettle);
  auto own = WaitForObject("own", IsReady, kSettle);
  ASSERT_THAT(a, IsOk()) << c->Describe();
  ASSERT_THAT(own, IsOk()) << c->Describe();
  const int64_t lease_a = LeaseOf(*a);
  const int64_t lease_own = LeaseOf(*own);
  auto on_secure = RecordOn(secure(), key() + "/");
  auto on_own = RecordOn(etcd(), key() + "/");
  ASSERT_NE(on_secure, nullptr);
  ASSERT_NE(on_own, nullptr);

  c->Kill();  // no revoke, no goodbye: the next one adopts
  const auto killed = std::chrono::steady_clock::now();
  c = StartReady();
  ASSERT_NE(c, nullptr);
  // Both leases taken over: the one on the controller's etcd at start, the other once its
  // Secrets are read.
  EXPECT_THAT(c->WaitForLog(absl::StrCat("adopted lease ", lease_own), kSettle), IsOk());
  EXPECT_THAT(c->WaitForLog(absl::StrCat("adopted lease ", lease_a), kSettle), IsOk())
      << c->Describe();
  // The same lease still alive more than a TTL after the kill: the new process renews it (the
  // wait is for the TTL to pass; any expiry meanwhile fails the check).
  auto still = WaitForKeyOn(secure(), key() + "/", [&](const StoredKv& kv) {
    auto ttl = inspect_secure().TimeToLive(lease_a);
    return kv.lease == lease_a && ttl.ok() && ttl->ttl > 0 &&
           std::chrono::steady_clock::now() - killed > seconds(kTtl + 1);
  });
  EXPECT_THAT(still, IsOk());
  EXPECT_THAT(Object("a"),
              IsOkAndHolds(::testing::Truly([&](const json& o) { return LeaseOf(o) == lease_a; })));
  EXPECT_THAT(
      Object("own"),
      IsOkAndHolds(::testing::Truly([&](const json& o) { return LeaseOf(o) == lease_own; })));
  EXPECT_THAT(DeletesOf(*on_secure, full_key()), ::testing::IsEmpty());
  EXPECT_THAT(DeletesOf(*on_own, key() + "/2"), ::testing::IsEmpty());
  EXPECT_FALSE(c->LogContains("orphan")) << c->Describe();

  DeleteAll({"a", "own"});
  EXPECT_THAT(inspect().Leases(), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_THAT(inspect_secure().Leases(), IsOkAndHolds(::testing::IsEmpty()));
}

// A restart while the Kubernetes API is down (docs/operations.md, "Restart while the API is
// down", measured here): the API behind a TCP proxy that is cut while the controller is killed
// and restarted. The registration on the controller's own etcd is adopted at start and renewed
// without the API: same lease, no DELETE. The one on the second etcd needs its Secrets, so its
// lease is not renewed: it expires about a TTL after the last renewal before the kill (a DELETE
// on the watched key), and is registered anew (a new lease) once the API answers again.
TEST_F(KubeTargetsTest, RestartWhileTheApiIsDownKeepsTheDefaultTargetAndReRegistersTheOther) {
  auto proxy = TcpProxy::Start(absl::StrCat("127.0.0.1:", plane().port()));
  ASSERT_THAT(proxy, IsOk());
  std::string kubeconfig = ReadText(plane().admin_kubeconfig());
  const std::string server = absl::StrCat("server: https://127.0.0.1:", plane().port());
  ASSERT_TRUE(absl::StrContains(kubeconfig, server)) << kubeconfig;
  absl::StrReplaceAll({{server, "server: https://" + (*proxy)->endpoint()}}, &kubeconfig);
  const std::string proxied = tmp() + "/proxied.kubeconfig";
  std::ofstream(proxied) << kubeconfig;

  ASSERT_THAT(CreateCredentials(1), IsOk());
  ASSERT_THAT(CreateTls(), IsOk());
  ASSERT_THAT(Apply(Sreg("a", ns(), SecureSpec())), IsOk());
  ASSERT_THAT(Apply(Sreg("own", ns(),
                         absl::StrCat("    key: ", key(), "\n    value: \"10.0.0.3:1\"\n",
                                      "    id: 2\n    ttlSeconds: ", kTtl, "\n"))),
              IsOk());
  auto c = StartReady(proxied);
  ASSERT_NE(c, nullptr);
  auto a = WaitForObject("a", IsReady, kSettle);
  auto own = WaitForObject("own", IsReady, kSettle);
  ASSERT_THAT(a, IsOk()) << c->Describe();
  ASSERT_THAT(own, IsOk()) << c->Describe();
  const int64_t lease_a = LeaseOf(*a);
  const int64_t lease_own = LeaseOf(*own);
  auto on_secure = RecordOn(secure(), key() + "/");
  auto on_own = RecordOn(etcd(), key() + "/");
  ASSERT_NE(on_secure, nullptr);
  ASSERT_NE(on_own, nullptr);

  c->Kill();
  const auto killed = std::chrono::steady_clock::now();
  (*proxy)->Cut();  // the API answers nothing, new connections hang
  auto restarted = StartController(Args(proxied));
  ASSERT_NE(restarted, nullptr);
  // The default target's record is adopted at start, without the API.
  EXPECT_THAT(restarted->WaitForLog(absl::StrCat("adoption: 1 ownership record(s) of owner ",
                                                 owner_id(), " kept alive"),
                                    kSettle),
              IsOk())
      << restarted->Describe();

  // The second target's key goes when its lease expires, the API still down.
  ASSERT_TRUE(WaitFor([&] { return !DeletesOf(*on_secure, full_key()).empty(); }, kSettle))
      << restarted->Describe();
  const auto expired = DeletesOf(*on_secure, full_key()).front().seen_at;
  const double expired_after = std::chrono::duration<double>(expired - killed).count();
  EXPECT_LE(expired_after, kTtl + 2.0) << "expired later than a TTL after the kill";
  auto ttl_a = inspect_secure().TimeToLive(lease_a);
  ASSERT_THAT(ttl_a, IsOk());
  EXPECT_EQ(ttl_a->ttl, -1) << "lease " << lease_a << " on the second etcd";
  // The default target's lease, adopted, outlives a TTL after the kill.
  auto kept = WaitForKey(key() + "/2", kSettle, [&](const StoredKv& kv) {
    auto ttl = inspect().TimeToLive(lease_own);
    return kv.lease == lease_own && ttl.ok() && ttl->ttl > 0 &&
           std::chrono::steady_clock::now() - killed > seconds(kTtl + 1);
  });
  EXPECT_THAT(kept, IsOk()) << restarted->Describe();
  EXPECT_FALSE(restarted->Ready()) << "ready before the first list";

  (*proxy)->Restore();
  const auto restored = std::chrono::steady_clock::now();
  auto again = WaitForObject(
      "a", [&](const json& o) { return IsReady(o) && LeaseOf(o) != lease_a; }, kSettle);
  ASSERT_THAT(again, IsOk()) << restarted->Describe();
  auto kv = WaitForKeyOn(secure(), key() + "/",
                         [&](const StoredKv& s) { return s.lease == LeaseOf(*again); });
  ASSERT_THAT(kv, IsOk());
  const double back_after =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - restored).count();
  EXPECT_EQ(kv->key, full_key());
  // The registration on the default target takes its adopted lease over once listed.
  EXPECT_THAT(restarted->WaitForLog(absl::StrCat("adopted lease ", lease_own), kSettle), IsOk());
  EXPECT_THAT(
      Object("own"),
      IsOkAndHolds(::testing::Truly([&](const json& o) { return LeaseOf(o) == lease_own; })));
  EXPECT_THAT(DeletesOf(*on_own, key() + "/2"), ::testing::IsEmpty());
  std::cerr << "measured: second target's key deleted " << expired_after
            << " s after the kill (TTL " << kTtl << " s); Ready on a new lease " << back_after
            << " s after the API came back\n";
  RecordProperty("expired_after_kill_ms", static_cast<int>(expired_after * 1000));
  RecordProperty("ready_after_api_back_ms", static_cast<int>(back_after * 1000));

  DeleteAll({"a", "own"});
  EXPECT_THAT(inspect().Leases(), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_THAT(inspect_secure().Leases(), IsOkAndHolds(::testing::IsEmpty()));
}

}  // namespace
}  // namespace registrar::testing
