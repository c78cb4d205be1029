// File: tests/integration/publisher/engine_testing.h
//
// Helpers shared by the registration engine's integration tests (real etcd): desired
// registrations, engine options, etcd reads through etcdctl (EtcdInspector: keys, leases,
// remaining TTL; never through the client under test, so a client bug cannot hide an engine
// bug), the engine_host child process (an engine that can be SIGKILLed) and a dump of the
// engine's states for failure messages.
//
// Flow: a test starts an EtcdProcess, reads it with an EtcdInspector (inspector_ in the fixture),
// writes to it with a Client from OpenClient() when it plants data, runs an engine in-process
// (NewEngine) or as a host (StartHost), and polls etcd/Get() with WaitFor() (tests/testing/wait.h).
// Costs: each read is one etcdctl process (a few ms, more under load).
// Thread-safety: the functions keep no state; a Client or an inspector may be shared between
// threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "controller/etcd/client.h"
#include "controller/publisher/engine.h"
#include "tests/fixtures/child_process.h"
#include "tests/fixtures/etcd_inspector.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace registrar::publisher::testing {

using Steady = std::chrono::steady_clock;
using registrar::testing::EtcdInspector;
using registrar::testing::WaitFor;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline constexpr char kOwnerPrefix[] = "/etcd-registrar/owners/";
inline constexpr char kCluster[] = "test-cluster";

// A registration of resource "ns/<name>" with uid "uid-<name>".
Desired MakeDesired(const std::string& name, const std::string& key, int64_t key_id,
                    const std::string& value, int64_t ttl = 5);

// Controller-mode options (ownership records on) for `owner_id` against `etcd`.
EngineOptions ControllerOptions(const registrar::testing::EtcdProcess& etcd,
                                const std::string& owner_id);

// A client for writes a test plants itself; ADD_FAILURE and nullptr when it cannot be made.
etcd::ClientPtr OpenClient(const registrar::testing::EtcdProcess& etcd);

// Reads through etcdctl. The key-values come back as etcd::pb::KeyValue (key, value, lease and
// revisions filled from etcdctl's output) so the tests compare them like the engine's own types.
// GetKey: nullopt when the key does not exist or the read failed.
std::optional<etcd::pb::KeyValue> GetKey(const EtcdInspector& etcd, const std::string& key);
// ADD_FAILURE and an empty list when the read failed.
std::vector<etcd::pb::KeyValue> GetPrefix(const EtcdInspector& etcd, const std::string& prefix);
// Remaining TTL of a lease in seconds; -1 when etcd does not know it (revoked or expired), -2 when
// the request failed.
int64_t LeaseTtl(const EtcdInspector& etcd, int64_t lease);
// Every lease etcd knows; nullopt when the request failed.
std::optional<std::vector<int64_t>> Leases(const EtcdInspector& etcd);

std::string RecordKeyOf(const std::string& owner_id, const std::string& full_key);

// One line per registration: id phase reason lease full key message.
std::string Describe(const Engine& engine);
// True when every id in `ids` is Registered.
bool AllRegistered(const Engine& engine, const std::vector<std::string>& ids);

// engine_host: writes `desired` to a JSON file in `dir` and starts the host with ownership
// records on (owner `owner_id`, cluster kCluster). With `mark_complete`, the host calls
// MarkComplete() after its Upserts. It prints "STATE <id> <phase> <reason> lease=<n> key=<k>"
// on every change.
absl::StatusOr<std::unique_ptr<registrar::testing::ChildProcess>> StartHost(
    const registrar::testing::EtcdProcess& etcd, const std::string& owner_id,
    const std::vector<Desired>& desired, bool mark_complete, const std::string& dir);

// Base fixture: a fresh etcd, an inspector reading it, a client for planted writes and a temp
// dir per test; engines made with NewStartedEngine are stopped (without revoking) before etcd
// goes away.
class EngineIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // NewEngine + Start(); ADD_FAILURE and nullptr when Start fails.
  Engine* NewStartedEngine(EngineOptions options);

  std::unique_ptr<registrar::testing::EtcdProcess> etcd_;
  std::unique_ptr<EtcdInspector> inspector_;
  etcd::ClientPtr client_;
  registrar::testing::TempDir temp_dir_{"er-engine"};
  const std::string& dir_ = temp_dir_.path();
  std::vector<EnginePtr> engines_;
};

}  // namespace registrar::publisher::testing
