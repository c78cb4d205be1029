// A go-zero Publisher holding an id key (WithId) is another owner (DESIGN.md §2): a manifest
// asking for the same key with another value is Failed/KeyConflict, the key in etcd keeps
// go-zero's value and lease the whole time (no put of ours, seen by a watch and by go-zero's own
// Subscriber), and when the go-zero publisher stops (its lease revoked) the controller takes the
// key.
#include <signal.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "tests/integration/compat/compat_harness.h"
#include "tests/testing/status_matchers.h"

namespace registrar::testing {
namespace {

constexpr auto kSoon = std::chrono::seconds(10);
constexpr char kKey[] = "pay.rpc";
constexpr int64_t kId = 7;
constexpr char kTheirs[] = "10.0.4.1:7000";
constexpr char kOurs[] = "10.0.4.2:7000";

class KeyConflictTest : public CompatTest {};

TEST_F(KeyConflictTest, GoZeroIdKeyIsNeverOverwrittenAndTakenOnlyAfterItsPublisherStops) {
  const std::string full_key = absl::StrCat(kKey, "/", kId);
  auto recorder = Record();
  ASSERT_NE(recorder, nullptr);
  auto gozero = StartGoZeroPublisher(kKey, kTheirs, kId);
  ASSERT_NE(gozero, nullptr);
  auto held = WaitForKey(std::string(kKey) + "/", kSoon);
  ASSERT_THAT(held, IsOk());
  EXPECT_EQ(held->key, full_key);
  EXPECT_EQ(held->value, kTheirs);
  auto subscriber = StartSubscriber(kKey);
  ASSERT_NE(subscriber, nullptr);
  ASSERT_THAT(WaitForValues(*subscriber, {kTheirs}), IsOk());

  auto controller = StartController();
  ASSERT_NE(controller, nullptr);
  WaitReady(*controller);
  Write("pay.yaml", Manifest({.name = "pay", .key = kKey, .value = kOurs, .id = kId}));
  auto conflict = WaitForRegistration(
      "default", "pay", "Failed", kSoon,
      [](const nlohmann::json& r) { return r.value("reason", "") == "KeyConflict"; });
  ASSERT_THAT(conflict, IsOk()) << controller->Describe();

  // Still go-zero's key: same value, same lease, never written by us.
  auto still = GetAll(std::string(kKey) + "/");
  ASSERT_THAT(still, IsOk());
  ASSERT_EQ(still->size(), 1u);
  EXPECT_EQ(still->front().key, full_key);
  EXPECT_EQ(still->front().value, kTheirs);
  EXPECT_EQ(still->front().lease, held->lease);
  EXPECT_EQ(EventsUnder(*recorder, full_key, WatchEvent::Type::kPut).size(), 1u)
      << DescribeEvents(*recorder, kKey);
  EXPECT_TRUE(EventsUnder(*recorder, kKey, WatchEvent::Type::kDelete).empty())
      << DescribeEvents(*recorder, kKey);

  // go-zero's Publisher.Stop revokes its lease; the key goes away and ours takes it.
  ASSERT_THAT(gozero->Signal(SIGHUP), IsOk());
  auto taken = WaitForKey(std::string(kKey) + "/", kSoon,
                          [](const StoredKv& kv) { return kv.value == kOurs; });
  ASSERT_THAT(taken, IsOk()) << controller->Describe();
  EXPECT_EQ(taken->key, full_key);
  EXPECT_NE(taken->lease, held->lease);
  EXPECT_THAT(WaitForValues(*subscriber, {kOurs}), IsOk());
  EXPECT_THAT(WaitForRegistration("default", "pay", "Registered", kSoon), IsOk());

  // Throughout: our value was put only after go-zero's key was deleted, and go-zero's
  // Subscriber never saw both values or ours while go-zero held the key.
  ASSERT_THAT(recorder->status(), IsOk());
  auto deletes = EventsUnder(*recorder, full_key, WatchEvent::Type::kDelete);
  ASSERT_FALSE(deletes.empty()) << DescribeEvents(*recorder, kKey);
  for (const WatchEvent& put : EventsUnder(*recorder, full_key, WatchEvent::Type::kPut)) {
    if (put.value == kOurs) {
      EXPECT_GT(put.mod_revision, deletes.front().mod_revision) << DescribeEvents(*recorder, kKey);
    } else {
      EXPECT_EQ(put.lease, held->lease) << DescribeEvents(*recorder, kKey);
    }
  }
  for (const auto& set : PrintedValueSets(*subscriber)) {
    EXPECT_TRUE(set.size() <= 1) << "go-zero resolved " << Render(set);
  }
}

}  // namespace
}  // namespace registrar::testing
