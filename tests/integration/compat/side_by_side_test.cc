// go-zero's own Subscriber judges `etcd-registrar publish`, and a go-zero Publisher and ours
// registered under one key must be indistinguishable (DESIGN.md §2, §3): both keys are
// `key/<leaseID in decimal>` and carry that lease, both leases are granted go-zero's TTL and kept
// alive, both are revoked on a graceful stop and both are left to expire when the process is
// killed. Our `publish` also registers anew after etcd lost its data, and go-zero follows.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "tests/integration/compat/compat_harness.h"
#include "tests/testing/status_matchers.h"

namespace registrar::testing {
namespace {

constexpr auto kSoon = std::chrono::seconds(10);
// A revoke removes key and lease at once; an expiry would take up to a TTL.
constexpr auto kRevoked = std::chrono::seconds(2);
constexpr auto kPastTtl = std::chrono::seconds(kGoZeroTtl + 3);
constexpr char kKey[] = "order.rpc";

class SideBySideTest : public CompatTest {
 protected:
  // The key of `value` among `kvs`; fails the test when it is not there.
  static StoredKv KeyOf(const std::vector<StoredKv>& kvs, const std::string& value) {
    for (const StoredKv& kv : kvs) {
      if (kv.value == value) {
        return kv;
      }
    }
    ADD_FAILURE() << "no key holds " << value;
    return {};
  }
};

TEST_F(SideBySideTest, PublishIsWhatGoZeroResolvesThroughDataLoss) {
  auto subscriber = StartSubscriber(kKey);
  ASSERT_NE(subscriber, nullptr);
  auto by_lease = StartPublish(kKey, "10.0.1.1:9000", kGoZeroTtl);
  auto by_id = StartPublish(kKey, "10.0.1.2:9000", kGoZeroTtl, {"--id", "3"});
  ASSERT_NE(by_lease, nullptr);
  ASSERT_NE(by_id, nullptr);
  const std::vector<std::string> both = {"10.0.1.1:9000", "10.0.1.2:9000"};
  auto before = WaitForStored(kKey, both, kSoon);
  ASSERT_THAT(before, IsOk()) << by_lease->Describe() << by_id->Describe();
  ASSERT_THAT(WaitForValues(*subscriber, both), IsOk());
  const StoredKv lease_key = KeyOf(*before, "10.0.1.1:9000");
  EXPECT_EQ(lease_key.key, absl::StrCat(kKey, "/", lease_key.lease));
  EXPECT_EQ(KeyOf(*before, "10.0.1.2:9000").key, absl::StrCat(kKey, "/3"));

  ASSERT_THAT(etcd_->Restart(/*wipe_data=*/true), IsOk());
  auto after = WaitForStored(kKey, both, kSoon);
  ASSERT_THAT(after, IsOk()) << by_lease->Describe() << by_id->Describe();
  const StoredKv new_lease_key = KeyOf(*after, "10.0.1.1:9000");
  EXPECT_NE(new_lease_key.lease, lease_key.lease);
  EXPECT_EQ(new_lease_key.key, absl::StrCat(kKey, "/", new_lease_key.lease));
  EXPECT_EQ(KeyOf(*after, "10.0.1.2:9000").key, absl::StrCat(kKey, "/3"));
  EXPECT_THAT(WaitForValues(*subscriber, both), IsOk());
  auto fresh = StartSubscriber(kKey);
  ASSERT_NE(fresh, nullptr);
  EXPECT_THAT(WaitForValues(*fresh, both), IsOk());

  // Stopping one process takes exactly its value away, for both subscribers.
  ASSERT_THAT(by_lease->Signal(SIGTERM), IsOk());
  EXPECT_EQ(by_lease->Wait(kSoon), 0) << by_lease->Describe();
  EXPECT_THAT(WaitForValues(*subscriber, {"10.0.1.2:9000"}), IsOk());
  EXPECT_THAT(WaitForValues(*fresh, {"10.0.1.2:9000"}), IsOk());
  ASSERT_THAT(by_id->Signal(SIGTERM), IsOk());
  EXPECT_EQ(by_id->Wait(kSoon), 0) << by_id->Describe();
  EXPECT_THAT(WaitForValues(*subscriber, {}), IsOk());
  EXPECT_THAT(WaitForValues(*fresh, {}), IsOk());
}

TEST_F(SideBySideTest, GoZeroPublisherAndOursUnderOneKeyLookAlike) {
  auto subscriber = StartSubscriber(kKey);
  ASSERT_NE(subscriber, nullptr);
  auto gozero = StartGoZeroPublisher(kKey, "10.0.2.1:9000");
  ASSERT_NE(gozero, nullptr);
  auto ours = StartPublish(kKey, "10.0.2.2:9000", kGoZeroTtl);
  ASSERT_NE(ours, nullptr);
  ASSERT_THAT(WaitForValues(*subscriber, {"10.0.2.1:9000", "10.0.2.2:9000"}), IsOk())
      << ours->Describe();
  auto stored = WaitForStored(kKey, {"10.0.2.1:9000", "10.0.2.2:9000"}, kSoon);
  ASSERT_THAT(stored, IsOk());
  const StoredKv theirs_kv = KeyOf(*stored, "10.0.2.1:9000");
  const StoredKv ours_kv = KeyOf(*stored, "10.0.2.2:9000");

  // Same key shape: key/<the lease the key carries, in decimal>.
  for (const StoredKv& kv : {theirs_kv, ours_kv}) {
    EXPECT_GT(kv.lease, 0) << kv.key;
    EXPECT_EQ(kv.key, absl::StrCat(kKey, "/", kv.lease));
  }
  EXPECT_NE(theirs_kv.lease, ours_kv.lease);

  // Same granted TTL, and both leases are kept alive: each one's remaining TTL is seen to go
  // back up after it went down.
  std::map<int64_t, int64_t> lowest;
  std::map<int64_t, bool> renewed;
  for (const StoredKv& kv : {theirs_kv, ours_kv}) {
    auto ttl = TimeToLive(kv.lease);
    ASSERT_THAT(ttl, IsOk());
    EXPECT_EQ(ttl->granted_ttl, kGoZeroTtl) << kv.key;
    lowest[kv.lease] = ttl->ttl;
  }
  EXPECT_THAT(WaitUntil(
                  [&](std::string* why) {
                    *why = "";
                    for (auto& [lease, low] : lowest) {
                      auto ttl = TimeToLive(lease);
                      if (!ttl.ok() || ttl->ttl <= 0) {
                        *why = absl::StrCat("lease ", lease, " is gone");
                        return false;
                      }
                      renewed[lease] = renewed[lease] || ttl->ttl > low;
                      low = std::min(low, ttl->ttl);
                      if (!renewed[lease]) {
                        absl::StrAppend(why, "lease ", lease, " not renewed yet; ");
                      }
                    }
                    return renewed[theirs_kv.lease] && renewed[ours_kv.lease];
                  },
                  kPastTtl),
              IsOk());

  // A graceful stop revokes, for both: key and lease go at once, not after the TTL.
  ASSERT_THAT(gozero->Signal(SIGHUP), IsOk());  // go-zero's Publisher.Stop
  EXPECT_THAT(WaitForLeaseGone(theirs_kv.lease, kRevoked), IsOk());
  EXPECT_THAT(WaitForValues(*subscriber, {"10.0.2.2:9000"}), IsOk());
  ASSERT_THAT(ours->Signal(SIGTERM), IsOk());
  EXPECT_THAT(WaitForLeaseGone(ours_kv.lease, kRevoked), IsOk());
  EXPECT_EQ(ours->Wait(kSoon), 0) << ours->Describe();
  EXPECT_THAT(WaitForValues(*subscriber, {}), IsOk());
  EXPECT_THAT(WaitForNoKey(std::string(kKey) + "/", kSoon), IsOk());
}

TEST_F(SideBySideTest, KilledPublishersBothLeaveTheirLeasesToExpire) {
  auto subscriber = StartSubscriber(kKey);
  ASSERT_NE(subscriber, nullptr);
  auto gozero = StartGoZeroPublisher(kKey, "10.0.3.1:9000");
  ASSERT_NE(gozero, nullptr);
  auto ours = StartPublish(kKey, "10.0.3.2:9000", kGoZeroTtl);
  ASSERT_NE(ours, nullptr);
  auto stored = WaitForStored(kKey, {"10.0.3.1:9000", "10.0.3.2:9000"}, kSoon);
  ASSERT_THAT(stored, IsOk()) << ours->Describe();
  ASSERT_THAT(WaitForValues(*subscriber, {"10.0.3.1:9000", "10.0.3.2:9000"}), IsOk());

  gozero->Kill();
  ours->Kill();
  const TimePoint killed = Now();
  // Nobody revoked: both keys and leases are still there after the processes are gone.
  auto left = GetAll(std::string(kKey) + "/");
  ASSERT_THAT(left, IsOk());
  EXPECT_EQ(left->size(), 2u);
  int64_t shortest = kGoZeroTtl;
  for (const StoredKv& kv : *stored) {
    auto ttl = TimeToLive(kv.lease);
    ASSERT_THAT(ttl, IsOk());
    EXPECT_GT(ttl->ttl, 0) << kv.key << " lost its lease when its process was killed";
    shortest = std::min(shortest, ttl->ttl);
  }
  // They go when their leases expire, and go-zero's Subscriber follows.
  EXPECT_THAT(WaitForValues(*subscriber, {}, kPastTtl), IsOk());
  const double gone_after = SecondsSince(killed);
  ReportMeasurement("both publishers killed -> subscriber resolves nothing", gone_after);
  EXPECT_GE(gone_after, static_cast<double>(shortest) - 1.0)
      << "the keys went before their leases could have expired";
  for (const StoredKv& kv : *stored) {
    EXPECT_THAT(WaitForLeaseGone(kv.lease, kSoon), IsOk());
  }
}

}  // namespace
}  // namespace registrar::testing
