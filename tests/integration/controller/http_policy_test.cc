// The controller's HTTP endpoints (DESIGN.md §3: /healthz, /readyz, /metrics, /registrations),
// the --policy file (KeyNotAllowed, never written to etcd) and --dry-run (nothing written).
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/fixtures/tcp_proxy.h"
#include "tests/integration/controller/controller_harness.h"
#include "tests/testing/status_matchers.h"

namespace registrar::testing {
namespace {

using ::testing::HasSubstr;

constexpr auto kSoon = std::chrono::seconds(5);

class HttpTest : public ControllerTest {
 protected:
  // Waits until GET /readyz answers `status`; the error names the last answer.
  absl::Status WaitForReadyz(int status, std::chrono::seconds timeout) {
    return WaitUntil(
        [&](std::string* why) {
          HttpReply reply = Get("/readyz");
          *why = absl::StrCat(reply.status, " ", reply.body);
          return reply.status == status;
        },
        timeout);
  }
  void ExpectMetric(const std::string& series, double expected) {
    absl::StatusOr<double> value = MetricValue(series);
    ASSERT_THAT(value, IsOk());
    EXPECT_EQ(*value, expected) << series;
  }
};

// The sum of every series of metric `name` (any labels) in a Prometheus text body; nullopt when
// the metric has no series.
std::optional<double> SumOf(const std::string& body, const std::string& name) {
  std::optional<double> sum;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (!absl::StartsWith(line, name + "{") && !absl::StartsWith(line, name + " ")) {
      continue;
    }
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
      sum = sum.value_or(0) + value;
    }
  }
  return sum;
}

