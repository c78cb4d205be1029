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
#include "tests/testing/wait.h"

namespace registrar::testing {
namespace {

constexpr auto kProbeInterval = std::chrono::milliseconds(20);

}  // namespace

TimePoint Now() { return RealClock::Get().Now(); }

double SecondsSince(TimePoint start) {
  return std::chrono::duration<double>(Now() - start).count();
}

void ReportMeasurement(const std::string& what, double seconds) {
  std::cout << "[measure] " << what << ": " << absl::StrFormat("%.2f", seconds) << " s"
            << std::endl;
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

absl::StatusOr<StoredKv> PublishHarness::WaitForKey(
    const std::string& prefix, Duration timeout,
    const std::function<bool(const StoredKv&)>& accept) {
  std::string last = "nothing read yet";
  StoredKv found;
  const bool seen = WaitFor(
      [&] {
        absl::StatusOr<std::vector<StoredKv>> kvs = GetAll(prefix);
        if (!kvs.ok()) {
          last = std::string(kvs.status().message());
          return false;
        }
        last = Describe(*kvs);
        if (kvs->size() != 1 || (accept && !accept(kvs->front()))) {
          return false;
        }
        found = kvs->front();
        return true;
      },
      timeout, kProbeInterval);
  if (!seen) {
    return absl::DeadlineExceededError(
        absl::StrCat("no single acceptable key under '", prefix, "' in time; last seen: ", last));
  }
  return found;
}

absl::Status PublishHarness::WaitForNoKey(const std::string& prefix, Duration timeout) {
  std::string last = "nothing read yet";
  const bool gone = WaitFor(
      [&] {
        absl::StatusOr<std::vector<StoredKv>> kvs = GetAll(prefix);
        if (!kvs.ok()) {
          last = std::string(kvs.status().message());
          return false;
        }
        last = Describe(*kvs);
        return kvs->empty();
      },
      timeout, kProbeInterval);
  if (!gone) {
    return absl::DeadlineExceededError(absl::StrCat("keys still under '", prefix, "': ", last));
  }
  return absl::OkStatus();
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
