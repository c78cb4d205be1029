// Registration engine benchmark (issue 3). Starts its own etcd (--etcd 3.4: Debian's; 3.5 / 3.6:
// .tools/etcd-3.x from scripts/go-tools.sh, found through ER_SOURCE_DIR; free loopback ports,
// temp data dir) and prints, in one run:
//   1. a raw baseline: plain LeaseGrant + Put with 256 requests in flight, same client library;
//   2. engine cold start for each N: time until all are Registered, registrations/s, p50/p99 of
//      Upsert -> Registered per registration;
//   3. holding the largest N for --hold seconds: CPU seconds of this process and RSS;
//   4. optionally (--scale N) registering and holding N for --hold seconds, counting lost leases.
// Usage: engine_bench [--etcd 3.4|3.5|3.6] [--settle auto|on|off] [--n 100,1000,10000] [--hold 60]
//                     [--scale 100000] [--keys 100]
// --settle: the engine's settle writes (publisher/write_scheduler.h, rule 4); auto (the default,
// as in the controller) sends them where the server's version says they help.
// (--hold-child, --endpoint and --etcd-pid are for the child it starts itself.) The environment
// variable ENGINE_BENCH_LOG sets the log level (default warn; debug shows the settle writes).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

#include "bench/bench_common.h"
#include "controller/common/clock.h"
#include "controller/common/logging.h"
#include "controller/etcd/client.h"
#include "controller/publisher/engine.h"
#include "tests/fixtures/etcd_process.h"

namespace {

using registrar::RealClock;
using Clock = std::chrono::steady_clock;
namespace etcd = registrar::etcd;
namespace publisher = registrar::publisher;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

using registrar::bench::LoadAverage;
using registrar::bench::ProcessCpuSeconds;
using registrar::bench::RawBaseline;
using registrar::bench::RevokeAll;

double CpuSeconds() { return registrar::bench::SelfCpuSeconds(); }

long RssKiB() { return registrar::bench::ProcessMemory(0).rss_kib; }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

struct ColdStart {
  double seconds = 0;
  double p50 = 0;
  double p99 = 0;
  int registered = 0;
};

// Upserts n registrations and waits until every one is Registered (or the deadline).
ColdStart RunColdStart(publisher::Engine& engine, int first, int n, int keys,
                       std::chrono::seconds deadline) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Clock::time_point> started(static_cast<size_t>(n));
  std::vector<double> latency;
  latency.reserve(static_cast<size_t>(n));
  std::vector<char> seen(static_cast<size_t>(n), 0);
  engine.SetListener([&](const std::string& id) {
    int i = std::atoi(id.c_str() + 4) - first;  // "reg-<i>"
    if (i < 0 || i >= n) {
      return;
    }
    auto state = engine.Get(id);
    if (!state || state->phase != publisher::Phase::kRegistered) {
      return;
    }
    std::lock_guard<std::mutex> lock(mu);
    if (!seen[static_cast<size_t>(i)]) {
      seen[static_cast<size_t>(i)] = 1;
      latency.push_back(Seconds(Clock::now() - started[static_cast<size_t>(i)]));
      cv.notify_all();
    }
  });
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    publisher::Desired d;
    d.id = "reg-" + std::to_string(first + i);
    d.key = "bench" + std::to_string((first + i) % keys) + ".rpc";
    d.value = "10.1." + std::to_string((first + i) / 250 % 250) + "." +
              std::to_string((first + i) % 250) + ":8080";
    d.ttl = 10;
    d.uid = "uid-" + std::to_string(first + i);
    d.namespace_ = "bench";
    d.name = d.id;
    {
      std::lock_guard<std::mutex> lock(mu);
      started[static_cast<size_t>(i)] = Clock::now();
    }
    engine.Upsert(std::move(d));
  }
  ColdStart r;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_until(lock, t0 + deadline, [&] { return static_cast<int>(latency.size()) == n; });
  r.seconds = Seconds(Clock::now() - t0);
  r.registered = static_cast<int>(latency.size());
  r.p50 = Percentile(latency, 0.50);
  r.p99 = Percentile(latency, 0.99);
  return r;
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(s, ',')) {
    int v = 0;
    if (absl::SimpleAtoi(part, &v) && v > 0) {
      out.push_back(v);
    }
  }
  return out;
}

bool ParseSettle(const std::string& text, publisher::SettleWrites* out) {
  if (text == "auto") {
    *out = publisher::SettleWrites::kAuto;
  } else if (text == "on") {
    *out = publisher::SettleWrites::kOn;
  } else if (text == "off") {
    *out = publisher::SettleWrites::kOff;
  } else {
    return false;
  }
  return true;
}

