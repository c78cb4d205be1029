// File: tests/integration/compat/compat_harness.h
//
// Shared fixture for the `compat` tests: go-zero itself judges what etcd-registrar writes
// (DESIGN.md §2, docs/compatibility.md). On top of the controller harness (real etcd, manifest
// folder, the controller as a process) it runs tests/compat's `gozero-compat` program, built
// with go-zero's own core/discov: `subscribe` prints the set of values go-zero's Subscriber
// resolves for a key each time it changes, `publish` holds one registration with go-zero's
// Publisher. Our `etcd-registrar publish` runs beside it as another process.
//
// Flow: a test starts a subscriber (StartSubscriber), publishers (StartGoZeroPublisher,
// StartPublish) and/or the controller, changes something, and waits with a deadline until the
// subscriber's latest line is the expected set (WaitForValues); facts about etcd are read back
// with etcdctl. The go-zero program is ${ER_SOURCE_DIR}/.tools/gozero-compat, built by
// scripts/build-compat.sh; when it is missing the test fails saying so (it is never skipped).
// go-zero's core/proc catches SIGTERM and SIGINT and exits only ~5.5 s later, so the program is
// stopped with SIGHUP (publisher: go-zero's Publisher.Stop, which revokes) or SIGKILL.
//
// Thread-safety: none; one gtest thread drives the fixture.
// Ownership: the fixture owns etcd and the manifest folder; the test owns each ChildProcess it
// gets back (destroying one SIGKILLs the process, which leaves a publisher's lease to expire).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "tests/fixtures/child_process.h"
#include "tests/integration/controller/controller_harness.h"

namespace registrar::testing {

// go-zero's default lease TTL (discov.TimeToLive), which the go-zero publisher here uses.
inline constexpr int kGoZeroTtl = 10;

struct LeaseTtl {
  int64_t ttl = -1;  // remaining seconds; -1 when etcd does not know the lease
  int64_t granted_ttl = 0;
};

// ${ER_SOURCE_DIR}/.tools/gozero-compat.
std::string GoZeroBinary();

// The values lines a `gozero-compat subscribe` process printed so far, oldest first, each as
// the sorted set of values.
std::vector<std::vector<std::string>> PrintedValueSets(const ChildProcess& subscriber);
// `["a","b"]`, for messages.
std::string Render(const std::vector<std::string>& values);

class CompatTest : public ControllerTest {
 protected:
  // Starts `gozero-compat subscribe` on `key` and waits for its first values line. Returns
  // nullptr (and fails the test) when the program is missing or does not come up.
  std::unique_ptr<ChildProcess> StartSubscriber(const std::string& key);
  // Starts `gozero-compat publish` and waits until go-zero's KeepAlive returned. `id` 0: no
  // WithId. Returns nullptr (and fails the test) on failure.
  std::unique_ptr<ChildProcess> StartGoZeroPublisher(const std::string& key,
                                                     const std::string& value, int64_t id = 0);
  // Starts `etcd-registrar publish --etcd-endpoints <etcd> --key --value --ttl` + `extra`.
  std::unique_ptr<ChildProcess> StartPublish(const std::string& key, const std::string& value,
                                             int ttl, const std::vector<std::string>& extra = {});

  // Waits until the subscriber's latest values line is exactly `expected` (any order). Fails
  // with kDeadlineExceeded listing every line it printed.
  absl::Status WaitForValues(ChildProcess& subscriber, std::vector<std::string> expected,
                             Duration timeout = std::chrono::seconds(10));
  // Waits until the values etcd holds under `key/` are exactly `expected` and returns the keys.
  absl::StatusOr<std::vector<StoredKv>> WaitForStored(const std::string& key,
                                                      std::vector<std::string> expected,
                                                      Duration timeout);

  // `etcdctl lease timetolive`.
  absl::StatusOr<LeaseTtl> TimeToLive(int64_t lease);
};

}  // namespace registrar::testing
