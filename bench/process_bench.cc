// End-to-end benchmark of the binary in manifest mode (issue 13): `etcd-registrar --manifests DIR`
// as a user runs it, against the raw baseline of the same run.
//
// Flow: writes --n registrations into --files manifest files in a temp folder (--keys key
// prefixes, as engine_bench), starts its own etcd (tests/fixtures/etcd_process.h: --etcd 3.4 is
// Debian's, 3.5 / 3.6 come from .tools/ through ER_SOURCE_DIR; free loopback ports, temp data
// dir), then prints:
//   per --runs:
//   1. the raw baseline: n x (LeaseGrant + Put), 256 in flight (bench_common.h), with etcd's CPU
//      over it (as over the run until all keys are live, below); etcd is then emptied;
//   2. exec of ${ER_BINARY_DIR}/etcd-registrar --manifests DIR (ER_BINARY_DIR defaults
//      to the build folder this bench lives in) and the time until etcd holds all n keys (a
//      count-only Range every 20 ms), its ratio to the raw baseline, then after 4 s of settling
//      the process's CPU (/proc/<pid>/stat) over --hold seconds and its VmRSS / VmHWM; the
//      controller is stopped with SIGTERM and etcd emptied before the next run;
//   then the ratios of all runs and their median (the figure issue 13 sets at <= 1.25);
//   3. with --engine-hold 1 (the default), the engine alone holding n in engine_bench's hold child,
//      for the CPU and RSS figures to compare with in the same run.
// Usage: process_bench [--etcd 3.4|3.5|3.6] [--n 10000] [--files 100] [--keys 100] [--hold 30]
//                      [--runs 1] [--engine-hold 1|0] [--controller-arg ARG]...
//                      [--controller-env NAME=value]...
//                      [--wrapper PROGRAM] [--write-manifests DIR] [--timeline 1]
// --timeline 1 prints, per run, the keys in etcd and the controller's CPU seconds every 0.25 s
// from the exec until all are live.
// --write-manifests DIR writes the manifest files and exits (for profiling by hand).
// --parse-only 1 writes them to a temp folder, reads and parses every file in this process
// (source/manifest_file.h, as the controller's first scan does) --runs times, prints the time per
// document and exits.
// --wrapper PROGRAM runs `PROGRAM etcd-registrar ...` (e.g. heaptrack): the figures are then
// measured on the etcd-registrar process found under the wrapper, and are the wrapper's cost too;
// the process is stopped with SIGKILL, so heaptrack's "leaked" is what it held during the hold.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "bench/bench_common.h"
#include "controller/etcd/client.h"
#include "controller/source/manifest_file.h"
#include "tests/fixtures/child_process.h"
#include "tests/fixtures/controller_process.h"
#include "tests/fixtures/etcd_process.h"

