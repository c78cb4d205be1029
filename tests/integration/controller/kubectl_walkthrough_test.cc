// The kubectl-driven end-to-end of issue 11, as README's first screen tells a person to do it:
// apply the CRD and examples/, `kubectl get sreg` (printer columns), `kubectl describe sreg`
// (events), etcdctl on the key, `kubectl patch ... paused:false`, `kubectl delete`. Assertions are
// on kubectl's printed output and on etcd as etcdctl sees it.
// This binary has a control plane of its own (KubeControlPlane::Shared is per binary), because the
// examples live in the fixed namespaces `default` and `shop`.
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/controller/kube_e2e_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace registrar::testing {
namespace {

using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr auto kWait = seconds(60);

// The whitespace-separated fields of the line of `table` whose first field is `name`.
std::vector<std::string> Row(const std::string& table, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (!fields.empty() && fields.front() == name) {
      return fields;
    }
  }
  return {};
}

class KubectlWalkthroughTest : public KubeE2eTest {};

TEST_F(KubectlWalkthroughTest, ApplyGetDescribePatchDelete) {
  ASSERT_THAT(Kubectl({"create", "namespace", "shop"}), IsOk());
  auto c = StartController({"--kubeconfig", plane().admin_kubeconfig(), "--etcd-endpoints",
                            etcd().endpoint(), "--owner-id", "walkthrough", "--log-level",
                            "debug"});
  ASSERT_NE(c, nullptr);
  ASSERT_THAT(c->WaitReady(kWait), IsOk());

  auto applied = Kubectl({"apply", "-f", SourcePath("examples")});
  ASSERT_THAT(applied, IsOk());
  EXPECT_THAT(*applied, HasSubstr("serviceregistration.registrar.dev/user-rpc created"));
  EXPECT_THAT(*applied, HasSubstr("serviceregistration.registrar.dev/payment-rpc created"));
  ASSERT_THAT(Kubectl({"wait", "--for=condition=Ready", "--timeout=60s", "sreg/user-rpc"}), IsOk())
      << c->Describe();
  ASSERT_THAT(Kubectl({"wait", "--for=jsonpath={.status.phase}=Paused", "--timeout=60s",
                       "sreg/payment-rpc"}),
              IsOk())
      << c->Describe();

  // The printer columns.
  auto table = Kubectl({"get", "sreg"});
  ASSERT_THAT(table, IsOk());
  std::vector<std::string> header = Row(*table, "NAME");
  EXPECT_THAT(header, ElementsAre("NAME", "KEY", "VALUE", "PAUSED", "PHASE", "FULL", "KEY", "AGE"))
      << *table;
  auto user_kv = WaitForKey("user.rpc/", kWait);
  ASSERT_THAT(user_kv, IsOk());
  std::vector<std::string> user = Row(*table, "user-rpc");
  ASSERT_GE(user.size(), 7u) << *table;
  EXPECT_EQ(user[1], "user.rpc");
  EXPECT_EQ(user[2], "10.0.0.12:8081");
  EXPECT_EQ(user[3], "false");
  EXPECT_EQ(user[4], "Registered");
  EXPECT_EQ(user[5], user_kv->key) << "Full Key is the key in etcd";
  std::vector<std::string> payment = Row(*table, "payment-rpc");
  ASSERT_GE(payment.size(), 6u) << *table;
  EXPECT_EQ(payment[3], "true");
  EXPECT_EQ(payment[4], "Paused");
  EXPECT_THAT(inspect().Get("payment.rpc/"), IsOkAndHolds(::testing::IsEmpty()));
  ASSERT_THAT(Kubectl({"wait", "--for=condition=Ready", "--timeout=60s", "-n", "shop",
                       "sreg/order-rpc-1", "sreg/order-rpc-2"}),
              IsOk());
  auto shop = Kubectl({"get", "sreg", "-n", "shop"});
  ASSERT_THAT(shop, IsOk());
  EXPECT_THAT(Row(*shop, "order-rpc-1"), ::testing::Contains("order.rpc/1")) << *shop;
  EXPECT_THAT(Row(*shop, "order-rpc-2"), ::testing::Contains("order.rpc/2")) << *shop;

  // Events in describe.
  auto described = Kubectl({"describe", "sreg", "user-rpc"});
  ASSERT_THAT(described, IsOk());
  EXPECT_THAT(*described, HasSubstr("Events:"));
  EXPECT_THAT(*described, ::testing::ContainsRegex("Normal +Registered"));
  EXPECT_THAT(*described, HasSubstr("Phase:"));

  // etcd as a go-zero client sees it.
  auto got = etcd().Etcdctl({"get", "user.rpc", "--prefix"});
  ASSERT_THAT(got, IsOk());
  EXPECT_THAT(*got, StartsWith(user_kv->key + "\n10.0.0.12:8081"));

  // Unpause payment-rpc.
  auto patched = Kubectl({"patch", "sreg", "payment-rpc", "--type", "merge", "-p",
                          R"({"spec":{"paused":false}})"});
  ASSERT_THAT(patched, IsOk());
  EXPECT_THAT(*patched, HasSubstr("serviceregistration.registrar.dev/payment-rpc patched"));
  ASSERT_THAT(Kubectl({"wait", "--for=condition=Ready", "--timeout=60s", "sreg/payment-rpc"}),
              IsOk())
      << c->Describe();
  auto payment_kv = WaitForKey("payment.rpc/", kWait);
  ASSERT_THAT(payment_kv, IsOk());
  EXPECT_EQ(payment_kv->value, "10.0.0.31:8081");
  auto after = Kubectl({"get", "sreg", "payment-rpc"});
  ASSERT_THAT(after, IsOk());
  std::vector<std::string> row = Row(*after, "payment-rpc");
  ASSERT_GE(row.size(), 7u) << *after;
  EXPECT_EQ(row[3], "false");
  EXPECT_EQ(row[4], "Registered");
  EXPECT_EQ(row[5], payment_kv->key);
  auto payment_described = Kubectl({"describe", "sreg", "payment-rpc"});
  ASSERT_THAT(payment_described, IsOk());
  EXPECT_THAT(*payment_described, ::testing::ContainsRegex("Normal +Resumed"));

  // kubectl delete waits for the object to go; by then the key is gone too.
  auto deleted = Kubectl({"delete", "sreg", "user-rpc", "--timeout=60s"});
  ASSERT_THAT(deleted, IsOk()) << c->Describe();
  EXPECT_THAT(*deleted, HasSubstr("serviceregistration.registrar.dev \"user-rpc\" deleted"));
  EXPECT_THAT(inspect().Get("user.rpc/"), IsOkAndHolds(::testing::IsEmpty()));
  auto rest = Kubectl({"get", "sreg"});
  ASSERT_THAT(rest, IsOk());
  EXPECT_TRUE(Row(*rest, "user-rpc").empty()) << *rest;
  EXPECT_TRUE(c->Running()) << c->Describe();
}

}  // namespace
}  // namespace registrar::testing
