#include "tests/integration/publish/publish_harness.h"

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"

#include "controller/common/clock.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"

namespace registrar::testing {
namespace {

constexpr auto kProbeInterval = std::chrono::milliseconds(20);

std::string Base64Decode(const nlohmann::json& kv, const char* field) {
  std::string out;
  if (kv.contains(field)) {
    absl::Base64Unescape(kv.at(field).get<std::string>(), &out);
  }
  return out;
}

std::string Describe(const std::vector<StoredKv>& kvs) {
  std::vector<std::string> parts;
  for (const StoredKv& kv : kvs) {
    parts.push_back(absl::StrCat("'", absl::CEscape(kv.key), "'='", absl::CEscape(kv.value),
                                 "' lease ", kv.lease));
  }
  return parts.empty() ? "no keys" : absl::StrJoin(parts, ", ");
}

}  // namespace

TimePoint Now() { return RealClock::Get().Now(); }

double SecondsSince(TimePoint start) {
  return std::chrono::duration<double>(Now() - start).count();
}

void ReportMeasurement(const std::string& what, double seconds) {
  std::cout << "[measure] " << what << ": " << absl::StrFormat("%.2f", seconds) << " s"
            << std::endl;
}

std::string LeaseHex(int64_t lease) {
  return absl::StrCat(absl::Hex(static_cast<uint64_t>(lease)));
}

void PublishHarness::StartEtcd(const EtcdOptions& options) {
  auto etcd = EtcdProcess::Start(options);
  ASSERT_THAT(etcd, IsOk());
  etcd_ = *std::move(etcd);
}

std::vector<std::string> PublishHarness::PublishArgs(const std::string& endpoints,
                                                     const std::string& key,
                                                     const std::string& value,
                                                     const std::vector<std::string>& extra) {
  std::vector<std::string> args = {
      "publish", "--etcd-endpoints",  endpoints, "--key", key, "--value", value,
      "--ttl",   std::to_string(kTtl)};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::unique_ptr<ChildProcess> PublishHarness::StartPublish(const std::vector<std::string>& args) {
  const char* dir = std::getenv("ER_BINARY_DIR");
  if (dir == nullptr) {
    ADD_FAILURE() << "ER_BINARY_DIR is not set; run the test through ctest";
    return nullptr;
  }
  const std::string binary = absl::StrCat(dir, "/etcd-registrar");
  if (!std::filesystem::exists(binary)) {
    ADD_FAILURE() << binary << " does not exist; build the etcd-registrar target first";
    return nullptr;
  }
  auto child = ChildProcess::Start(binary, args);
  if (!child.ok()) {
    ADD_FAILURE() << child.status();
    return nullptr;
  }
  return *std::move(child);
}

absl::StatusOr<std::vector<StoredKv>> PublishHarness::GetAll(const std::string& prefix) {
  absl::StatusOr<std::string> out = etcd_->Etcdctl({"get", prefix, "--prefix", "-w", "json"});
  if (!out.ok()) {
    return out.status();
  }
  std::vector<StoredKv> result;
  try {
    const nlohmann::json response = nlohmann::json::parse(*out);
    if (!response.contains("kvs")) {
      return result;
    }
    for (const nlohmann::json& kv : response.at("kvs")) {
      StoredKv stored;
      stored.key = Base64Decode(kv, "key");
      stored.value = Base64Decode(kv, "value");
      stored.lease = kv.value("lease", int64_t{0});
      stored.create_revision = kv.value("create_revision", int64_t{0});
      stored.mod_revision = kv.value("mod_revision", int64_t{0});
      result.push_back(std::move(stored));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("etcdctl get output: ", e.what(), ": ", *out));
  }
  return result;
}

absl::StatusOr<std::vector<int64_t>> PublishHarness::Leases() {
  absl::StatusOr<std::string> out = etcd_->Etcdctl({"lease", "list", "-w", "json"});
  if (!out.ok()) {
    return out.status();
  }
  std::vector<int64_t> result;
  try {
    const nlohmann::json response = nlohmann::json::parse(*out);
    if (response.contains("leases") && response.at("leases").is_array()) {
      for (const nlohmann::json& lease : response.at("leases")) {
        result.push_back(lease.at("id").get<int64_t>());
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("etcdctl lease list output: ", e.what(), ": ", *out));
  }
  return result;
}

absl::StatusOr<LeaseTtl> PublishHarness::TimeToLive(int64_t lease) {
  absl::StatusOr<std::string> out =
      etcd_->Etcdctl({"lease", "timetolive", LeaseHex(lease), "-w", "json"});
  if (!out.ok()) {
    return out.status();
  }
  try {
    const nlohmann::json response = nlohmann::json::parse(*out);
    LeaseTtl ttl;
    ttl.ttl = response.value("ttl", int64_t{-1});
    ttl.granted_ttl = response.value("granted-ttl", int64_t{0});
    return ttl;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(
        absl::StrCat("etcdctl lease timetolive output: ", e.what(), ": ", *out));
  }
}

absl::StatusOr<StoredKv> PublishHarness::WaitForKey(
    const std::string& prefix, Duration timeout,
    const std::function<bool(const StoredKv&)>& accept) {
  const TimePoint deadline = Now() + timeout;
  std::string last = "nothing read yet";
  while (true) {
    absl::StatusOr<std::vector<StoredKv>> kvs = GetAll(prefix);
    if (kvs.ok()) {
      if (kvs->size() == 1 && (!accept || accept(kvs->front()))) {
        return kvs->front();
      }
      last = Describe(*kvs);
    } else {
      last = std::string(kvs.status().message());
    }
    if (Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("no single acceptable key under '", prefix, "' in time; last seen: ", last));
    }
    std::this_thread::sleep_for(kProbeInterval);
  }
}

absl::Status PublishHarness::WaitForNoKey(const std::string& prefix, Duration timeout) {
  const TimePoint deadline = Now() + timeout;
  std::string last = "nothing read yet";
  while (true) {
    absl::StatusOr<std::vector<StoredKv>> kvs = GetAll(prefix);
    if (kvs.ok()) {
      if (kvs->empty()) {
        return absl::OkStatus();
      }
      last = Describe(*kvs);
    } else {
      last = std::string(kvs.status().message());
    }
    if (Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("keys still under '", prefix, "': ", last));
    }
    std::this_thread::sleep_for(kProbeInterval);
  }
}

void PublishHarness::StopGracefully(ChildProcess& publish, int sig, const std::string& label) {
  const TimePoint start = Now();
  ASSERT_THAT(publish.Signal(sig), IsOk()) << publish.Describe();
  const std::optional<int> code = publish.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value()) << "publish did not exit within 10 s of signal " << sig << "; "
                                << publish.Describe();
  ReportMeasurement(absl::StrCat("exit after signal ", sig, " (", label, ")"), SecondsSince(start));
  EXPECT_EQ(*code, 0) << publish.Describe();
  // Right after exit: the lease is revoked, so its key is gone and no lease is left.
  absl::StatusOr<std::vector<StoredKv>> kvs = GetAll();
  ASSERT_THAT(kvs, IsOk());
  EXPECT_TRUE(kvs->empty()) << "keys left after a graceful stop: " << Describe(*kvs);
  absl::StatusOr<std::vector<int64_t>> leases = Leases();
  ASSERT_THAT(leases, IsOk());
  EXPECT_THAT(*leases, ::testing::IsEmpty()) << "leases left after a graceful stop";
}

}  // namespace registrar::testing