namespace {

namespace etcd = registrar::etcd;
namespace bench = registrar::bench;
using registrar::testing::ChildProcess;
using registrar::testing::ControllerProcess;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double MiB(long kib) { return static_cast<double>(kib) / 1024.0; }

struct Flags {
  std::string etcd_version = "3.4";
  int n = 10000;
  int files = 100;
  int keys = 100;
  int hold = 30;
  int runs = 1;
  bool engine_hold = true;
  std::vector<std::string> controller_args;
  std::vector<std::string> controller_env;  // NAME=value
  std::string wrapper;
  std::string write_manifests;
  bool parse_only = false;
  bool timeline = false;
};

// n registrations, file f holding those i with i % files == f; registration i is "reg-<i>" in
// namespace "bench", key "bench<i % keys>.rpc", a value unique to i.
absl::Status WriteManifests(const std::string& dir, const Flags& flags) {
  std::filesystem::create_directories(dir);
  for (int f = 0; f < flags.files; ++f) {
    std::string text;
    for (int i = f; i < flags.n; i += flags.files) {
      absl::StrAppend(&text, "---\napiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\n",
                      "metadata:\n  name: reg-", i, "\n  namespace: bench\nspec:\n  key: bench",
                      i % flags.keys, ".rpc\n  value: 10.1.", i / 250 % 250, ".", i % 250,
                      ":8080\n  ttlSeconds: 10\n");
    }
    std::ofstream out(absl::StrCat(dir, "/services-", f, ".yaml"));
    out << text;
    if (!out) {
      return absl::InternalError(absl::StrCat("cannot write ", dir));
    }
  }
  return absl::OkStatus();
}

// Keys under "bench" (the registrations' keys; ownership records live under /etcd-registrar/).
int64_t CountKeys(etcd::Client& client) {
  etcd::pb::RangeRequest req;
  req.set_key("bench");
  req.set_range_end(etcd::PrefixRangeEnd("bench"));
  req.set_count_only(true);
  auto r = client.RangeSync(req);
  return r.ok() ? r->count() : -1;
}

void DeleteEverything(etcd::Client& client) {
  etcd::pb::DeleteRangeRequest req;
  req.set_key(std::string(1, '\0'));
  req.set_range_end(std::string(1, '\0'));
  (void)client.DeleteRangeSync(req);
}

// The pid of the etcd-registrar process at or under `root` (a wrapper's descendant); 0: none.
pid_t FindController(pid_t root) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    pid_t pid = std::atoi(entry.path().filename().c_str());
    if (pid <= 0) {
      continue;
    }
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name != "etcd-registrar") {
      continue;
    }
    for (pid_t p = pid; p > 1;) {  // walk up the parents
      if (p == root) {
        return pid;
      }
      std::ifstream status("/proc/" + std::to_string(p) + "/status");
      std::string line;
      pid_t parent = 0;
      while (std::getline(status, line)) {
        if (line.rfind("PPid:", 0) == 0) {
          parent = std::atoi(line.c_str() + 5);
        }
      }
      p = parent;
    }
  }
  return 0;
}

// Seconds since local midnight of a log line's "YYYY-MM-DDTHH:MM:SS.mmm" prefix; -1 if none.
double LineTimeOfDay(const std::string& line) {
  int h = 0;
  int m = 0;
  double sec = 0;
  if (line.size() < 23 || line[10] != 'T' ||
      std::sscanf(line.c_str() + 11, "%2d:%2d:%lf", &h, &m, &sec) != 3) {
    return -1;
  }
  return h * 3600.0 + m * 60.0 + sec;
}

double TimeOfDay(std::chrono::system_clock::time_point t) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm local{};
  localtime_r(&seconds, &local);
  double fraction =
      std::chrono::duration<double>(t - std::chrono::system_clock::from_time_t(seconds)).count();
  return local.tm_hour * 3600.0 + local.tm_min * 60.0 + local.tm_sec + fraction;
}

// The controller's milestones (its log lines naming them), as seconds after the exec.
void PrintMilestones(const std::string& log, double exec_time_of_day) {
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("synced") == std::string::npos &&
        line.find("first complete listing") == std::string::npos &&
        line.find("adopt") == std::string::npos &&
        line.find("first load done") == std::string::npos) {
      continue;
    }
    double at = LineTimeOfDay(line);
    std::printf("  +%.2f s: %s\n", at < 0 ? -1 : at - exec_time_of_day,
                line.substr(std::min<size_t>(line.size(), 24)).c_str());
  }
}

// Reads and parses every file of `dir` as the first scan does; prints the time per document.
bool ParseAll(const std::string& dir, const Flags& flags) {
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  size_t documents = 0;
  double cpu0 = bench::SelfCpuSeconds();
  auto t0 = Clock::now();
  for (const std::string& path : paths) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto parsed = registrar::source::ParseManifestFile(path, text);
    if (!parsed.ok()) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(),
                   std::string(parsed.status().message()).c_str());
      return false;
    }
    documents += parsed->size();
  }
  double wall = Seconds(Clock::now() - t0);
  double cpu = bench::SelfCpuSeconds() - cpu0;
  std::printf(
      "parse %zu documents in %zu files: %.3f s wall, %.3f s CPU, %.1f us CPU per document\n",
      documents, paths.size(), wall, cpu, 1e6 * cpu / static_cast<double>(documents));
  std::fflush(stdout);
  return documents == static_cast<size_t>(flags.n);
}

