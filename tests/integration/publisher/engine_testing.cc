#include "tests/integration/publisher/engine_testing.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "controller/publisher/records.h"
#include "nlohmann/json.hpp"

namespace registrar::publisher::testing {

namespace pb = etcd::pb;

Desired MakeDesired(const std::string& name, const std::string& key, int64_t key_id,
                    const std::string& value, int64_t ttl) {
  Desired d;
  d.id = "ns/" + name;
  d.key = key;
  d.value = value;
  d.key_id = key_id;
  d.ttl = ttl;
  d.uid = "uid-" + name;
  d.namespace_ = "ns";
  d.name = name;
  return d;
}

EngineOptions ControllerOptions(const registrar::testing::EtcdProcess& etcd,
                                const std::string& owner_id) {
  EngineOptions o;
  o.default_target = etcd.client_options();
  o.ownership_records = true;
  o.owner_prefix = kOwnerPrefix;
  o.owner_id = owner_id;
  o.cluster = kCluster;
  return o;
}

etcd::ClientPtr OpenClient(const registrar::testing::EtcdProcess& etcd) {
  auto client = etcd::NewClient(etcd.client_options());
  if (!client.ok()) {
    ADD_FAILURE() << "cannot make an etcd client: " << client.status();
    return nullptr;
  }
  return *std::move(client);
}

namespace {

pb::KeyValue ToKeyValue(const registrar::testing::StoredKv& stored) {
  pb::KeyValue kv;
  kv.set_key(stored.key);
  kv.set_value(stored.value);
  kv.set_lease(stored.lease);
  kv.set_create_revision(stored.create_revision);
  kv.set_mod_revision(stored.mod_revision);
  kv.set_version(stored.version);
  return kv;
}

}  // namespace

std::optional<pb::KeyValue> GetKey(const EtcdInspector& etcd, const std::string& key) {
  auto stored = etcd.GetKey(key);
  if (!stored.ok() || !stored->has_value()) {
    return std::nullopt;
  }
  return ToKeyValue(**stored);
}

std::vector<pb::KeyValue> GetPrefix(const EtcdInspector& etcd, const std::string& prefix) {
  auto stored = etcd.Get(prefix);
  if (!stored.ok()) {
    ADD_FAILURE() << "get --prefix " << prefix << ": " << stored.status();
    return {};
  }
  std::vector<pb::KeyValue> out;
  for (const auto& kv : *stored) {
    out.push_back(ToKeyValue(kv));
  }
  return out;
}

int64_t LeaseTtl(const EtcdInspector& etcd, int64_t lease) {
  auto info = etcd.TimeToLive(lease);
  if (!info.ok()) {
    return -2;
  }
  return info->ttl <= 0 ? -1 : info->ttl;
}

std::optional<std::vector<int64_t>> Leases(const EtcdInspector& etcd) {
  auto leases = etcd.Leases();
  if (!leases.ok()) {
    return std::nullopt;
  }
  return *std::move(leases);
}

std::string RecordKeyOf(const std::string& owner_id, const std::string& full_key) {
  return RecordKey(kOwnerPrefix, owner_id, full_key);
}

std::string Describe(const Engine& engine) {
  std::string out;
  for (const State& s : engine.List()) {
    absl::StrAppend(&out, s.id, " ", PhaseName(s.phase), " ", CauseName(s.cause),
                    " lease=", s.lease_id, " key=", s.full_key, " ttl=", s.granted_ttl,
                    s.message.empty() ? "" : " msg=", s.message, "\n");
  }
  return out;
}

bool AllRegistered(const Engine& engine, const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    auto s = engine.Get(id);
    if (!s || s->phase != Phase::kRegistered) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::unique_ptr<registrar::testing::ChildProcess>> StartHost(
    const registrar::testing::EtcdProcess& etcd, const std::string& owner_id,
    const std::vector<Desired>& desired, bool mark_complete, const std::string& dir) {
  nlohmann::json regs = nlohmann::json::array();
  for (const Desired& d : desired) {
    regs.push_back({{"id", d.id},
                    {"uid", d.uid},
                    {"namespace", d.namespace_},
                    {"name", d.name},
                    {"key", d.key},
                    {"value", d.value},
                    {"key_id", d.key_id},
                    {"ttl", d.ttl},
                    {"paused", d.paused}});
  }
  std::string path = absl::StrCat(dir, "/desired-", owner_id, "-", desired.size(), ".json");
  std::ofstream(path) << regs.dump(2);
  std::vector<std::string> args = {"--endpoint", etcd.endpoint(), "--owner-id", owner_id,
                                   "--cluster",  kCluster,        "--desired",  path};
  if (mark_complete) {
    args.push_back("--mark-complete");
  }
  // Found through the build dir ctest passes (a compile-time absolute path would keep ccache
  // from hitting in a clone in another folder).
  const char* build_dir = std::getenv("ER_BINARY_DIR");
  return registrar::testing::ChildProcess::Start(
      absl::StrCat(build_dir == nullptr ? "." : build_dir, "/tests/integration/publisher/engine_host"),
      args);
}

void EngineIntegrationTest::SetUp() {
  auto etcd = registrar::testing::EtcdProcess::Start();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  etcd_ = *std::move(etcd);
  inspector_ = std::make_unique<EtcdInspector>(*etcd_);
  client_ = OpenClient(*etcd_);
  ASSERT_NE(client_, nullptr);
  ASSERT_FALSE(dir_.empty());
}

void EngineIntegrationTest::TearDown() {
  for (auto& engine : engines_) {
    engine->Stop(/*revoke=*/false);
  }
  engines_.clear();
  client_.reset();
  inspector_.reset();
  etcd_.reset();
}

Engine* EngineIntegrationTest::NewStartedEngine(EngineOptions options) {
  auto engine = NewEngine(std::move(options), RealClock::Get());
  if (auto status = engine->Start(); !status.ok()) {
    ADD_FAILURE() << "engine start: " << status;
    return nullptr;
  }
  engines_.push_back(std::move(engine));
  return engines_.back().get();
}

}  // namespace registrar::publisher::testing