// The hold phase, in its own process: register n, then measure CPU and RSS while holding them.
int HoldChild(const std::string& endpoint, int n, int hold, int keys, pid_t etcd_pid,
              publisher::SettleWrites settle) {
  publisher::EngineOptions eo;
  eo.settle_writes = settle;
  eo.default_target.endpoints = {endpoint};
  eo.owner_id = "bench";
  eo.cluster = "bench";
  auto engine = publisher::NewEngine(eo, RealClock::Get());
  if (auto s = engine->Start(); !s.ok()) {
    return 1;
  }
  ColdStart r = RunColdStart(*engine, 0, n, keys, std::chrono::seconds(120));
  engine->SetListener(nullptr);
  // Let the registration burst settle (every lease renewed once) before measuring.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  auto stats0 = engine->stats();
  double cpu0 = CpuSeconds();
  double etcd0 = ProcessCpuSeconds(etcd_pid);  // -1 without --etcd-pid
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(hold));
  double cpu = CpuSeconds() - cpu0;
  double etcd_cpu = ProcessCpuSeconds(etcd_pid) - etcd0;
  double wall = Seconds(Clock::now() - t0);
  auto stats1 = engine->stats();
  std::printf(
      "hold N=%d (%d registered in %.2f s) for %.0f s in a fresh process: CPU %.2f s (%.2f %% of "
      "one core), RSS %.1f MiB (anon %.1f, file %.1f), lease losses %lld\n",
      n, r.registered, r.seconds, wall, cpu, 100.0 * cpu / wall,
      static_cast<double>(RssKiB()) / 1024.0,
      static_cast<double>(registrar::bench::ProcessMemory(0).anon_kib) / 1024.0,
      static_cast<double>(registrar::bench::ProcessMemory(0).file_kib) / 1024.0,
      static_cast<long long>(stats1.lease_losses - stats0.lease_losses));
  if (etcd0 >= 0) {
    std::printf("  etcd meanwhile: CPU %.2f s (%.1f %% of one core)\n", etcd_cpu,
                100.0 * etcd_cpu / wall);
  }
  std::fflush(stdout);
  engine->Stop(/*revoke=*/true);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {100, 1000, 10000};
  int hold = 60;
  int scale = 0;
  int keys = 100;
  int hold_child = 0;
  pid_t etcd_pid = 0;
  std::string endpoint;
  std::string etcd_version = "3.4";
  std::string settle_text = "auto";
  publisher::SettleWrites settle = publisher::SettleWrites::kAuto;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--n") {
      sizes = ParseList(value);
    } else if (flag == "--hold") {
      hold = std::atoi(value.c_str());
    } else if (flag == "--scale") {
      scale = std::atoi(value.c_str());
    } else if (flag == "--hold-child") {
      hold_child = std::atoi(value.c_str());
    } else if (flag == "--etcd-pid") {
      etcd_pid = std::atoi(value.c_str());
    } else if (flag == "--endpoint") {
      endpoint = value;
    } else if (flag == "--etcd") {
      etcd_version = value;
    } else if (flag == "--settle") {
      settle_text = value;
      if (!ParseSettle(value, &settle)) {
        std::fprintf(stderr, "--settle %s: want auto, on or off\n", value.c_str());
        return 2;
      }
    } else if (flag == "--keys") {
      keys = std::max(1, std::atoi(value.c_str()));
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  const char* level = std::getenv("ENGINE_BENCH_LOG");  // e.g. debug; default warn
  (void)registrar::SetupLogging(level != nullptr ? level : "warn", registrar::LogFormat::kText);
  // As in controller/main.cc: no lock-order graph on every absl::Mutex::Lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (hold_child > 0) {
    return HoldChild(endpoint, hold_child, hold, keys, etcd_pid, settle);
  }
  std::string command;
  for (int i = 0; i < argc; ++i) {
    command += (i ? " " : "") + std::string(argv[i]);
  }
  std::printf("command: %s\n", command.c_str());
  registrar::testing::EtcdOptions etcd_options;
  etcd_options.version = etcd_version;
  auto etcd_process = registrar::testing::EtcdProcess::Start(etcd_options);
  if (!etcd_process.ok()) {
    std::fprintf(stderr, "cannot start etcd %s: %s\n", etcd_version.c_str(),
                 std::string(etcd_process.status().message()).c_str());
    return 1;
  }
  auto options = (*etcd_process)->client_options();
  auto client = etcd::NewClient(options);
  if (!client.ok()) {
    std::fprintf(stderr, "client: %s\n", std::string(client.status().message()).c_str());
    return 1;
  }
  auto status = (*client)->StatusSync({});
  std::printf(
      "machine: %u cores, load average %s; etcd %s (server says %s) on 127.0.0.1 (fixture "
      "profile); settle writes %s\n",
      std::thread::hardware_concurrency(), LoadAverage().c_str(), etcd_version.c_str(),
      status.ok() ? status->version().c_str() : "?", settle_text.c_str());
  int largest = sizes.empty() ? 0 : *std::max_element(sizes.begin(), sizes.end());

  // 1. Raw baseline at the largest N.
  double raw = 0;
  if (largest > 0) {
    double secs = RawBaseline(**client, largest, 256);
    raw = largest / secs;
    std::printf("raw baseline: %d x (LeaseGrant + Put), 256 in flight: %.2f s, %.0f regs/s\n",
                largest, secs, raw);
    RevokeAll(**client);
  }

  // 2. Engine cold starts.
  double engine_rate_largest = 0;
  for (int n : sizes) {
    publisher::EngineOptions eo;
    eo.settle_writes = settle;
    eo.default_target = options;
    eo.owner_id = "bench";
    eo.cluster = "bench";
    auto engine = publisher::NewEngine(eo, RealClock::Get());
    if (auto s = engine->Start(); !s.ok()) {
      std::fprintf(stderr, "engine: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    ColdStart r = RunColdStart(*engine, 0, n, keys, std::chrono::seconds(120));
    double rate = r.registered / r.seconds;
    std::printf(
        "engine cold start N=%d: %d registered in %.2f s, %.0f regs/s, p50 %.1f ms, p99 %.1f "
        "ms\n",
        n, r.registered, r.seconds, rate, r.p50 * 1e3, r.p99 * 1e3);
    if (n == largest) {
      engine_rate_largest = rate;
    }
    engine->SetListener(nullptr);
    engine->Stop(/*revoke=*/true);
    RevokeAll(**client);
  }
  if (raw > 0 && engine_rate_largest > 0) {
    std::printf("engine / raw at N=%d: %.2f (floor 0.80)\n", largest, engine_rate_largest / raw);
  }
  std::fflush(stdout);

  // 3. Hold the largest N in a fresh process, so CPU and RSS are the engine's alone.
  if (largest > 0 && hold > 0) {
    std::string child = std::string(argv[0]) + " --hold-child " + std::to_string(largest) +
                        " --endpoint " + options.endpoints[0] + " --hold " + std::to_string(hold) +
                        " --keys " + std::to_string(keys) + " --settle " + settle_text +
                        " --etcd-pid " + std::to_string((*etcd_process)->pid());
    if (std::system(child.c_str()) != 0) {
      std::fprintf(stderr, "hold child failed\n");
      return 1;
    }
    RevokeAll(**client);
  }

  // 4. Scale.
  if (scale > 0) {
    publisher::EngineOptions eo;
    eo.settle_writes = settle;
    eo.default_target = options;
    eo.owner_id = "bench";
    eo.cluster = "bench";
    auto engine = publisher::NewEngine(eo, RealClock::Get());
    if (auto s = engine->Start(); !s.ok()) {
      return 1;
    }
    ColdStart r = RunColdStart(*engine, 0, scale, keys, std::chrono::seconds(600));
    std::printf("scale N=%d: %d registered in %.1f s (%.0f regs/s), p50 %.0f ms, p99 %.0f ms\n",
                scale, r.registered, r.seconds, r.registered / r.seconds, r.p50 * 1e3, r.p99 * 1e3);
    auto after_start = engine->stats();
    double cpu0 = CpuSeconds();
    double etcd0 = ProcessCpuSeconds((*etcd_process)->pid());
    auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(hold));
    double wall = Seconds(Clock::now() - t0);
    double cpu = CpuSeconds() - cpu0;
    double etcd_cpu = ProcessCpuSeconds((*etcd_process)->pid()) - etcd0;
    auto stats = engine->stats();
    auto leases = (*client)->LeaseLeasesSync({});
    std::printf(
        "scale N=%d held %d s: lease losses %lld (during registration %lld), re-registrations "
        "%lld, leases in etcd %d\n",
        scale, hold, static_cast<long long>(stats.lease_losses),
        static_cast<long long>(after_start.lease_losses),
        static_cast<long long>(stats.reregistrations), leases.ok() ? leases->leases_size() : -1);
    std::printf("  while holding: this process %.1f %% of one core, etcd %.1f %%\n",
                100.0 * cpu / wall, 100.0 * etcd_cpu / wall);
    engine->SetListener(nullptr);
    engine->Stop(/*revoke=*/false);
  }
  std::printf("load average at the end: %s\n", LoadAverage().c_str());
  return 0;
}
