#include "tests/integration/compat/compat_harness.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

#include "nlohmann/json.hpp"

namespace registrar::testing {
namespace {

constexpr char kValuesPrefix[] = "values ";
constexpr auto kStartTimeout = std::chrono::seconds(15);

std::vector<std::string> Sorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return values;
}

std::string DescribeHistory(const ChildProcess& subscriber) {
  std::vector<std::string> lines;
  for (const auto& set : PrintedValueSets(subscriber)) {
    lines.push_back(Render(set));
  }
  return absl::StrCat("the subscriber printed, oldest first:\n  ",
                      lines.empty() ? "nothing" : absl::StrJoin(lines, "\n  "),
                      "\nits stderr (go-zero's log):\n", subscriber.Stderr());
}

std::unique_ptr<ChildProcess> StartGoZero(const std::vector<std::string>& args,
                                          const std::string& ready_line) {
  const std::string binary = GoZeroBinary();
  if (!std::filesystem::exists(binary)) {
    ADD_FAILURE() << binary
                  << " is missing: run scripts/build-compat.sh (needs Go and the Go module proxy) "
                     "to build the go-zero judge of the compat tests";
    return nullptr;
  }
  auto child = ChildProcess::Start(binary, args);
  if (!child.ok()) {
    ADD_FAILURE() << child.status();
    return nullptr;
  }
  absl::StatusOr<std::string> ready = (*child)->WaitForOutput(ready_line, kStartTimeout);
  if (!ready.ok()) {
    ADD_FAILURE() << (*child)->command_line() << " did not print '" << ready_line
                  << "': " << ready.status();
    return nullptr;
  }
  return *std::move(child);
}

}  // namespace

std::string GoZeroBinary() {
  const char* dir = std::getenv("ER_SOURCE_DIR");
  return absl::StrCat(dir == nullptr ? "." : dir, "/.tools/gozero-compat");
}

std::vector<std::vector<std::string>> PrintedValueSets(const ChildProcess& subscriber) {
  std::vector<std::vector<std::string>> sets;
  for (absl::string_view line : absl::StrSplit(subscriber.Output(), '\n')) {
    if (!absl::StartsWith(line, kValuesPrefix)) {
      continue;
    }
    nlohmann::json parsed = nlohmann::json::parse(line.substr(sizeof(kValuesPrefix) - 1), nullptr,
                                                  /*allow_exceptions=*/false);
    if (!parsed.is_array()) {
      continue;  // a line still being written
    }
    std::vector<std::string> set;
    for (const nlohmann::json& value : parsed) {
      set.push_back(value.is_string() ? value.get<std::string>() : value.dump());
    }
    sets.push_back(Sorted(std::move(set)));
  }
  return sets;
}

std::string Render(const std::vector<std::string>& values) { return nlohmann::json(values).dump(); }

std::unique_ptr<ChildProcess> CompatTest::StartSubscriber(const std::string& key) {
  return StartGoZero({"subscribe", "-endpoints", etcd_->endpoint(), "-key", key}, kValuesPrefix);
}

std::unique_ptr<ChildProcess> CompatTest::StartGoZeroPublisher(const std::string& key,
                                                               const std::string& value,
                                                               int64_t id) {
  std::vector<std::string> args = {"publish", "-endpoints", etcd_->endpoint(), "-key", key,
                                   "-value",  value};
  if (id != 0) {
    args.insert(args.end(), {"-id", std::to_string(id)});
  }
  return StartGoZero(args, "registered");
}

std::unique_ptr<ChildProcess> CompatTest::StartPublish(const std::string& key,
                                                       const std::string& value, int ttl,
                                                       const std::vector<std::string>& extra) {
  std::vector<std::string> args = {
      "publish", "--etcd-endpoints", etcd_->endpoint(), "--key", key, "--value", value,
      "--ttl",   std::to_string(ttl)};
  args.insert(args.end(), extra.begin(), extra.end());
  return StartRegistrar(args);
}

absl::Status CompatTest::WaitForValues(ChildProcess& subscriber, std::vector<std::string> expected,
                                       Duration timeout) {
  expected = Sorted(std::move(expected));
  absl::Status waited = WaitUntil(
      [&](std::string* why) {
        auto sets = PrintedValueSets(subscriber);
        *why = sets.empty() ? "no values line yet" : Render(sets.back());
        return !sets.empty() && sets.back() == expected;
      },
      timeout);
  if (!waited.ok()) {
    return absl::DeadlineExceededError(absl::StrCat("go-zero's Subscriber did not resolve ",
                                                    Render(expected), " in time; ",
                                                    DescribeHistory(subscriber)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredKv>> CompatTest::WaitForStored(const std::string& key,
                                                                std::vector<std::string> expected,
                                                                Duration timeout) {
  expected = Sorted(std::move(expected));
  std::vector<StoredKv> found;
  absl::Status waited = WaitUntil(
      [&](std::string* why) {
        absl::StatusOr<std::vector<StoredKv>> kvs = GetAll(key + "/");
        if (!kvs.ok()) {
          *why = std::string(kvs.status().message());
          return false;
        }
        std::vector<std::string> values;
        for (const StoredKv& kv : *kvs) {
          values.push_back(kv.value);
        }
        *why = Render(values);
        found = *kvs;
        return Sorted(std::move(values)) == expected;
      },
      timeout);
  if (!waited.ok()) {
    return absl::DeadlineExceededError(absl::StrCat("etcd does not hold ", Render(expected),
                                                    " under ", key, "/; last seen ",
                                                    waited.message()));
  }
  return found;
}

absl::StatusOr<LeaseTtl> CompatTest::TimeToLive(int64_t lease) {
  absl::StatusOr<std::string> out =
      etcd_->Etcdctl({"lease", "timetolive", absl::StrFormat("%x", lease), "-w", "json"});
  if (!out.ok()) {
    return out.status();
  }
  nlohmann::json response = nlohmann::json::parse(*out, nullptr, /*allow_exceptions=*/false);
  if (response.is_discarded()) {
    return absl::DataLossError(absl::StrCat("etcdctl lease timetolive output: ", *out));
  }
  return LeaseTtl{.ttl = response.value("ttl", int64_t{-1}),
                  .granted_ttl = response.value("granted-ttl", int64_t{0})};
}

}  // namespace registrar::testing
