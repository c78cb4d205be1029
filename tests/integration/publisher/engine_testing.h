// File: tests/integration/publisher/engine_testing.h
//
// Helpers shared by the registration engine's integration tests (real etcd): desired
// registrations, engine options, direct etcd reads through our own client (keys, leases, remaining
// TTL), polling with a deadline, the engine_host child process (an engine that can be SIGKILLed)
// and a dump of the engine's states for failure messages.
//
// Flow: a test starts an EtcdProcess, opens a Client with OpenClient() for direct checks, runs an
// engine in-process (NewEngine) or as a host (StartHost), and polls etcd/Get() with Eventually().
// Thread-safety: the functions keep no state; a Client may be shared between threads.
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
#include "tests/fixtures/etcd_process.h"

namespace registrar::publisher::testing {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline constexpr char kOwnerPrefix[] = "/etcd-registrar/owners/";
inline constexpr char kCluster[] = "test-cluster";

// Polls `cond` every `step` until it holds (true) or `timeout` passes (false).
bool Eventually(const std::function<bool()>& cond, Steady::duration timeout,
                Steady::duration step = milliseconds(20));

// A registration of resource "ns/<name>" with uid "uid-<name>".
Desired MakeDesired(const std::string& name, const std::string& key, int64_t key_id,
                    const std::string& value, int64_t ttl = 5);

// Controller-mode options (ownership records on) for `owner_id` against `etcd`.
EngineOptions ControllerOptions(const registrar::testing::EtcdProcess& etcd,
                                const std::string& owner_id);

// A direct client for checks; aborts the test (ADD_FAILURE + nullptr) when it cannot be made.
etcd::ClientPtr OpenClient(const registrar::testing::EtcdProcess& etcd);

std::optional<etcd::pb::KeyValue> GetKey(etcd::Client& client, const std::string& key);
std::vector<etcd::pb::KeyValue> GetPrefix(etcd::Client& client, const std::string& prefix);
// Remaining TTL of a lease in seconds; -1 when etcd does not know it (revoked or expired), -2 when
// the request failed.
int64_t LeaseTtl(etcd::Client& client, int64_t lease);
// Every lease etcd knows; nullopt when the request failed.
std::optional<std::vector<int64_t>> Leases(etcd::Client& client);

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

// A fresh temp dir (removed by the caller's RemoveDir).
std::string MakeTempDir();
void RemoveDir(const std::string& dir);

// Base fixture: a fresh etcd, a direct client and a temp dir per test; engines made with
// NewStartedEngine are stopped (without revoking) before etcd goes away.
class EngineIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // NewEngine + Start(); ADD_FAILURE and nullptr when Start fails.
  Engine* NewStartedEngine(EngineOptions options);

  std::unique_ptr<registrar::testing::EtcdProcess> etcd_;
  etcd::ClientPtr client_;
  std::string dir_;
  std::vector<EnginePtr> engines_;
};

}  // namespace registrar::publisher::testing
