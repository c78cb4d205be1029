// File: tests/integration/controller/controller_harness.h
//
// Shared fixture for the black-box tests of the `etcd-registrar` controller in manifest-folder
// mode (issue 4): a real etcd (tests/fixtures/etcd_process.h), a temp manifest folder the test
// writes files into, and the binary as a child process with `--manifests DIR`. Facts about etcd
// are read back with etcdctl; the controller's own view through its HTTP endpoints. Nothing here
// calls controller code, so the tests encode the contract (DESIGN.md §1–§3), not the code.
//
// Flow: SetUp() starts etcd and creates the folder; a test writes manifests (Write / WriteInPlace
// / Remove), starts the controller (StartController), waits for keys or registrations with
// deadlines (WaitForKey, WaitForNoKey, WaitForRegistration, WaitUntil), injects faults (signals,
// folder changes) and asserts, often with an EtcdWatchRecorder opened before the fault. Timings
// are printed as "[measure] <what>: <seconds> s".
//
// Thread-safety: none; one gtest thread drives the fixture.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "nlohmann/json.hpp"
#include "tests/fixtures/child_process.h"
#include "tests/fixtures/etcd_inspector.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/fixtures/etcd_watch_recorder.h"
#include "tests/testing/temp_dir.h"

namespace registrar::testing {

// The TTL every test manifest asks for (the minimum the resource allows).
inline constexpr int kTtl = 5;
inline constexpr char kOwnerId[] = "e2e-owner";
inline constexpr char kOwnerPrefix[] = "/etcd-registrar/owners/";

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;
TimePoint Now();
double SecondsSince(TimePoint start);
// Prints "[measure] <what>: <seconds> s".
void ReportMeasurement(const std::string& what, double seconds);

// One ServiceRegistration manifest (YAML).
struct ManifestSpec {
  std::string name = "";
  std::string namespace_ = "";  // empty: left out (the controller defaults it to "default")
  std::string key = "";
  std::string value = "";
  int64_t id = 0;  // 0: not written
  int ttl = kTtl;
  bool paused = false;
};
std::string Manifest(const ManifestSpec& spec);

// ${ER_BINARY_DIR}/etcd-registrar.
std::string RegistrarBinary();
// Runs the binary with exactly `args`; nullptr (and a test failure) when it cannot be started.
std::unique_ptr<ChildProcess> StartRegistrar(const std::vector<std::string>& args);

struct HttpReply {
  int status = 0;  // 0: no answer (connection refused, timeout)
  std::string body;
};

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // The etcd SetUp starts (a test class overrides it for auth or TLS).
  virtual EtcdOptions etcd_options() const { return {}; }

  EtcdProcess& etcd() { return *etcd_; }
  // The manifest folder (created empty by SetUp).
  const std::string& dir() const { return dir_; }
  // The fixture's private temp root (dir() is <root>/manifests).
  const std::string& root() const { return root_; }

  // Saves `content` as `relative` under dir() the way editors do: a hidden temp file renamed
  // over the target (atomic).
  void Write(const std::string& relative, const std::string& content);
  // Truncates `relative` and writes `content` into the same inode (two writes: truncate, then
  // content after `pause`).
  void WriteInPlace(const std::string& relative, const std::string& content,
                    std::chrono::milliseconds pause = std::chrono::milliseconds(0));
  void Remove(const std::string& relative);
  std::string PathOf(const std::string& relative) const { return dir_ + "/" + relative; }

  // `--manifests <dir> --etcd-endpoints <etcd> --http-addr 127.0.0.1:<new free port>
  // --owner-id e2e-owner --log-level debug` + `extra`. Sets http_addr().
  std::vector<std::string> ControllerArgs(const std::vector<std::string>& extra = {});
  // Starts the binary with ControllerArgs(extra); `prefix` (e.g. setpriv ...) runs before it.
  // Returns nullptr (and fails the test) when it cannot be started.
  std::unique_ptr<ChildProcess> StartController(const std::vector<std::string>& extra = {},
                                                const std::vector<std::string>& prefix = {});
  const std::string& http_addr() const { return http_addr_; }

  // GET http://<http_addr()><path>.
  HttpReply Get(const std::string& path) const;
  // Polls until /readyz answers 200 (fails the test otherwise, with the controller's output).
  void WaitReady(ChildProcess& controller, Duration timeout = std::chrono::seconds(10));
  // GET /registrations, parsed.
  absl::StatusOr<nlohmann::json> Registrations() const;
  // The entry of namespace/name in a /registrations document, or nullopt.
  static std::optional<nlohmann::json> Find(const nlohmann::json& doc, const std::string& ns,
                                            const std::string& name);
  // Polls /registrations until namespace/name has `phase` (and `accept`, when given, holds).
  absl::StatusOr<nlohmann::json> WaitForRegistration(
      const std::string& ns, const std::string& name, const std::string& phase, Duration timeout,
      const std::function<bool(const nlohmann::json&)>& accept = {});
  // Polls /metrics until the line starting with `series ` exists; returns its value.
  absl::StatusOr<double> MetricValue(const std::string& series) const;

  // etcd, via etcdctl (tests/fixtures/etcd_inspector.h).
  EtcdInspector inspect() const { return EtcdInspector(*etcd_); }
  absl::StatusOr<std::vector<StoredKv>> GetAll(const std::string& prefix = "") const {
    return inspect().Get(prefix);
  }
  absl::StatusOr<std::vector<int64_t>> Leases() const { return inspect().Leases(); }
  // Polls until exactly one key lives under `prefix` and `accept` (when given) holds.
  absl::StatusOr<StoredKv> WaitForKey(const std::string& prefix, Duration timeout,
                                      const std::function<bool(const StoredKv&)>& accept = {});
  absl::Status WaitForNoKey(const std::string& prefix, Duration timeout);
  // Polls until etcd no longer knows `lease`.
  absl::Status WaitForLeaseGone(int64_t lease, Duration timeout);
  // Polls `check` (which explains a failure in *why) until it returns true.
  static absl::Status WaitUntil(const std::function<bool(std::string* why)>& check,
                                Duration timeout);
  // Records every change in the whole keyspace from now on.
  std::unique_ptr<EtcdWatchRecorder> Record();

  // The ownership record key of `full_key`.
  static std::string RecordKey(const std::string& full_key) {
    return std::string(kOwnerPrefix) + kOwnerId + "/" + full_key;
  }

  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<TempDir> tmp_;
  std::string root_;
  std::string dir_;
  std::string http_addr_;
};

// Events of `recorder` whose key starts with `prefix`, rendered for failure messages.
std::string DescribeEvents(const EtcdWatchRecorder& recorder, const std::string& prefix = "");
std::vector<WatchEvent> EventsUnder(const EtcdWatchRecorder& recorder, const std::string& prefix,
                                    WatchEvent::Type type);

}  // namespace registrar::testing
