// go-zero's own Subscriber judges the controller (DESIGN.md §2: "a go-zero subscriber sees exactly
// what an in-process go-zero publisher would have written"): after every step of a registration's
// life in manifest mode — add, value change, pause, resume, re-registration after etcd lost its
// data, deletion — the set of values go-zero resolves is exactly the set the manifests publish,
// and the set etcd holds under the key.
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
constexpr char kKey[] = "user.rpc";
constexpr int64_t kIdOfB = 7;

class ControllerJudgedTest : public CompatTest {
 protected:
  // etcd holds exactly `values` under kKey, every key in go-zero's shape with its lease, and
  // each subscriber resolves exactly `values`.
  void ExpectResolved(const std::vector<ChildProcess*>& subscribers,
                      const std::vector<std::string>& values) {
    auto stored = WaitForStored(kKey, values, kSoon);
    ASSERT_THAT(stored, IsOk());
    for (const StoredKv& kv : *stored) {
      ASSERT_NE(kv.lease, 0) << kv.key << " carries no lease";
      const bool id_key = kv.key == absl::StrCat(kKey, "/", kIdOfB);
      EXPECT_TRUE(id_key || kv.key == absl::StrCat(kKey, "/", kv.lease))
          << kv.key << " is neither " << kKey << "/<id> nor " << kKey << "/<its lease " << kv.lease
          << ">";
    }
    for (ChildProcess* subscriber : subscribers) {
      EXPECT_THAT(WaitForValues(*subscriber, values, kSoon), IsOk());
    }
  }
};

TEST_F(ControllerJudgedTest, GoZeroResolvesExactlyTheManifestsThroughTheirLifecycle) {
  auto subscriber = StartSubscriber(kKey);
  ASSERT_NE(subscriber, nullptr);
  ASSERT_THAT(WaitForValues(*subscriber, {}), IsOk());
  auto controller = StartController();
  ASSERT_NE(controller, nullptr);
  WaitReady(*controller);

  // Add: one registration keyed by its lease, one by id.
  Write("a.yaml", Manifest({.name = "a", .key = kKey, .value = "10.0.0.1:8080"}));
  ExpectResolved({subscriber.get()}, {"10.0.0.1:8080"});
  Write("b.yaml", Manifest({.name = "b", .key = kKey, .value = "10.0.0.2:8080", .id = kIdOfB}));
  ExpectResolved({subscriber.get()}, {"10.0.0.1:8080", "10.0.0.2:8080"});

  // Value change.
  Write("a.yaml", Manifest({.name = "a", .key = kKey, .value = "10.0.0.3:8080"}));
  ExpectResolved({subscriber.get()}, {"10.0.0.3:8080", "10.0.0.2:8080"});

  // Pause and resume.
  Write(
      "b.yaml",
      Manifest({.name = "b", .key = kKey, .value = "10.0.0.2:8080", .id = kIdOfB, .paused = true}));
  ExpectResolved({subscriber.get()}, {"10.0.0.3:8080"});
  Write("b.yaml", Manifest({.name = "b", .key = kKey, .value = "10.0.0.2:8080", .id = kIdOfB}));
  ExpectResolved({subscriber.get()}, {"10.0.0.3:8080", "10.0.0.2:8080"});
  auto before_loss = GetAll(std::string(kKey) + "/");
  ASSERT_THAT(before_loss, IsOk());

  // etcd loses everything: the controller registers anew (a: new lease, so a new key); the
  // subscriber that lived through the loss and one started afterwards both resolve the same set
  // and both follow the next change. Had the old subscriber kept its view of the wiped etcd, it
  // would still hold a's pre-loss key and resolve a's old value beside the new one.
  ASSERT_THAT(etcd_->Restart(/*wipe_data=*/true), IsOk());
  ExpectResolved({subscriber.get()}, {"10.0.0.3:8080", "10.0.0.2:8080"});
  auto after_loss = GetAll(std::string(kKey) + "/");
  ASSERT_THAT(after_loss, IsOk());
  for (const StoredKv& old : *before_loss) {
    for (const StoredKv& now : *after_loss) {
      EXPECT_NE(old.lease, now.lease) << "a lease from before the data loss: " << now.key;
    }
  }
  auto fresh = StartSubscriber(kKey);
  ASSERT_NE(fresh, nullptr);
  Write("a.yaml", Manifest({.name = "a", .key = kKey, .value = "10.0.0.4:8080"}));
  ExpectResolved({subscriber.get(), fresh.get()}, {"10.0.0.4:8080", "10.0.0.2:8080"});

  // Deletion.
  Remove("a.yaml");
  ExpectResolved({subscriber.get(), fresh.get()}, {"10.0.0.2:8080"});
  Remove("b.yaml");
  ExpectResolved({subscriber.get(), fresh.get()}, {});
  EXPECT_TRUE(controller->Running()) << controller->Describe();
}

}  // namespace
}  // namespace registrar::testing