struct RunResult {
  bool ok = false;
  double seconds = 0;
};

RunResult RunProcess(const Flags& flags, const std::string& dir,
                     registrar::testing::EtcdProcess& etcd_process, etcd::Client& client,
                     double raw_seconds) {
  std::vector<std::string> args = {"--manifests",           dir,          "--etcd-endpoints",
                                   etcd_process.endpoint(), "--owner-id", "bench"};
  args.insert(args.end(), flags.controller_args.begin(), flags.controller_args.end());
  std::unique_ptr<ControllerProcess> controller;
  std::unique_ptr<ChildProcess> wrapped;
  pid_t pid = 0;
  const double etcd_cpu_at_exec = bench::ProcessCpuSeconds(etcd_process.pid());
  const double exec_time_of_day = TimeOfDay(std::chrono::system_clock::now());
  auto t0 = Clock::now();
  if (flags.wrapper.empty()) {
    auto started = ControllerProcess::Start(args, flags.controller_env);
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start the controller: %s\n",
                   std::string(started.status().message()).c_str());
      return {};
    }
    controller = *std::move(started);
    pid = controller->pid();
  } else {
    args.insert(args.begin(), ControllerProcess::BinaryPath());
    args.push_back("--http-addr");
    args.push_back(absl::StrCat("127.0.0.1:", registrar::testing::PickFreePort()));
    auto started = ChildProcess::Start(flags.wrapper, args, flags.controller_env);
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start %s: %s\n", flags.wrapper.c_str(),
                   std::string(started.status().message()).c_str());
      return {};
    }
    wrapped = *std::move(started);
  }
  RunResult result;
  double first_key = -1;
  const auto deadline = t0 + std::chrono::seconds(600);
  int64_t count = 0;
  std::string timeline;  // "seconds:keys/CPU seconds" every 0.25 s, with --timeline 1
  double next_mark = 0.25;
  while (Clock::now() < deadline) {
    count = CountKeys(client);
    const double now = Seconds(Clock::now() - t0);
    if (count > 0 && first_key < 0) {
      first_key = now;
    }
    if (flags.timeline && now >= next_mark) {
      const pid_t observed = pid != 0 ? pid : FindController(wrapped->pid());
      absl::StrAppend(
          &timeline, " ",
          absl::StrFormat("%.2f:%d/%.2f", now, count, bench::ProcessCpuSeconds(observed)));
      next_mark = now + 0.25;
    }
    if (count >= flags.n) {
      result.ok = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  result.seconds = Seconds(Clock::now() - t0);
  if (pid == 0) {
    pid = FindController(wrapped->pid());
  }
  bench::Memory at_live = bench::ProcessMemory(pid);
  const double cpu_at_live = bench::ProcessCpuSeconds(pid);
  const double etcd_cpu_to_live = bench::ProcessCpuSeconds(etcd_process.pid()) - etcd_cpu_at_exec;
  if (!result.ok) {
    std::printf("process: only %lld of %d keys after %.1f s\n", static_cast<long long>(count),
                flags.n, result.seconds);
  } else {
    std::printf(
        "process exec -> all %d keys in etcd: %.2f s (first key at %.2f s); / this run's raw "
        "baseline %.2f; by then CPU %.2f s (etcd %.2f s), RSS %.1f MiB\n",
        flags.n, result.seconds, first_key, result.seconds / raw_seconds, cpu_at_live,
        etcd_cpu_to_live, MiB(at_live.rss_kib));
  }
  if (flags.timeline) {
    std::printf("  timeline (s:keys in etcd/controller CPU s):%s\n", timeline.c_str());
  }
  std::fflush(stdout);
  if (result.ok && flags.hold > 0) {
    std::this_thread::sleep_for(std::chrono::seconds(4));  // every lease renewed once
    double cpu0 = bench::ProcessCpuSeconds(pid);
    double etcd0 = bench::ProcessCpuSeconds(etcd_process.pid());
    auto h0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(flags.hold));
    double wall = Seconds(Clock::now() - h0);
    double cpu = bench::ProcessCpuSeconds(pid) - cpu0;
    double etcd_cpu = bench::ProcessCpuSeconds(etcd_process.pid()) - etcd0;
    bench::Memory m = bench::ProcessMemory(pid);
    std::printf(
        "process hold %d for %.0f s: CPU %.2f s (%.2f %% of one core), VmRSS %.1f MiB (anon %.1f, "
        "file %.1f), VmHWM %.1f MiB, keys still in etcd %lld\n  etcd meanwhile: CPU %.2f s (%.1f "
        "%% of one core)\n",
        flags.n, wall, cpu, 100.0 * cpu / wall, MiB(m.rss_kib), MiB(m.anon_kib), MiB(m.file_kib),
        MiB(m.hwm_kib), static_cast<long long>(CountKeys(client)), etcd_cpu,
        100.0 * etcd_cpu / wall);
    std::fflush(stdout);
  }
  if (controller != nullptr) {
    PrintMilestones(controller->Log(), exec_time_of_day);
    std::fflush(stdout);
    auto code = controller->Terminate(std::chrono::seconds(60));
    if (!code.ok()) {
      std::fprintf(stderr, "controller did not stop on SIGTERM: %s\n",
                   controller->Describe().c_str());
    }
  } else {
    if (pid > 0) {
      // SIGKILL: what heaptrack then reports as leaked is what the process held during the hold.
      kill(pid, SIGKILL);
    }
    if (!wrapped->Wait(std::chrono::seconds(300)).has_value()) {
      std::fprintf(stderr, "wrapper did not stop: %s\n", wrapped->Describe().c_str());
    }
    std::printf("wrapper output:\n%s\n", wrapped->Output().c_str());
  }
  bench::RevokeAll(client);
  DeleteEverything(client);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--etcd") {
      flags.etcd_version = value;
    } else if (flag == "--n") {
      flags.n = std::atoi(value.c_str());
    } else if (flag == "--files") {
      flags.files = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--keys") {
      flags.keys = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--hold") {
      flags.hold = std::atoi(value.c_str());
    } else if (flag == "--runs") {
      flags.runs = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--engine-hold") {
      flags.engine_hold = value != "0";
    } else if (flag == "--controller-env") {
      flags.controller_env.push_back(value);
    } else if (flag == "--controller-arg") {
      flags.controller_args.push_back(value);
    } else if (flag == "--wrapper") {
      flags.wrapper = value;
    } else if (flag == "--parse-only") {
      flags.parse_only = value != "0";
    } else if (flag == "--timeline") {
      flags.timeline = value != "0";
    } else if (flag == "--write-manifests") {
      flags.write_manifests = value;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (!flags.write_manifests.empty()) {
    auto s = WriteManifests(flags.write_manifests, flags);
    std::printf("%s\n", s.ok() ? "written" : std::string(s.message()).c_str());
    return s.ok() ? 0 : 1;
  }
  const std::string bench_dir = std::filesystem::absolute(argv[0]).parent_path().string();
  setenv("ER_BINARY_DIR", std::filesystem::path(bench_dir).parent_path().c_str(), 0);
  std::string command;
  for (int i = 0; i < argc; ++i) {
    command += (i ? " " : "") + std::string(argv[i]);
  }
  std::printf("command: %s\n", command.c_str());

  char dir_template[] = "/tmp/process_bench.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = dir_template;
  if (auto s = WriteManifests(dir, flags); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (flags.parse_only) {
    int failed = 0;
    for (int run = 0; run < flags.runs; ++run) {
      failed += ParseAll(dir, flags) ? 0 : 1;
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    return failed == 0 ? 0 : 1;
  }
  registrar::testing::EtcdOptions etcd_options;
  etcd_options.version = flags.etcd_version;
  auto etcd_process = registrar::testing::EtcdProcess::Start(etcd_options);
  if (!etcd_process.ok()) {
    std::fprintf(stderr, "cannot start etcd %s: %s\n", flags.etcd_version.c_str(),
                 std::string(etcd_process.status().message()).c_str());
    return 1;
  }
  auto client = etcd::NewClient((*etcd_process)->client_options());
  if (!client.ok()) {
    std::fprintf(stderr, "client: %s\n", std::string(client.status().message()).c_str());
    return 1;
  }
  auto status = (*client)->StatusSync({});
  std::printf(
      "machine: %u cores, load average %s; etcd %s (server says %s); %d registrations in %d "
      "files under %s, %d key prefixes; binary %s\n",
      std::thread::hardware_concurrency(), bench::LoadAverage().c_str(), flags.etcd_version.c_str(),
      status.ok() ? status->version().c_str() : "?", flags.n, flags.files, dir.c_str(), flags.keys,
      ControllerProcess::BinaryPath().c_str());

  // A raw baseline right before each run, on the same etcd in the same state (emptied, with the
  // history of the runs before): the baseline moves by 2-3x between minutes on a shared machine,
  // so each run is compared with its own, and the median of those ratios is the figure.
  int failed = 0;
  std::vector<double> ratios;
  for (int run = 0; run < flags.runs; ++run) {
    const double etcd_before_raw = bench::ProcessCpuSeconds((*etcd_process)->pid());
    const double raw = bench::RawBaseline(**client, flags.n, 256);
    std::printf(
        "run %d: raw baseline: %d x (LeaseGrant + Put), 256 in flight: %.2f s, %.0f regs/s; etcd "
        "CPU %.2f s\n",
        run + 1, flags.n, raw, flags.n / raw,
        bench::ProcessCpuSeconds((*etcd_process)->pid()) - etcd_before_raw);
    std::fflush(stdout);
    bench::RevokeAll(**client);
    DeleteEverything(**client);
    RunResult result = RunProcess(flags, dir, **etcd_process, **client, raw);
    if (!result.ok) {
      ++failed;
    } else {
      ratios.push_back(result.seconds / raw);
    }
  }
  if (!ratios.empty()) {
    std::string list;
    for (double r : ratios) {
      absl::StrAppend(&list, list.empty() ? "" : ", ", absl::StrFormat("%.2f", r));
    }
    std::vector<double> sorted = ratios;
    std::sort(sorted.begin(), sorted.end());
    const size_t mid = sorted.size() / 2;
    const double median =
        sorted.size() % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    std::printf(
        "exec -> all live / raw baseline of the same run, %zu run(s): %s; median %.2f (target "
        "<= 1.25)\n",
        ratios.size(), list.c_str(), median);
  }

  if (flags.engine_hold && flags.hold > 0) {
    std::string child =
        absl::StrCat(bench_dir, "/engine_bench --hold-child ", flags.n, " --endpoint ",
                     (*etcd_process)->endpoint(), " --hold ", flags.hold, " --keys ", flags.keys,
                     " --settle auto --etcd-pid ", (*etcd_process)->pid());
    std::printf("engine alone (engine_bench's hold child, same etcd): ");
    std::fflush(stdout);
    if (std::system(child.c_str()) != 0) {
      std::fprintf(stderr, "engine hold child failed\n");
      ++failed;
    }
    bench::RevokeAll(**client);
  }
  std::printf("load average at the end: %s\n", bench::LoadAverage().c_str());
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return failed == 0 ? 0 : 1;
}
