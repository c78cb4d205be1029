// File: tests/integration/controller/kube_e2e_harness.h
//
// Shared fixture for the end-to-end tests of the controller's Kubernetes mode (issue 11): the real
// control plane of this test binary (KubeControlPlane::Shared(), crds/ applied once), a fresh
// namespace and a fresh etcd for the registrations per test, and the etcd-registrar binary as a
// child process (tests/fixtures/controller_process.h). The tests act as users do, through kubectl
// as admin, and read etcd with etcdctl (EtcdInspector, EtcdWatchRecorder): nothing here calls
// controller code, so the tests state the contract of the issue, not the code.
//
// Flow: SetUp() starts etcd and creates the namespace; a test applies ServiceRegistrations
// (Sreg + Apply), starts the controller (StartController with KubeArgs or pod arguments), waits
// for status (WaitForObject) and etcd (WaitForKey) with deadlines, and asserts.
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
#include "tests/fixtures/controller_process.h"
#include "tests/fixtures/etcd_inspector.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/fixtures/etcd_watch_recorder.h"
#include "tests/fixtures/kube_control_plane.h"
#include "tests/testing/source_path.h"
#include "tests/testing/temp_dir.h"

namespace registrar::testing {

inline constexpr char kFinalizer[] = "registrar.dev/revoke";
inline constexpr char kDefaultOwnerPrefixE2e[] = "/etcd-registrar/owners/";

// A ServiceRegistration manifest. `spec` is YAML for the spec's fields, indented by the caller
// with four spaces per line (e.g. "    key: a.rpc\n    value: 10.0.0.1:1\n"); `metadata` likewise
// for extra metadata fields (finalizers, labels).
std::string Sreg(const std::string& name, const std::string& ns, const std::string& spec,
                 const std::string& metadata = "");

// The condition of `type` in status.conditions (an empty object when absent).
nlohmann::json Condition(const nlohmann::json& object, const std::string& type);
// phase Registered, condition Ready True, status.observedGeneration == metadata.generation.
bool IsReady(const nlohmann::json& object);
// status.leaseID as a number (0 when absent or not a number).
int64_t LeaseOf(const nlohmann::json& object);

class KubeE2eTest : public ::testing::Test {
 protected:
  using Duration = std::chrono::steady_clock::duration;

  static void SetUpTestSuite();
  void SetUp() override;
  // The options of the test's etcd (a fixture may turn on auth or TLS).
  virtual EtcdOptions etcd_options() const { return {}; }

  KubeControlPlane& plane() { return *plane_; }
  EtcdProcess& etcd() { return *etcd_; }
  const std::string& ns() const { return ns_; }
  const std::string& tmp() const { return tmp_->path(); }
  std::string owner_id() const { return "e2e-" + ns_; }

  // --kubeconfig <admin> --namespace <ns> --etcd-endpoints <etcd> --owner-id e2e-<ns>
  // --log-level debug + `extra`.
  std::vector<std::string> KubeArgs(const std::vector<std::string>& extra = {}) const;
  // Starts the binary (fails the test and returns nullptr when it cannot be started).
  std::unique_ptr<ControllerProcess> StartController(const std::vector<std::string>& args,
                                                     const std::vector<std::string>& env = {},
                                                     int http_port = 0);

  // kubectl as admin; the error carries stderr.
  absl::StatusOr<std::string> Kubectl(const std::vector<std::string>& args) const;
  absl::Status Apply(const std::string& yaml) const;
  // `kubectl patch sreg <name> -n <ns> --type merge -p <patch>`.
  absl::Status MergePatch(const std::string& name, const std::string& patch) const;
  // The object as JSON; kNotFound when it does not exist.
  absl::StatusOr<nlohmann::json> Object(const std::string& name) const;
  // Polls (every 100 ms) until the object exists and `accept` holds; the error names the last
  // state seen.
  absl::StatusOr<nlohmann::json> WaitForObject(
      const std::string& name, const std::function<bool(const nlohmann::json&)>& accept,
      Duration timeout);
  absl::Status WaitForObjectGone(const std::string& name, Duration timeout);

  EtcdInspector inspect() const { return EtcdInspector(*etcd_); }
  // Polls until exactly one key lives under `prefix` and `accept` (when given) holds.
  absl::StatusOr<StoredKv> WaitForKey(const std::string& prefix, Duration timeout,
                                      const std::function<bool(const StoredKv&)>& accept = {});
  absl::Status WaitForNoKey(const std::string& prefix, Duration timeout);
  std::unique_ptr<EtcdWatchRecorder> Record(const std::string& prefix = "");

  static KubeControlPlane* plane_;
  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<TempDir> tmp_;
  std::string ns_;
};

}  // namespace registrar::testing
