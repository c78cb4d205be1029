#include "bench/bench_common.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace registrar::bench {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

double RawBaseline(etcd::Client& client, int n, int in_flight) {
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  int done = 0;
  int active = 0;
  int failures = 0;
  auto t0 = Clock::now();
  std::function<void()> launch;
  launch = [&] {
    // REQUIRES: mu held.
    while (active < in_flight && started < n) {
      int i = started++;
      ++active;
      etcd::pb::LeaseGrantRequest grant;
      grant.set_ttl(10);
      client.LeaseGrant(grant, [&, i](absl::StatusOr<etcd::pb::LeaseGrantResponse> g) {
        if (!g.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          ++failures;
          ++done;
          --active;
          launch();
          cv.notify_all();
          return;
        }
        etcd::pb::PutRequest put;
        put.set_key("raw.rpc/" + std::to_string(g->id()));
        put.set_value("10.0.0." + std::to_string(i % 250) + ":8080");
        put.set_lease(g->id());
        client.Put(put, [&](absl::StatusOr<etcd::pb::PutResponse> p) {
          std::lock_guard<std::mutex> lock(mu);
          if (!p.ok()) {
            ++failures;
          }
          ++done;
          --active;
          launch();
          cv.notify_all();
        });
      });
    }
  };
  {
    std::unique_lock<std::mutex> lock(mu);
    launch();
    cv.wait(lock, [&] { return done == n; });
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failures > 0) {
    std::printf("  raw baseline: %d failures\n", failures);
  }
  return secs;
}

// A flood of revokes makes etcd answer "too many requests" and leaves the rest to expire later,
// in the middle of the next measurement: hence 256 at a time, and again until none is listed.
void RevokeAll(etcd::Client& client) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    auto leases = client.LeaseLeasesSync({});
    if (!leases.ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (leases->leases_size() == 0) {
      return;
    }
    std::mutex mu;
    std::condition_variable cv;
    int in_flight = 0;
    for (const auto& l : leases->leases()) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < 256; });
      ++in_flight;
      lock.unlock();
      etcd::pb::LeaseRevokeRequest req;
      req.set_id(l.id());
      client.LeaseRevoke(req, [&](auto) {
        std::lock_guard<std::mutex> done(mu);
        --in_flight;
        cv.notify_all();
      });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  std::fprintf(stderr, "RevokeAll: leases still listed after 60 s\n");
}

double ProcessCpuSeconds(pid_t pid) {
  if (pid <= 0) {
    return -1;
  }
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');  // the command name may contain spaces
  if (close == std::string::npos || close + 2 > stat.size()) {
    return -1;
  }
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
  long utime = 0;
  long stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

Memory ProcessMemory(pid_t pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : "/proc/" + std::to_string(pid) + "/status");
  Memory m;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      m.rss_kib = std::strtol(line.c_str() + 6, nullptr, 10);
    } else if (line.rfind("VmHWM:", 0) == 0) {
      m.hwm_kib = std::strtol(line.c_str() + 6, nullptr, 10);
    } else if (line.rfind("RssAnon:", 0) == 0) {
      m.anon_kib = std::strtol(line.c_str() + 8, nullptr, 10);
    } else if (line.rfind("RssFile:", 0) == 0) {
      m.file_kib = std::strtol(line.c_str() + 8, nullptr, 10);
    }
  }
  return m;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  std::string five;
  std::string fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

}  // namespace registrar::bench
