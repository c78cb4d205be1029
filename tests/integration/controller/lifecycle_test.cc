// The controller's lifecycle through manifest files, and across its own restarts (issue 4,
// DESIGN.md §2–§3): create / edit / pause / resume / id / delete with make-before-break proven by a
// watch; SIGKILL + restart without a DELETE and with the same leases (also with one worker and
// many registrations, where the first sync completes long before the worker has reached them
// all); a manifest deleted while the controller was down is revoked after restart; a broken
// folder at start revokes nothing; SIGTERM stops within 30 s without revoking; many files removed
// at once, at every stage of their registration, leave nothing listed or held (issue 12).
// Every registration's id ("<namespace>/<name>") is longer than 15 bytes, past std::string's
// inline buffer: EngineImpl::Erase's use-after-free (fixed 2 December 2026) only showed with such
// ids, and the sanitizer build runs this suite.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/controller/controller_harness.h"
#include "tests/testing/status_matchers.h"

namespace registrar::testing {
namespace {

using ::testing::Contains;

constexpr auto kSoon = std::chrono::seconds(5);
// A revoke removes key and lease together; an expiry would leave the lease up to a TTL longer.
constexpr auto kRevoked = std::chrono::seconds(1);
// Longer than a TTL: a lease nobody renews has expired by then.
constexpr auto kPastTtl = std::chrono::milliseconds(kTtl * 1000 + 1500);

class LifecycleTest : public ControllerTest {};

TEST_F(LifecycleTest, FullLifecycleThroughFilesMakesBeforeBreaking) {
  auto controller = StartController();
  ASSERT_NE(controller, nullptr);
  WaitReady(*controller);
  auto recorder = Record();
  ASSERT_NE(recorder, nullptr);

  // Create.
  TimePoint saved = Now();
  Write("user.yaml", Manifest({.name = "user-rpc",
                               .namespace_ = "default",
                               .key = "user.rpc",
                               .value = "10.0.0.12:8081"}));
  auto created = WaitForKey("user.rpc/", kSoon);
  ASSERT_THAT(created, IsOk()) << controller->Describe();
  ReportMeasurement("file saved -> key visible", SecondsSince(saved));
  const int64_t lease = created->lease;
  ASSERT_NE(lease, 0);
  EXPECT_EQ(created->key, absl::StrCat("user.rpc/", lease));  // go-zero: key/<leaseID decimal>
  EXPECT_EQ(created->value, "10.0.0.12:8081");
  auto record = WaitForKey(RecordKey(created->key), kSoon);
  ASSERT_THAT(record, IsOk());
  EXPECT_EQ(record->lease, lease);
  nlohmann::json record_json = nlohmann::json::parse(record->value, nullptr, false);
  ASSERT_TRUE(record_json.is_object()) << record->value;
  EXPECT_EQ(record_json.value("namespace", ""), "default");
  EXPECT_EQ(record_json.value("name", ""), "user-rpc");
  EXPECT_EQ(record_json.value("value", ""), "10.0.0.12:8081");

  // Edit the value: a put on the same key and lease, nothing deleted.
  saved = Now();
  Write("user.yaml", Manifest({.name = "user-rpc",
                               .namespace_ = "default",
                               .key = "user.rpc",
                               .value = "10.0.0.13:8081"}));
  auto edited = WaitForKey("user.rpc/", kSoon,
                           [](const StoredKv& kv) { return kv.value == "10.0.0.13:8081"; });
  ASSERT_THAT(edited, IsOk()) << controller->Describe();
  ReportMeasurement("value edited -> new value visible", SecondsSince(saved));
  EXPECT_EQ(edited->key, created->key);
  EXPECT_EQ(edited->lease, lease);
  EXPECT_EQ(recorder->CountDeletes(), 0) << DescribeEvents(*recorder);

  // Edit the key: the new key is live (same lease) before the old one is deleted.
  Write("user.yaml", Manifest({.name = "user-rpc",
                               .namespace_ = "default",
                               .key = "user2.rpc",
                               .value = "10.0.0.13:8081"}));
  auto moved = WaitForKey("user2.rpc/", kSoon);
  ASSERT_THAT(moved, IsOk()) << controller->Describe();
  EXPECT_EQ(moved->lease, lease);
  EXPECT_EQ(moved->key, absl::StrCat("user2.rpc/", lease));
  EXPECT_EQ(moved->value, "10.0.0.13:8081");
  ASSERT_THAT(WaitForNoKey("user.rpc/", kSoon), IsOk());
  {
    auto puts = EventsUnder(*recorder, moved->key, WatchEvent::Type::kPut);
    auto deletes = EventsUnder(*recorder, created->key, WatchEvent::Type::kDelete);
    ASSERT_FALSE(puts.empty()) << DescribeEvents(*recorder);
    ASSERT_EQ(deletes.size(), 1u) << DescribeEvents(*recorder);
    EXPECT_LE(puts.front().mod_revision, deletes.front().mod_revision)
        << "the old key went before the new one was live:\n"
        << DescribeEvents(*recorder);
  }
  EXPECT_THAT(WaitForKey(RecordKey(moved->key), kSoon), IsOk());
  EXPECT_THAT(WaitForNoKey(RecordKey(created->key), kSoon), IsOk());

  // Pause: the key goes and the lease is revoked.
  Write("user.yaml", Manifest({.name = "user-rpc",
                               .namespace_ = "default",
                               .key = "user2.rpc",
                               .value = "10.0.0.13:8081",
                               .paused = true}));
  ASSERT_THAT(WaitForNoKey("user2.rpc/", kSoon), IsOk()) << controller->Describe();
  // Revoked, not left to expire (that would take up to a TTL): gone with its key.
  EXPECT_THAT(WaitForLeaseGone(lease, kRevoked), IsOk());
  EXPECT_THAT(WaitForNoKey(std::string(kOwnerPrefix), kSoon), IsOk());
  EXPECT_THAT(WaitForRegistration("default", "user-rpc", "Paused", kSoon), IsOk());

  // Resume: registered anew under a new lease.
  Write("user.yaml", Manifest({.name = "user-rpc",
                               .namespace_ = "default",
                               .key = "user2.rpc",
                               .value = "10.0.0.13:8081"}));
  auto resumed = WaitForKey("user2.rpc/", kSoon);
  ASSERT_THAT(resumed, IsOk()) << controller->Describe();
  EXPECT_NE(resumed->lease, lease);
  EXPECT_EQ(resumed->key, absl::StrCat("user2.rpc/", resumed->lease));
  const int64_t lease2 = resumed->lease;

  // id mode: key/<id> on the same lease, the key/<leaseID> form deleted.
  Write("user.yaml", Manifest({.name = "user-rpc",
                               .namespace_ = "default",
                               .key = "user2.rpc",
                               .value = "10.0.0.13:8081",
                               .id = 7}));
  auto with_id =
      WaitForKey("user2.rpc/", kSoon, [](const StoredKv& kv) { return kv.key == "user2.rpc/7"; });
  ASSERT_THAT(with_id, IsOk()) << controller->Describe();
  EXPECT_EQ(with_id->lease, lease2);
  EXPECT_EQ(with_id->value, "10.0.0.13:8081");
  {
    auto puts = EventsUnder(*recorder, "user2.rpc/7", WatchEvent::Type::kPut);
    auto deletes = EventsUnder(*recorder, resumed->key, WatchEvent::Type::kDelete);
    ASSERT_FALSE(puts.empty()) << DescribeEvents(*recorder);
    ASSERT_EQ(deletes.size(), 1u) << DescribeEvents(*recorder);
    EXPECT_LE(puts.front().mod_revision, deletes.front().mod_revision) << DescribeEvents(*recorder);
  }
  auto status = WaitForRegistration(
      "default", "user-rpc", "Registered", kSoon,
      [](const nlohmann::json& r) { return r.value("fullKey", "") == "user2.rpc/7"; });
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ((*status)["leaseID"], std::to_string(lease2));
  EXPECT_EQ((*status)["value"], "10.0.0.13:8081");

  // Delete the file: revoked.
  saved = Now();
  Remove("user.yaml");
  ASSERT_THAT(WaitForNoKey("user2.rpc/", kSoon), IsOk()) << controller->Describe();
  ReportMeasurement("file deleted -> key gone", SecondsSince(saved));
  EXPECT_THAT(WaitForLeaseGone(lease2, kRevoked), IsOk());
  EXPECT_THAT(WaitForNoKey(std::string(kOwnerPrefix), kSoon), IsOk());
  EXPECT_THAT(recorder->status(), IsOk());
}

TEST_F(LifecycleTest, SigkillAndRestartKeepsKeysAndLeases) {
  Write("user.yaml", Manifest({.name = "user-rpc", .key = "user.rpc", .value = "10.0.0.12:8081"}));
  Write("shop/order.yaml", Manifest({.name = "order-rpc-1",
                                     .namespace_ = "shop",
                                     .key = "order.rpc",
                                     .value = "10.0.0.21:9090",
                                     .id = 1}));
  auto first = StartController();
  ASSERT_NE(first, nullptr);
  auto user = WaitForKey("user.rpc/", kSoon);
  auto order = WaitForKey("order.rpc/", kSoon);
  ASSERT_THAT(user, IsOk()) << first->Describe();
  ASSERT_THAT(order, IsOk()) << first->Describe();
  EXPECT_EQ(order->key, "order.rpc/1");

  auto recorder = Record();
  ASSERT_NE(recorder, nullptr);
  const TimePoint killed = Now();
  ASSERT_THAT(first->Signal(SIGKILL), IsOk());
  first->Wait(std::chrono::seconds(5));

  auto second = StartController();
  ASSERT_NE(second, nullptr);
  WaitReady(*second);
  for (const auto& [name, kv] : {std::pair{"user-rpc", *user}, std::pair{"order-rpc-1", *order}}) {
    const std::string ns = std::string(name) == "user-rpc" ? "default" : "shop";
    auto r = WaitForRegistration(ns, name, "Registered", kSoon);
    ASSERT_THAT(r, IsOk()) << second->Describe();
    EXPECT_EQ((*r)["leaseID"], std::to_string(kv.lease)) << name << ": not adopted";
    EXPECT_EQ((*r)["fullKey"], kv.key);
  }
  ReportMeasurement("SIGKILL -> restarted controller Registered (adopted)", SecondsSince(killed));
  // Well past one TTL after the kill: the adopted leases are kept alive by the new process.
  std::this_thread::sleep_until(killed + kPastTtl);
  EXPECT_THAT(
      WaitForKey("user.rpc/", kSoon, [&](const StoredKv& kv) { return kv.lease == user->lease; }),
      IsOk());
  EXPECT_THAT(
      WaitForKey("order.rpc/", kSoon, [&](const StoredKv& kv) { return kv.lease == order->lease; }),
      IsOk());
  EXPECT_EQ(recorder->CountDeletes(), 0) << DescribeEvents(*recorder);
  EXPECT_THAT(recorder->status(), IsOk());
}

// The first-sync handshake with one worker: the engine learns every listed id at once, while
// the single worker reaches them one after another. No adopted record of a listed id may be
// revoked before the worker has handed it over (issue 9).
TEST_F(LifecycleTest, RestartWithOneWorkerAdoptsEveryListedRegistrationWithoutARevoke) {
  constexpr int kCount = 20;
  for (int i = 0; i < kCount; ++i) {
    Write(absl::StrCat("svc-", i, ".yaml"),
          Manifest({.name = absl::StrCat("one-worker-registration-", i),
                    .key = absl::StrCat("svc-", i, ".rpc"),
                    .value = absl::StrCat("10.0.1.", i, ":80")}));
  }
  auto first = StartController();
  ASSERT_NE(first, nullptr);
  std::map<std::string, int64_t> leases;  // key -> lease
  ASSERT_THAT(WaitUntil(
                  [&](std::string* why) {
                    auto kvs = GetAll("svc-");
                    if (!kvs.ok()) {
                      *why = std::string(kvs.status().message());
                      return false;
                    }
                    *why = absl::StrCat(kvs->size(), " of ", kCount, " keys");
                    leases.clear();
                    for (const StoredKv& kv : *kvs) {
                      leases[kv.key] = kv.lease;
                    }
                    return static_cast<int>(kvs->size()) == kCount;
                  },
                  std::chrono::seconds(15)),
              IsOk())
      << first->Describe();
  ASSERT_THAT(first->Signal(SIGKILL), IsOk());
  first->Wait(std::chrono::seconds(5));

  auto recorder = Record();
  ASSERT_NE(recorder, nullptr);
  auto second = StartController({"--workers", "1"});
  ASSERT_NE(second, nullptr);
  // Every registration Registered on the lease it had: each was adopted, none re-granted.
  std::string last;
  ASSERT_THAT(WaitUntil(
                  [&](std::string* why) {
                    auto doc = Registrations();
                    if (!doc.ok()) {
                      *why = std::string(doc.status().message());
                      return false;
                    }
                    int adopted = 0;
                    for (const auto& r : (*doc)["registrations"]) {
                      auto it = leases.find(r.value("fullKey", ""));
                      if (r.value("phase", "") == "Registered" && it != leases.end() &&
                          r.value("leaseID", "") == std::to_string(it->second)) {
                        ++adopted;
                      }
                    }
                    *why = absl::StrCat(adopted, " of ", kCount, " adopted: ", doc->dump());
                    return adopted == kCount;
                  },
                  std::chrono::seconds(15)),
              IsOk())
      << second->Describe();
  EXPECT_EQ(recorder->CountDeletes(), 0) << DescribeEvents(*recorder);
  auto now = GetAll("svc-");
  ASSERT_THAT(now, IsOk());
  ASSERT_EQ(now->size(), static_cast<size_t>(kCount)) << Describe(*now);
  for (const StoredKv& kv : *now) {
    EXPECT_EQ(kv.lease, leases[kv.key]) << kv.key;
  }
  EXPECT_THAT(recorder->status(), IsOk());
}

TEST_F(LifecycleTest, ManifestDeletedWhileStoppedIsRevokedAfterRestart) {
  Write("keep.yaml",
        Manifest({.name = "keep-registration", .key = "keep.rpc", .value = "10.0.0.1:1"}));
  // A long TTL: its disappearance within seconds can only be a revoke, not an expiry.
  Write(
      "gone.yaml",
      Manifest({.name = "gone-registration", .key = "gone.rpc", .value = "10.0.0.2:2", .ttl = 60}));
  auto first = StartController();
  ASSERT_NE(first, nullptr);
  auto keep = WaitForKey("keep.rpc/", kSoon);
  auto gone = WaitForKey("gone.rpc/", kSoon);
  ASSERT_THAT(keep, IsOk()) << first->Describe();
  ASSERT_THAT(gone, IsOk()) << first->Describe();
  ASSERT_THAT(first->Signal(SIGKILL), IsOk());
  first->Wait(std::chrono::seconds(5));

  Remove("gone.yaml");
  const TimePoint restarted = Now();
  auto second = StartController();
  ASSERT_NE(second, nullptr);
  ASSERT_THAT(WaitForNoKey("gone.rpc/", std::chrono::seconds(10)), IsOk()) << second->Describe();
  ReportMeasurement("restart -> orphan revoked", SecondsSince(restarted));
  EXPECT_THAT(WaitForLeaseGone(gone->lease, kSoon), IsOk());
  EXPECT_THAT(WaitForNoKey(RecordKey(gone->key), kSoon), IsOk());
  // The declared one is adopted, not re-granted.
  auto r = WaitForRegistration("default", "keep-registration", "Registered", kSoon);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ((*r)["leaseID"], std::to_string(keep->lease));
  EXPECT_THAT(
      WaitForKey("keep.rpc/", kSoon, [&](const StoredKv& kv) { return kv.lease == keep->lease; }),
      IsOk());
}

// Runs the controller as an unprivileged user (root reads any folder, whatever its mode).
const std::vector<std::string> kAsNobody = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                            "--clear-groups"};

TEST_F(LifecycleTest, UnreadableFolderAtStartRevokesNothingAndConvergesLater) {
  ASSERT_EQ(chmod(root().c_str(), 0755), 0);
  Write("user.yaml", Manifest({.name = "user-rpc", .key = "user.rpc", .value = "10.0.0.12:8081"}));
  auto first = StartController({}, kAsNobody);
  ASSERT_NE(first, nullptr);
  auto user = WaitForKey("user.rpc/", kSoon);
  ASSERT_THAT(user, IsOk()) << first->Describe();
  ASSERT_THAT(first->Signal(SIGKILL), IsOk());
  first->Wait(std::chrono::seconds(5));
  const TimePoint killed = Now();

  ASSERT_EQ(chmod(dir().c_str(), 0), 0);  // unreadable for the controller's user
  auto recorder = Record();
  ASSERT_NE(recorder, nullptr);
  auto second = StartController({}, kAsNobody);
  ASSERT_NE(second, nullptr);
  // Not synced: not ready, the problem is reported, and nothing is revoked.
  EXPECT_THAT(WaitUntil(
                  [&](std::string* why) {
                    auto doc = Registrations();
                    *why = doc.ok() ? doc->dump() : std::string(doc.status().message());
                    return doc.ok() && (*doc)["sourceErrors"].contains(dir());
                  },
                  kSoon),
              IsOk())
      << second->Describe();
  HttpReply ready = Get("/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  std::this_thread::sleep_until(killed + kPastTtl);
  EXPECT_TRUE(second->Running()) << second->Describe();
  auto still = WaitForKey("user.rpc/", std::chrono::seconds(1));
  ASSERT_THAT(still, IsOk()) << "revoked or expired while the folder was unreadable\n"
                             << second->Describe();
  EXPECT_EQ(still->lease, user->lease);
  EXPECT_EQ(recorder->CountDeletes(), 0) << DescribeEvents(*recorder);

  // The folder comes back: the registration converges on the adopted lease.
  const TimePoint fixed = Now();
  ASSERT_EQ(chmod(dir().c_str(), 0755), 0);
  auto r = WaitForRegistration("default", "user-rpc", "Registered", kSoon);
  ASSERT_THAT(r, IsOk()) << second->Describe();
  ReportMeasurement("folder readable again -> Registered", SecondsSince(fixed));
  EXPECT_EQ((*r)["leaseID"], std::to_string(user->lease));
  WaitReady(*second);
  EXPECT_EQ(recorder->CountDeletes(), 0) << DescribeEvents(*recorder);
}

TEST_F(LifecycleTest, MissingFolderAtStartRevokesNothingAndConvergesLater) {
  Write("user.yaml", Manifest({.name = "user-rpc", .key = "user.rpc", .value = "10.0.0.12:8081"}));
  auto first = StartController();
  ASSERT_NE(first, nullptr);
  auto user = WaitForKey("user.rpc/", kSoon);
  ASSERT_THAT(user, IsOk()) << first->Describe();
  ASSERT_THAT(first->Signal(SIGKILL), IsOk());
  first->Wait(std::chrono::seconds(5));
  const TimePoint killed = Now();

  // The folder is not there when the controller starts (e.g. a volume not mounted yet).
  const std::string away = root() + "/away";
  std::filesystem::rename(dir(), away);
  auto recorder = Record();
  ASSERT_NE(recorder, nullptr);
  auto second = StartController();
  ASSERT_NE(second, nullptr);
  std::this_thread::sleep_until(killed + kPastTtl);
  ASSERT_TRUE(second->Running()) << "the controller must wait for its folder, adopting meanwhile\n"
                                 << second->Describe();
  HttpReply ready = Get("/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  auto still = WaitForKey("user.rpc/", std::chrono::seconds(1));
  ASSERT_THAT(still, IsOk()) << second->Describe();
  EXPECT_EQ(still->lease, user->lease);

  std::filesystem::rename(away, dir());
  auto r = WaitForRegistration("default", "user-rpc", "Registered", kSoon);
  ASSERT_THAT(r, IsOk()) << second->Describe();
  EXPECT_EQ((*r)["leaseID"], std::to_string(user->lease));
  EXPECT_EQ(recorder->CountDeletes(), 0) << DescribeEvents(*recorder);
}

TEST_F(LifecycleTest, SigtermStopsWithoutRevokingAndTheNextControllerAdopts) {
  Write("user.yaml", Manifest({.name = "user-rpc", .key = "user.rpc", .value = "10.0.0.12:8081"}));
  auto first = StartController();
  ASSERT_NE(first, nullptr);
  auto user = WaitForKey("user.rpc/", kSoon);
  ASSERT_THAT(user, IsOk()) << first->Describe();
  ASSERT_THAT(WaitForRegistration("default", "user-rpc", "Registered", kSoon), IsOk());
  auto recorder = Record();
  ASSERT_NE(recorder, nullptr);

  const TimePoint stopping = Now();
  ASSERT_THAT(first->Signal(SIGTERM), IsOk());
  std::optional<int> code = first->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << "still running 30 s after SIGTERM\n" << first->Describe();
  EXPECT_EQ(*code, 0) << first->Describe();
  ReportMeasurement("SIGTERM -> exit", SecondsSince(stopping));
  auto still = WaitForKey("user.rpc/", std::chrono::seconds(1));
  ASSERT_THAT(still, IsOk());
  EXPECT_EQ(still->lease, user->lease);
  EXPECT_THAT(Leases().value_or(std::vector<int64_t>{}), Contains(user->lease));

  auto second = StartController();
  ASSERT_NE(second, nullptr);
  auto r = WaitForRegistration("default", "user-rpc", "Registered", kSoon);
  ASSERT_THAT(r, IsOk()) << second->Describe();
  EXPECT_EQ((*r)["leaseID"], std::to_string(user->lease));
  std::this_thread::sleep_until(stopping + kPastTtl);
  EXPECT_THAT(WaitForKey("user.rpc/", std::chrono::seconds(1),
                         [&](const StoredKv& kv) { return kv.lease == user->lease; }),
              IsOk());
  EXPECT_EQ(recorder->CountDeletes(), 0) << DescribeEvents(*recorder);
}

// Issue 12: once, after 17 files were removed at once, three entries stayed Terminating on
// /registrations although their leases were gone. Each round writes 17 files (3 registrations
// each, one key prefix per file) and removes them all at once after a different delay: before the
// source saw them, while grants and batched puts are in flight, while some are Registered, after
// all are. Every round must end with nothing listed, and then no key left: an entry leaves the
// list only after its revoke, which deletes the key with the lease.
TEST_F(LifecycleTest, ManyFilesRemovedAtOnceLeaveNothingListedOrHeld) {
  auto controller = StartController();
  ASSERT_NE(controller, nullptr);
  WaitReady(*controller);
  const std::vector<int> delays_ms = {0, 300, 450, 700, 1200, 3000};
  constexpr int kFiles = 17;
  for (int round = 0; round < 12; ++round) {
    for (int f = 0; f < kFiles; ++f) {
      std::string content;
      for (int i = 0; i < 3; ++i) {
        absl::StrAppend(&content, "---\n",
                        Manifest({.name = absl::StrCat("removed-at-once-", f, "-", i),
                                  .key = absl::StrCat("stress", f, ".rpc"),
                                  .value = absl::StrCat("10.0.", f, ".", i, ":80")}));
      }
      Write(absl::StrCat("f", f, ".yaml"), content);
    }
    const int delay_ms = delays_ms[round % delays_ms.size()];
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    for (int f = 0; f < kFiles; ++f) {
      Remove(absl::StrCat("f", f, ".yaml"));
    }
    const TimePoint removed = Now();
    ASSERT_THAT(WaitUntil(
                    [&](std::string* why) {
                      auto doc = Registrations();
                      if (!doc.ok()) {
                        *why = doc.status().ToString();
                        return false;
                      }
                      *why = doc->dump(1);
                      return (*doc)["registrations"].empty();
                    },
                    std::chrono::seconds(kTtl + 10)),
                IsOk())
        << "round " << round << ", removed after " << delay_ms << " ms\n"
        << controller->Describe();
    ReportMeasurement(absl::StrCat("round ", round, ": removal -> nothing listed"),
                      SecondsSince(removed));
    ASSERT_THAT(WaitForNoKey("stress", kRevoked), IsOk()) << "round " << round;
  }
  EXPECT_THAT(WaitUntil(
                  [&](std::string* why) {
                    auto leases = Leases();
                    *why = leases.ok() ? absl::StrCat(leases->size(), " lease(s) left")
                                       : leases.status().ToString();
                    return leases.ok() && leases->empty();
                  },
                  kRevoked),
              IsOk());
}

}  // namespace
}  // namespace registrar::testing
