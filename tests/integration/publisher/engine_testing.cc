#include "tests/integration/publisher/engine_testing.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "controller/publisher/records.h"
#include "nlohmann/json.hpp"

namespace registrar::publisher::testing {

namespace pb = etcd::pb;

bool Eventually(const std::function<bool()>& cond, Steady::duration timeout,
                Steady::duration step) {
  const auto deadline = Steady::now() + timeout;
  while (!cond()) {
    if (Steady::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(step);
  }
  return true;
}

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

std::optional<pb::KeyValue> GetKey(etcd::Client& client, const std::string& key) {
  pb::RangeRequest req;
  req.set_key(key);
  auto r = client.RangeSync(std::move(req));
  if (!r.ok() || r->kvs_size() == 0) {
    return std::nullopt;
  }
  return r->kvs(0);
}

std::vector<pb::KeyValue> GetPrefix(etcd::Client& client, const std::string& prefix) {
  pb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(etcd::PrefixRangeEnd(prefix));
  auto r = client.RangeSync(std::move(req));
  if (!r.ok()) {
    ADD_FAILURE() << "range " << prefix << ": " << r.status();
    return {};
  }
  return {r->kvs().begin(), r->kvs().end()};
}

int64_t LeaseTtl(etcd::Client& client, int64_t lease) {
  pb::LeaseTimeToLiveRequest req;
  req.set_id(lease);
  auto r = client.LeaseTimeToLiveSync(std::move(req));
  if (!r.ok()) {
    return absl::IsNotFound(r.status()) ? -1 : -2;
  }
  return r->ttl() <= 0 ? -1 : r->ttl();
}

std::optional<std::vector<int64_t>> Leases(etcd::Client& client) {
  auto r = client.LeaseLeasesSync(pb::LeaseLeasesRequest{});
  if (!r.ok()) {
    return std::nullopt;
  }
  std::vector<int64_t> out;
  for (const auto& l : r->leases()) {
    out.push_back(l.id());
  }
  return out;
}

std::string RecordKeyOf(const std::string& owner_id, const std::string& full_key) {
  return RecordKey(kOwnerPrefix, owner_id, full_key);
}

std::string Describe(const Engine& engine) {
  std::string out;
  for (const State& s : engine.List()) {
    absl::StrAppend(&out, s.id, " ", PhaseName(s.phase), " ", CauseName(s.cause), " lease=", s.lease_id,
                    " key=", s.full_key, " ttl=", s.granted_ttl,
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
  return registrar::testing::ChildProcess::Start(ER_ENGINE_HOST, args);
}

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "er-engine-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
  }
  return tmpl;
}

void RemoveDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

void EngineIntegrationTest::SetUp() {
  auto etcd = registrar::testing::EtcdProcess::Start();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  etcd_ = *std::move(etcd);
  client_ = OpenClient(*etcd_);
  ASSERT_NE(client_, nullptr);
  dir_ = MakeTempDir();
}

void EngineIntegrationTest::TearDown() {
  for (auto& engine : engines_) {
    engine->Stop(/*revoke=*/false);
  }
  engines_.clear();
  client_.reset();
  etcd_.reset();
  RemoveDir(dir_);
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