TEST_F(HttpTest, ReadyzWaitsForEtcdWhileHealthzDoesNot) {
  auto proxy = TcpProxy::Start(etcd().endpoint());
  ASSERT_THAT(proxy, IsOk());
  (*proxy)->Cut();  // etcd unreachable (a silent partition) from the start
  Write("user.yaml", Manifest({.name = "user-rpc", .key = "user.rpc", .value = "10.0.0.12:8081"}));
  std::vector<std::string> args = ControllerArgs();
  args[3] = (*proxy)->endpoint();  // --etcd-endpoints
  auto controller = StartRegistrar(args);
  ASSERT_NE(controller, nullptr);

  ASSERT_THAT(WaitUntil([&](std::string*) { return Get("/healthz").status == 200; }, kSoon), IsOk())
      << controller->Describe();
  // The folder is read, etcd is not reachable: not ready, and the reply says why.
  ASSERT_THAT(WaitUntil(
                  [&](std::string* why) {
                    auto doc = Registrations();
                    *why = doc.ok() ? doc->dump() : std::string(doc.status().message());
                    return doc.ok() && Find(*doc, "default", "user-rpc").has_value();
                  },
                  kSoon),
              IsOk());
  HttpReply ready = Get("/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.body, HasSubstr("etcd"));
  EXPECT_EQ(Get("/healthz").status, 200);
  auto doc = Registrations();
  ASSERT_THAT(doc, IsOk());
  auto r = Find(*doc, "default", "user-rpc");
  ASSERT_TRUE(r.has_value());
  EXPECT_NE((*r)["phase"], "Registered");

  const TimePoint restored = Now();
  (*proxy)->Restore();
  ASSERT_THAT(WaitForReadyz(200, std::chrono::seconds(10)), IsOk()) << controller->Describe();
  ReportMeasurement("etcd reachable -> /readyz 200", SecondsSince(restored));
  EXPECT_THAT(WaitForKey("user.rpc/", kSoon), IsOk());
}

// While the keep-alive stream holds a lease and answers, the engine makes no Status call and its
// probe ticks rarely (engine_events.cc, kQuietProbeInterval); a broken stream must still turn
// /readyz to 503 at once and back to 200 within a couple of probe intervals (2 s) once etcd answers
// again, not at the quiet tick.
TEST_F(HttpTest, ReadyzFollowsABrokenAndRestoredKeepAliveStream) {
  auto proxy = TcpProxy::Start(etcd().endpoint());
  ASSERT_THAT(proxy, IsOk());
  Write("user.yaml", Manifest({.name = "user-rpc", .key = "user.rpc", .value = "10.0.0.12:8081"}));
  std::vector<std::string> args = ControllerArgs();
  args[3] = (*proxy)->endpoint();  // --etcd-endpoints
  auto controller = StartRegistrar(args);
  ASSERT_NE(controller, nullptr);
  ASSERT_THAT(WaitForRegistration("default", "user-rpc", "Registered", kSoon), IsOk())
      << controller->Describe();
  ASSERT_THAT(WaitForReadyz(200, kSoon), IsOk());
  // Past a probe tick with the lease held, so the probe is on its quiet chain.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ASSERT_EQ(Get("/readyz").status, 200);

  (*proxy)->Cut();
  (*proxy)->DropAll();  // the stream breaks; reconnects go nowhere
  ASSERT_THAT(WaitForReadyz(503, std::chrono::seconds(3)), IsOk()) << controller->Describe();

  const TimePoint restored = Now();
  (*proxy)->Restore();
  ASSERT_THAT(WaitForReadyz(200, std::chrono::seconds(6)), IsOk()) << controller->Describe();
  ReportMeasurement("etcd answers again -> /readyz 200", SecondsSince(restored));
  EXPECT_THAT(WaitForKey("user.rpc/", kSoon), IsOk());
}

TEST_F(HttpTest, MetricsAndRegistrationsMatchEtcd) {
  Write("a.yaml", Manifest({.name = "a", .key = "a.rpc", .value = "10.0.0.1:1"}));
  Write("b.yaml",
        Manifest(
            {.name = "b", .namespace_ = "shop", .key = "b.rpc", .value = "10.0.0.2:2", .id = 3}));
  Write("c.yaml", Manifest({.name = "c", .key = "c.rpc", .value = "10.0.0.3:3"}));
  Write("p.yaml", Manifest({.name = "p", .key = "p.rpc", .value = "10.0.0.4:4", .paused = true}));
  auto controller = StartController();
  ASSERT_NE(controller, nullptr);
  for (const auto& [ns, name] : std::vector<std::pair<std::string, std::string>>{
           {"default", "a"}, {"shop", "b"}, {"default", "c"}}) {
    ASSERT_THAT(WaitForRegistration(ns, name, "Registered", kSoon), IsOk())
        << controller->Describe();
  }
  ASSERT_THAT(WaitForRegistration("default", "p", "Paused", kSoon), IsOk());

  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/readyz").status, 200);
  // Every registered lease is renewed within a TTL (about every third of it).
  ASSERT_THAT(WaitUntil(
                  [&](std::string* why) {
                    auto doc = Registrations();
                    if (!doc.ok()) {
                      return false;
                    }
                    *why = doc->dump();
                    for (const nlohmann::json& r : (*doc)["registrations"]) {
                      if (r.value("phase", "") == "Registered" && !r["lastRenewal"].is_string()) {
                        return false;
                      }
                    }
                    return true;
                  },
                  std::chrono::seconds(kTtl)),
              IsOk());

  // /registrations agrees with etcd, field by field.
  auto doc = Registrations();
  ASSERT_THAT(doc, IsOk());
  EXPECT_TRUE((*doc)["sourceErrors"].is_object() && (*doc)["sourceErrors"].empty()) << doc->dump();
  auto kvs = GetAll("");
  ASSERT_THAT(kvs, IsOk());
  std::map<std::string, StoredKv> by_key;
  for (const StoredKv& kv : *kvs) {
    by_key[kv.key] = kv;
  }
  int registered = 0;
  for (const nlohmann::json& r : (*doc)["registrations"]) {
    for (const char* field :
         {"namespace", "name", "key", "fullKey", "leaseID", "value", "grantedTTL", "paused",
          "phase", "reason", "lastError", "lastRenewal"}) {
      EXPECT_TRUE(r.contains(field)) << field << " missing in " << r.dump();
    }
    if (r.value("phase", "") != "Registered") {
      EXPECT_EQ(r["name"], "p");
      EXPECT_EQ(r["paused"], true);
      EXPECT_THAT(WaitForNoKey("p.rpc/", std::chrono::seconds(0)), IsOk());
      continue;
    }
    ++registered;
    const std::string full_key = r["fullKey"];
    ASSERT_TRUE(by_key.count(full_key)) << full_key << " is not in etcd";
    const StoredKv& kv = by_key[full_key];
    EXPECT_EQ(r["leaseID"], std::to_string(kv.lease));
    EXPECT_EQ(r["value"], kv.value);
    EXPECT_EQ(r["grantedTTL"], kTtl);
    EXPECT_EQ(r["reason"], "Registered");
    EXPECT_EQ(r["lastError"], "");
    EXPECT_THAT(r["lastRenewal"].get<std::string>(),
                ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"));
    EXPECT_TRUE(by_key.count(RecordKey(full_key))) << "no ownership record for " << full_key;
  }
  EXPECT_EQ(registered, 3);
  EXPECT_EQ(by_key.count("b.rpc/3"), 1u);

  // /metrics.
  HttpReply metrics = Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_GT(SumOf(metrics.body, "controller_runtime_reconcile_total").value_or(0), 0)
      << metrics.body;
  EXPECT_TRUE(SumOf(metrics.body, "workqueue_depth").has_value()) << metrics.body;
  ExpectMetric("etcd_registrar_registrations{phase=\"Registered\"}", 3);
  ExpectMetric("etcd_registrar_registrations{phase=\"Paused\"}", 1);

  // The count follows a change.
  Remove("c.yaml");
  ASSERT_THAT(WaitForNoKey("c.rpc/", kSoon), IsOk());
  EXPECT_THAT(WaitUntil(
                  [&](std::string* why) {
                    auto value = MetricValue("etcd_registrar_registrations{phase=\"Registered\"}");
                    *why =
                        value.ok() ? absl::StrCat(*value) : std::string(value.status().message());
                    return value.ok() && *value == 2;
                  },
                  kSoon),
              IsOk());
}

TEST_F(HttpTest, PolicyDeniedKeyIsFailedAndNeverWritten) {
  const std::string policy = root() + "/policy.yaml";
  {
    std::ofstream out(policy);
    out << "rules:\n"
           "- namespaces: [\"shop\"]\n"
           "  keys: [\"order.*\"]\n"
           "- namespaces: [\"*\"]\n"
           "  keys: [\"*\"]\n";
  }
  auto recorder = Record();
  ASSERT_NE(recorder, nullptr);
  Write(
      "allowed.yaml",
      Manifest(
          {.name = "order", .namespace_ = "shop", .key = "order.rpc", .value = "10.0.0.21:9090"}));
  Write("denied.yaml",
        Manifest(
            {.name = "hijack", .namespace_ = "shop", .key = "user.rpc", .value = "6.6.6.6:8081"}));
  Write(
      "other.yaml",
      Manifest(
          {.name = "user", .namespace_ = "default", .key = "user.rpc", .value = "10.0.0.12:8081"}));
  auto controller = StartController({"--policy", policy});
  ASSERT_NE(controller, nullptr);

  auto denied = WaitForRegistration("shop", "hijack", "Failed", kSoon);
  ASSERT_THAT(denied, IsOk()) << controller->Describe();
  EXPECT_EQ((*denied)["reason"], "KeyNotAllowed");
  EXPECT_THAT((*denied)["lastError"].get<std::string>(), HasSubstr("user.rpc"));
  EXPECT_EQ((*denied)["leaseID"], "");
  ASSERT_THAT(WaitForRegistration("shop", "order", "Registered", kSoon), IsOk());
  auto user = WaitForKey("user.rpc/", kSoon);
  ASSERT_THAT(user, IsOk());
  EXPECT_EQ(user->value, "10.0.0.12:8081");  // the default namespace's, not the hijack
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (const WatchEvent& e : recorder->events()) {
    EXPECT_NE(e.value, "6.6.6.6:8081") << "the denied value reached etcd at " << e.key;
    EXPECT_FALSE(absl::StrContains(e.value, "hijack")) << "record of the denied one: " << e.key;
  }
  // The metric counts it as Failed too.
  ExpectMetric("etcd_registrar_registrations{phase=\"Failed\"}", 1);
}

TEST_F(HttpTest, DryRunWritesNothing) {
  auto recorder = Record();
  ASSERT_NE(recorder, nullptr);
  Write("user.yaml", Manifest({.name = "user-rpc", .key = "user.rpc", .value = "10.0.0.12:8081"}));
  Write("order.yaml",
        Manifest({.name = "order", .key = "order.rpc", .value = "10.0.0.2:1", .id = 1}));
  auto controller = StartController({"--dry-run"});
  ASSERT_NE(controller, nullptr);
  ASSERT_THAT(WaitUntil(
                  [&](std::string* why) {
                    auto doc = Registrations();
                    *why = doc.ok() ? doc->dump() : std::string(doc.status().message());
                    return doc.ok() && (*doc)["registrations"].size() == 2;
                  },
                  kSoon),
              IsOk())
      << controller->Describe();
  // The would-be operations are logged.
  EXPECT_THAT(controller->WaitForOutput("user.rpc", kSoon), IsOk());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(recorder->events().empty()) << DescribeEvents(*recorder);
  auto kvs = GetAll("");
  ASSERT_THAT(kvs, IsOk());
  EXPECT_TRUE(kvs->empty()) << kvs->front().key;
  auto leases = Leases();
  ASSERT_THAT(leases, IsOk());
  EXPECT_TRUE(leases->empty());
  auto doc = Registrations();
  ASSERT_THAT(doc, IsOk());
  for (const nlohmann::json& r : (*doc)["registrations"]) {
    EXPECT_NE(r["phase"], "Registered") << r.dump();
    EXPECT_EQ(r["leaseID"], "") << r.dump();
  }
  EXPECT_TRUE(controller->Running());
}

}  // namespace
}  // namespace registrar::testing
