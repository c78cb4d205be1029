// File: tests/integration/publish/publish_harness.h
//
// Shared fixture for the black-box tests of `etcd-registrar publish` (issue 2). The binary under
// test runs as a child process against a real etcd (tests/fixtures/etcd_process.h); every fact
// is read back with etcdctl, never through the code under test, so the tests encode the contract
// (DESIGN.md §2), not the implementation.
//
// Flow: a test starts etcd (StartEtcd), starts `publish` (StartPublish), waits for its key
// (WaitForKey), injects a fault, measures and asserts, and usually ends with StopGracefully,
// which also checks that nothing is left in etcd. Recovery times are printed as
// "[measure] <what>: <seconds> s" lines for the report.
//
// Thread-safety: none; one gtest thread drives the fixture.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "tests/fixtures/child_process.h"
#include "tests/fixtures/etcd_inspector.h"
#include "tests/fixtures/etcd_process.h"

namespace registrar::testing {

// The TTL most tests publish with; the fixture's fast etcd profile grants it as asked.
inline constexpr int kTtl = 5;
// Allowance over a contract limit for the observation itself (each probe runs etcdctl).
inline constexpr double kToleranceSeconds = 0.3;

using TimePoint = std::chrono::steady_clock::time_point;
TimePoint Now();
double SecondsSince(TimePoint start);
// Prints "[measure] <what>: <seconds> s".
void ReportMeasurement(const std::string& what, double seconds);

class PublishHarness : public ::testing::Test {
 protected:
  using Duration = std::chrono::steady_clock::duration;

  // Starts the fixture etcd; fails the test when it does not come up.
  void StartEtcd(const EtcdOptions& options = {});
  EtcdProcess& etcd() { return *etcd_; }

  // `publish --etcd-endpoints <endpoints> --key <key> --value <value> --ttl 5` + `extra`.
  static std::vector<std::string> PublishArgs(const std::string& endpoints, const std::string& key,
                                              const std::string& value,
                                              const std::vector<std::string>& extra = {});
  // Starts ${ER_BINARY_DIR}/etcd-registrar with `args`; nullptr (and a test failure) when it
  // cannot be started.
  static std::unique_ptr<ChildProcess> StartPublish(const std::vector<std::string>& args);

  // etcd as etcdctl sees it (tests/fixtures/etcd_inspector.h).
  EtcdInspector inspect() const { return EtcdInspector(*etcd_); }
  // Every key under `prefix` ("" = the whole keyspace).
  absl::StatusOr<std::vector<StoredKv>> GetAll(const std::string& prefix = "") const {
    return inspect().Get(prefix);
  }
  // Ids of all leases etcd holds.
  absl::StatusOr<std::vector<int64_t>> Leases() const { return inspect().Leases(); }
  // Remaining and granted TTL of `lease`.
  absl::StatusOr<LeaseInfo> TimeToLive(int64_t lease) const { return inspect().TimeToLive(lease); }

  // Polls until exactly one key lives under `prefix` and `accept` (when given) holds for it;
  // returns that key. Fails with kDeadlineExceeded describing the last observation.
  absl::StatusOr<StoredKv> WaitForKey(const std::string& prefix, Duration timeout,
                                      const std::function<bool(const StoredKv&)>& accept = {});
  // Polls until no key lives under `prefix`.
  absl::Status WaitForNoKey(const std::string& prefix, Duration timeout);

  // Sends `sig` (SIGTERM/SIGINT) and asserts the contract of a graceful stop: exit code 0 within
  // 10 s, no key left anywhere, 0 leases left. Prints how long the exit took.
  void StopGracefully(ChildProcess& publish, int sig, const std::string& label);

  std::unique_ptr<EtcdProcess> etcd_;
};

}  // namespace registrar::testing
