// Kubernetes-mode benchmark (issue 11). Starts the real control plane (kube-apiserver 1.34 + etcd
// 3.6, tests/fixtures/kube_control_plane.h), applies crds/, starts an etcd for the registrations
// (Debian's 3.4, fixture profile), puts the fault proxy (tests/fixtures/kube_fault_proxy.h) in
// front of the API server only to log every request the controller makes, and runs the built
// etcd-registrar in Kubernetes mode (tests/fixtures/controller_process.h) with a token of the
// deploy/rbac ServiceAccount. It prints, in one run:
//   1. baseline: N ServiceRegistrations created with no controller running, `kubectl apply
//      --server-side` of one multi-document file per namespace, --apply-workers files at a time
//      (one PATCH per object): creates/s;
//   2. cold start: the controller started on those N existing objects; time from its start until
//      every one is Ready=True with observedGeneration == generation (a list per second through
//      the admin kubeconfig, not through the proxy);
//   3. created while running: N more created the same way into other namespaces while the
//      controller runs (it holds the first N); time from the first create until all are Ready;
//   4. API requests per resource by kind (from the proxy's log), status writes per object against
//      the status changes a watch saw (`kubectl get --watch`, admin), and the writes during
//      --idle seconds after all Ready (expected 0);
//   5. etcd: keys and ownership records under the prefixes, leases;
//   6. the controller's CPU seconds and RSS (from /proc/<pid>) per phase, the API server's and the
//      registration etcd's CPU beside them.
// Usage: kube_bench [--n 2000] [--namespaces 20] [--idle 30] [--apply-workers 4] [--direct]
//                   [--timeout 900] [--controller-arg ARG]... [--controller-env NAME=VALUE]...
// --controller-env sets a variable for the cold-start process only (not the restart), e.g.
// heaptrack's LD_PRELOAD and DUMP_HEAPTRACK_OUTPUT=<fifo> (bench/README.md, Kubernetes mode).
// Needs the Go tools (scripts/install-tools.sh) and the etcd-registrar target; ER_SOURCE_DIR and
// ER_BINARY_DIR default to the build folder this binary lives in (build/bench/..).
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

#include "tests/fixtures/controller_process.h"
#include "tests/fixtures/etcd_inspector.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/fixtures/kube_control_plane.h"
#include "tests/fixtures/kube_fault_proxy.h"
#include "tests/testing/temp_dir.h"

namespace {

namespace t = registrar::testing;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr char kOwnerId[] = "bench";
constexpr char kOwnerPrefix[] = "/etcd-registrar/owners/";

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string LoadAverage() {
  std::vector<std::string> f = absl::StrSplit(ReadAll("/proc/loadavg"), ' ');
  return f.size() >= 3 ? absl::StrCat(f[0], " ", f[1], " ", f[2]) : "?";
}

// CPU seconds (user + system) of a process, from /proc/<pid>/stat; -1 when unreadable.
double ProcessCpuSeconds(pid_t pid) {
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');  // the command name may contain spaces
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  long utime = 0;
  long stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A field of /proc/<pid>/status as a number ("VmRSS:" in kB, "Threads:"); -1 when unreadable.
long StatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      return std::strtol(line.c_str() + field.size(), nullptr, 10);
    }
  }
  return -1;
}

// A "VmRSS:"-style field of /proc/<pid>/status in MiB; -1 when unreadable.
double ProcessMemMiB(pid_t pid, const std::string& field) {
  long kb = StatusField(pid, field);
  return kb < 0 ? -1 : static_cast<double>(kb) / 1024.0;
}

// The controller's memory in one line: VmRSS (VmHWM), RssAnon, RssFile, threads, open sockets.
std::string MemoryLine(pid_t pid) {
  int sockets = 0;
  std::error_code error;
  for (const auto& fd :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
    std::filesystem::path target = std::filesystem::read_symlink(fd.path(), error);
    if (!error && absl::StartsWith(target.string(), "socket:")) ++sockets;
  }
  return absl::StrFormat("VmRSS %.1f MiB (VmHWM %.1f), RssAnon %.1f, RssFile %.1f, %d threads, "
                         "%d sockets",
                         ProcessMemMiB(pid, "VmRSS:"), ProcessMemMiB(pid, "VmHWM:"),
                         ProcessMemMiB(pid, "RssAnon:"), ProcessMemMiB(pid, "RssFile:"),
                         StatusField(pid, "Threads:"), sockets);
}

// ER_BINARY_DIR / ER_SOURCE_DIR for the fixtures, when not set: the build folder above this
// binary, and the source folder its CMakeCache.txt names.
void DefaultFixtureEnvironment() {
  std::error_code error;
  std::filesystem::path build =
      std::filesystem::read_symlink("/proc/self/exe", error).parent_path().parent_path();
  setenv("ER_BINARY_DIR", build.c_str(), /*overwrite=*/0);
  std::ifstream cache(build / "CMakeCache.txt");
  std::string line;
  const std::string key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
  while (std::getline(cache, line)) {
    if (line.rfind(key, 0) == 0) setenv("ER_SOURCE_DIR", line.substr(key.size()).c_str(), 0);
  }
}

// --- The objects -------------------------------------------------------------------------------

std::string NamespaceName(char set, int i) { return absl::StrFormat("kb-%c-%02d", set, i); }

// One multi-document file per namespace: objects i with i % namespaces == ns_index.
std::vector<std::string> WriteSet(const std::string& dir, char set, int n, int namespaces) {
  std::vector<std::string> files;
  for (int k = 0; k < namespaces; ++k) {
    std::string yaml;
    for (int i = k; i < n; i += namespaces) {
      absl::StrAppend(&yaml, "---\napiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\n",
                      "metadata:\n  name: sr-", i, "\n  namespace: ", NamespaceName(set, k),
                      "\n  labels:\n    kbench/set: \"", std::string(1, set), "\"\n",
                      "spec:\n  key: kbench.", std::string(1, set), ".svc", i % 100, ".rpc\n",
                      "  value: 10.", set == 'a' ? 1 : 2, ".", i / 250, ".", i % 250, ":8080\n");
    }
    files.push_back(absl::StrCat(dir, "/set-", std::string(1, set), "-", k, ".yaml"));
    std::ofstream(files.back()) << yaml;
  }
  return files;
}

// Applies the files, `workers` kubectl processes at a time; returns the seconds it took.
double ApplyFiles(const t::KubeControlPlane& plane, const std::vector<std::string>& files,
                  int workers, std::atomic<int>* failures) {
  std::atomic<size_t> next{0};
  auto t0 = Clock::now();
  {
    std::vector<std::jthread> pool;
    for (int w = 0; w < workers; ++w) {
      pool.emplace_back([&] {
        for (size_t i = next++; i < files.size(); i = next++) {
          auto out = plane.Kubectl({"apply", "--server-side", "-f", files[i]});
          if (!out.ok()) {
            ++*failures;
            std::fprintf(stderr, "apply %s: %s\n", files[i].c_str(),
                         std::string(out.status().message()).c_str());
          }
        }
      });
    }
  }
  return Seconds(Clock::now() - t0);
}

struct ReadyCount {
  int total = 0;
  int ready = 0;
};

// One list of the set through the admin kubeconfig (directly, not through the proxy).
ReadyCount PollReady(const t::KubeControlPlane& plane, char set) {
  auto out = plane.Kubectl(
      {"get", "sreg", "-A", "-l", absl::StrCat("kbench/set=", std::string(1, set)), "-o",
       "jsonpath={range .items[*]}{.metadata.generation}|{.status.observedGeneration}|"
       "{.status.phase}|{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}"});
  ReadyCount c;
  if (!out.ok()) return c;
  for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, '|');
    ++c.total;
    if (f.size() == 4 && !f[0].empty() && f[0] == f[1] && f[2] == "Registered" && f[3] == "True") {
      ++c.ready;
    }
  }
  return c;
}

// Polls once a second (start to start) from `t0` until all `n` of the set are Ready; the
// seconds from t0, or -1 at the timeout.
double WaitAllReady(const t::KubeControlPlane& plane, char set, int n, Clock::time_point t0,
                    double timeout_s) {
  int polls = 0;
  while (Seconds(Clock::now() - t0) < timeout_s) {
    auto started = Clock::now();
    ReadyCount c = PollReady(plane, set);
    double at = Seconds(Clock::now() - t0);
    if (c.ready >= n) return at;
    if (++polls % 10 == 0) {
      std::printf("  t=%.0f s: %d listed, %d Ready (load %s)\n", at, c.total, c.ready,
                  LoadAverage().c_str());
      std::fflush(stdout);
    }
    std::this_thread::sleep_until(started + std::chrono::seconds(1));
  }
  return -1;
}

// --- The proxy's log ---------------------------------------------------------------------------

// What a request was: "sreg patch", "sreg/status patch", "event post", "sreg watch", ...; the
// namespace and object name when it names one.
struct Classified {
  std::string kind;
  std::string ns;
  std::string name;
  bool write = false;
};

Classified Classify(const t::ProxiedRequest& r) {
  std::vector<std::string> p = absl::StrSplit(r.path, '/', absl::SkipEmpty());
  size_t i = !p.empty() && p[0] == "api" ? 2 : 3;  // after /api/v1 or /apis/group/version
  Classified c;
  std::string resource;
  std::string sub;
  if (p.size() > i + 2 && p[i] == "namespaces") {
    c.ns = p[i + 1];
    resource = p[i + 2];
    if (p.size() > i + 3) c.name = p[i + 3];
    if (p.size() > i + 4) sub = p[i + 4];
  } else if (p.size() > i) {
    resource = p[i];
    if (p.size() > i + 1) c.name = p[i + 1];
  }
  if (resource == "serviceregistrations") resource = "sreg";
  if (resource == "events") resource = "event";
  std::string verb = absl::AsciiStrToLower(r.method);
  if (r.method == "GET") verb = r.watch ? "watch" : c.name.empty() ? "list" : "get";
  c.write = r.method != "GET" && r.method != "HEAD";
  c.kind = absl::StrCat(resource, sub.empty() ? "" : "/", sub, " ", verb);
  return c;
}

bool Ok(int status) { return status >= 200 && status < 300; }

// Requests of one set (by namespace prefix "kb-<set>-") by kind, with status writes per object.
struct SetTally {
  std::map<std::string, int> by_kind;
  std::map<std::string, int> failed_by_kind;  // not 2xx (or no answer)
  std::map<std::string, int> status_writes;   // ns/name -> 2xx writes on /status
};

void Tally(const std::vector<t::ProxiedRequest>& log, std::map<char, SetTally>* sets,
           std::map<std::string, int>* cluster) {
  for (const t::ProxiedRequest& r : log) {
    Classified c = Classify(r);
    if (c.ns.rfind("kb-", 0) != 0 || c.ns.size() < 5) {
      ++(*cluster)[c.kind];
      continue;
    }
    SetTally& s = (*sets)[c.ns[3]];
    ++s.by_kind[c.kind];
    if (!Ok(r.status)) ++s.failed_by_kind[c.kind];
    if (c.kind.rfind("sreg/status ", 0) == 0 && c.write && Ok(r.status)) {
      ++s.status_writes[c.ns + "/" + c.name];
    }
  }
}

// Status changes per object (ns/name) as a watch saw them: a MODIFIED whose .status differs from
// the object's previous one. Reads the concatenated JSON documents kubectl printed.
std::map<std::string, int> StatusChanges(const std::string& path) {
  std::map<std::string, int> changes;
  std::map<std::string, json> last;
  std::ifstream in(path);
  while (in) {
    json event;
    try {
      in >> event;
    } catch (const std::exception&) {
      break;  // the end (or a document cut when the watch was stopped)
    }
    const json& o = event.value("object", json::object());
    if (!o.contains("metadata")) continue;
    std::string id = absl::StrCat(o["metadata"].value("namespace", ""), "/",
                                  o["metadata"].value("name", ""));
    json status = o.value("status", json::object());
    auto it = last.find(id);
    if (it != last.end() && it->second != status) ++changes[id];
    last[id] = status;
  }
  return changes;
}

std::string Histogram(const std::map<std::string, int>& per_object, int n) {
  std::map<int, int> h;
  int counted = 0;
  for (const auto& [id, k] : per_object) {
    ++h[std::min(k, 4)];
    ++counted;
  }
  h[0] += n - counted;
  std::vector<std::string> parts;
  for (const auto& [k, count] : h) {
    if (count > 0) parts.push_back(absl::StrCat(k == 4 ? "4+" : std::to_string(k), ": ", count));
  }
  return absl::StrJoin(parts, ", ");
}

// Requests the controller counted itself (its /metrics): "verb resource code" -> count.
std::map<std::string, double> MetricCounts(const t::ControllerProcess& controller) {
  std::map<std::string, double> counts;
  auto body = controller.Get("/metrics");
  if (!body.ok()) return counts;
  const std::string name = "etcd_registrar_kube_api_request_duration_seconds_count{";
  for (absl::string_view line : absl::StrSplit(*body, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    std::map<std::string, std::string> labels;
    size_t close = line.find('}');
    absl::string_view inside = line.substr(name.size(), close - name.size());
    for (absl::string_view kv : absl::StrSplit(inside, ',')) {
      std::vector<std::string> f = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      if (f.size() == 2) {
        labels[f[0]] = std::string(absl::StripPrefix(absl::StripSuffix(f[1], "\""), "\""));
      }
    }
    double v = 0;
    if (absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(close + 1)), &v)) {
      counts[absl::StrCat(labels["verb"], " ", labels["resource"], " ", labels["code"])] += v;
    }
  }
  return counts;
}

// Every series of the metric families named in `names` from the controller's /metrics, as
// "name{labels}" -> value (the etcd methods, revokes by reason, Events dropped).
std::map<std::string, double> MetricSeries(const t::ControllerProcess& controller,
                                           const std::vector<std::string>& names) {
  std::map<std::string, double> out;
  auto body = controller.Get("/metrics");
  if (!body.ok()) return out;
  for (absl::string_view line : absl::StrSplit(*body, '\n')) {
    for (const std::string& name : names) {
      if (!absl::StartsWith(line, name)) continue;
      size_t space = line.rfind(' ');
      double v = 0;
      if (space != absl::string_view::npos && absl::SimpleAtod(line.substr(space + 1), &v)) {
        out[std::string(line.substr(0, space))] = v;
      }
    }
  }
  return out;
}

const std::vector<std::string> kEtcdSeries = {
    "etcd_registrar_etcd_request_duration_seconds_count", "etcd_registrar_lease_revokes_total",
    "etcd_registrar_kube_events_dropped_total"};

std::string SeriesDelta(const std::map<std::string, double>& before,
                        const std::map<std::string, double>& after) {
  std::string out;
  for (const auto& [k, v] : after) {
    auto it = before.find(k);
    double d = v - (it == before.end() ? 0 : it->second);
    if (d != 0) absl::StrAppend(&out, " ", k, " ", d, ";");
  }
  return out.empty() ? " none" : out;
}

double MetricWrites(const std::map<std::string, double>& counts) {
  double writes = 0;
  for (const auto& [k, v] : counts) {
    if (absl::StartsWith(k, "create ") || absl::StartsWith(k, "patch ") ||
        absl::StartsWith(k, "update ") || absl::StartsWith(k, "delete ")) {
      writes += v;
    }
  }
  return writes;
}

// --- Measurements of processes -----------------------------------------------------------------

struct CpuMark {
  double controller = 0;
  double apiserver = 0;
  double etcd = 0;
  Clock::time_point at;
};

struct Procs {
  pid_t controller = 0;
  pid_t apiserver = 0;
  pid_t etcd = 0;
  CpuMark Mark() const {
    return {ProcessCpuSeconds(controller), ProcessCpuSeconds(apiserver), ProcessCpuSeconds(etcd),
            Clock::now()};
  }
};

std::string CpuLine(const std::string& phase, const CpuMark& a, const CpuMark& b, pid_t ctl) {
  double wall = Seconds(b.at - a.at);
  return absl::StrFormat(
      "| %s (%.1f s) | controller %.2f s CPU (%.1f %% of a core), RSS %.1f MiB (anon %.1f) | "
      "apiserver %.1f %% | registration etcd %.1f %% |",
      phase, wall, b.controller - a.controller, 100 * (b.controller - a.controller) / wall,
      ProcessMemMiB(ctl, "VmRSS:"), ProcessMemMiB(ctl, "RssAnon:"),
      100 * (b.apiserver - a.apiserver) / wall,
      100 * (b.etcd - a.etcd) / wall);
}

int64_t EtcdCount(const t::EtcdProcess& etcd, const std::string& prefix) {
  auto out = etcd.Etcdctl({"get", prefix, "--prefix", "--keys-only", "-w", "json"});
  if (!out.ok()) return -1;
  json j = json::parse(*out, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? -1 : j.value("count", int64_t{0});
}

int Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "kube_bench: %s: %s\n", what.c_str(), std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 2000;
  int namespaces = 20;
  int idle = 30;
  int workers = 4;
  double timeout_s = 900;
  std::vector<std::string> extra;
  std::vector<std::string> controller_env;  // the cold-start process only
  bool direct = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value = i + 1 < argc ? argv[i + 1] : "";
    size_t eq = flag.find('=');
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else {
      ++i;
    }
    if (flag == "--direct") {
      direct = true;
      if (eq == std::string::npos) --i;  // takes no value
      continue;
    }
    if (flag == "--n") n = std::max(1, std::atoi(value.c_str()));
    else if (flag == "--namespaces") namespaces = std::max(1, std::atoi(value.c_str()));
    else if (flag == "--idle") idle = std::max(0, std::atoi(value.c_str()));
    else if (flag == "--apply-workers") workers = std::max(1, std::atoi(value.c_str()));
    else if (flag == "--timeout") timeout_s = std::atof(value.c_str());
    else if (flag == "--controller-arg") extra.push_back(value);
    else if (flag == "--controller-env") controller_env.push_back(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  namespaces = std::min(namespaces, n);
  DefaultFixtureEnvironment();
  std::string command = absl::StrJoin(std::vector<std::string>(argv, argv + argc), " ");
  std::printf("command: %s\n", command.c_str());
  std::printf("mode: %s\n", direct ? "--direct: the controller talks to the API server itself "
                                     "(request counts from its metrics)"
                                   : "through the fault proxy (one TLS connection per request: "
                                     "Connection: close), request counts from its log");
  std::printf("machine: %u cores; load average at start %s; kube-apiserver 1.34 + etcd 3.6 "
              "(fixture), registrations in Debian's etcd 3.4\n",
              std::thread::hardware_concurrency(), LoadAverage().c_str());
  std::fflush(stdout);
  std::vector<std::pair<std::string, std::string>> rows;  // the summary table

  // Control plane, CRD, namespaces, registration etcd, proxy, RBAC and token.
  auto plane = t::KubeControlPlane::Start();
  if (!plane.ok()) return Fail("control plane", plane.status());
  const std::string source = std::getenv("ER_SOURCE_DIR");
  auto dir = t::MakeTempDir("er-kube-bench");
  if (!dir.ok()) return Fail("temp dir", dir.status());
  std::error_code ignored;
  struct RemoveDir {
    std::string path;
    ~RemoveDir() {
      std::error_code e;
      std::filesystem::remove_all(path, e);
    }
  } remove_dir{*dir};
  if (auto s = (*plane)->Kubectl({"apply", "-f", source + "/crds/serviceregistrations.yaml"});
      !s.ok()) {
    return Fail("crds", s.status());
  }
  if (auto s = (*plane)->Kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                                  "crd/serviceregistrations.registrar.dev"});
      !s.ok()) {
    return Fail("crd established", s.status());
  }
  std::string ns_yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kb-ctl\n";
  for (char set : {'a', 'b'}) {
    for (int k = 0; k < namespaces; ++k) {
      absl::StrAppend(&ns_yaml, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ",
                      NamespaceName(set, k), "\n");
    }
  }
  if (auto s = (*plane)->Apply(ns_yaml); !s.ok()) return Fail("namespaces", s);
  auto etcd = t::EtcdProcess::Start();
  if (!etcd.ok()) return Fail("etcd", etcd.status());
  auto proxy = t::KubeFaultProxy::Start({.upstream_port = (*plane)->port(),
                                         .upstream_ca_file = (*plane)->ca_file(),
                                         .serving_cert_file = (*plane)->dir() + "/server.crt",
                                         .serving_key_file = (*plane)->dir() + "/server.key"});
  if (!proxy.ok()) return Fail("proxy", proxy.status());
  auto rbac = t::ApplyRbac(**plane, t::RbacVariant::kCluster, "kb-ctl", *dir + "/rbac");
  if (!rbac.ok()) return Fail("rbac", rbac.status());
  auto token = (*plane)->RequestToken("kb-ctl", rbac->service_account, 4 * 3600);
  if (!token.ok()) return Fail("token", token.status());
  const std::string kubeconfig = *dir + "/controller.kubeconfig";
  const std::string server = direct ? (*plane)->server() : (*proxy)->url();
  if (auto s = t::WriteTokenKubeconfig(kubeconfig, server, (*plane)->ca_file(), *token);
      !s.ok()) {
    return Fail("kubeconfig", s);
  }
  std::vector<std::string> files_a = WriteSet(*dir, 'a', n, namespaces);
  std::vector<std::string> files_b = WriteSet(*dir, 'b', n, namespaces);

  // A watch on both sets (admin, not through the proxy), to count real status changes.
  auto watch = t::ChildProcess::Start(
      (*plane)->kubectl_path(),
      {"--kubeconfig", (*plane)->admin_kubeconfig(), "get", "sreg", "-A", "-l", "kbench/set",
       "--watch", "--output-watch-events", "-o", "json"});
  if (!watch.ok()) return Fail("watch", watch.status());

  // 1. Baseline: the creates with no controller.
  std::atomic<int> apply_failures{0};
  double baseline = ApplyFiles(**plane, files_a, workers, &apply_failures);
  ReadyCount listed = PollReady(**plane, 'a');
  std::printf("1. baseline: %d creates (kubectl apply --server-side, one file per namespace, %d "
              "at a time) in %.2f s: %.0f creates/s; %d listed; %d apply failures\n",
              n, workers, baseline, n / baseline, listed.total, apply_failures.load());
  rows.push_back({absl::StrFormat("baseline: %d creates, no controller", n),
                  absl::StrFormat("%.2f s, %.0f creates/s", baseline, n / baseline)});
  std::fflush(stdout);

  // 2. Cold start on the N existing objects.
  std::vector<std::string> args = {"--kubeconfig", kubeconfig, "--owner-id", kOwnerId,
                                   "--etcd-endpoints", (*etcd)->endpoint()};
  args.insert(args.end(), extra.begin(), extra.end());
  (*proxy)->ClearRequests();
  auto t_cold = Clock::now();
  auto controller = t::ControllerProcess::Start(args, controller_env);
  if (!controller.ok()) return Fail("controller", controller.status());
  Procs procs{(*controller)->pid(), (*plane)->apiserver_pid(), (*etcd)->pid()};
  CpuMark m0 = procs.Mark();
  m0.at = t_cold;
  if (auto s = (*controller)->WaitReady(std::chrono::seconds(120)); !s.ok()) {
    return Fail("controller /readyz", s);
  }
  double readyz = Seconds(Clock::now() - t_cold);
  double cold = WaitAllReady(**plane, 'a', n, t_cold, timeout_s);
  CpuMark m1 = procs.Mark();
  std::map<std::string, double> series_cold = MetricSeries(**controller, kEtcdSeries);
  std::printf("   etcd requests, revokes by reason, Events dropped during the cold start:%s\n",
              SeriesDelta({}, series_cold).c_str());
  std::printf("2. cold start on %d existing: /readyz after %.2f s; all Ready after %.1f s "
              "(%.0f/s); load %s\n",
              n, readyz, cold, cold > 0 ? n / cold : 0.0, LoadAverage().c_str());
  std::fflush(stdout);
  rows.push_back({absl::StrFormat("cold start on %d existing: all Ready", n),
                  absl::StrFormat("%.1f s (%.0f/s; /readyz %.2f s)", cold,
                                  cold > 0 ? n / cold : 0.0, readyz)});
  if (cold < 0) {
    std::printf("   TIMEOUT; controller log tail:\n%s\n", (*controller)->Describe().c_str());
  }

  // 3. N created while the controller runs.
  auto t_run = Clock::now();
  double creates_b = 0;
  std::jthread applier(
      [&] { creates_b = ApplyFiles(**plane, files_b, workers, &apply_failures); });
  double running = WaitAllReady(**plane, 'b', n, t_run, timeout_s);
  applier.join();
  CpuMark m2 = procs.Mark();
  std::map<std::string, double> series_running = MetricSeries(**controller, kEtcdSeries);
  std::printf("   etcd requests, revokes by reason, Events dropped while created:%s\n",
              SeriesDelta(series_cold, series_running).c_str());
  std::printf("3. %d created while running (holding %d): creates done in %.2f s (%.0f/s, "
              "baseline %.2f s); all Ready %.1f s after the first create (%.0f/s); load %s\n",
              n, n, creates_b, n / creates_b, baseline, running, running > 0 ? n / running : 0.0,
              LoadAverage().c_str());
  std::fflush(stdout);
  rows.push_back({absl::StrFormat("%d created while running: creates done", n),
                  absl::StrFormat("%.2f s (%.0f/s; baseline %.2f s)", creates_b, n / creates_b,
                                  baseline)});
  rows.push_back({absl::StrFormat("%d created while running: all Ready from the first create", n),
                  absl::StrFormat("%.1f s (%.0f/s)", running, running > 0 ? n / running : 0.0)});
  // Writes still queued when all were Ready (events go out behind the status): the idle window
  // starts once no write has been seen for 2 s.
  auto t_ready = Clock::now();
  auto last_write = t_ready;
  std::map<std::string, int> tail_kinds;
  size_t seen = (*proxy)->Requests().size();  // requests up to all Ready are not the tail
  double metric_writes = MetricWrites(MetricCounts(**controller));
  while (Clock::now() - last_write < std::chrono::seconds(2) &&
         Clock::now() - t_ready < std::chrono::seconds(600)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (direct) {
      double w = MetricWrites(MetricCounts(**controller));
      if (w > metric_writes) {
        tail_kinds["writes (controller metrics)"] += static_cast<int>(w - metric_writes);
        metric_writes = w;
        last_write = Clock::now();
      }
      continue;
    }
    std::vector<t::ProxiedRequest> now = (*proxy)->Requests();
    for (; seen < now.size(); ++seen) {
      Classified c = Classify(now[seen]);
      if (c.write) {
        ++tail_kinds[c.kind];
        last_write = Clock::now();
      }
    }
  }
  int tail_writes = 0;
  std::string tail_text;
  for (const auto& [k, v] : tail_kinds) {
    tail_writes += v;
    absl::StrAppend(&tail_text, " ", k, " ", v, ";");
  }
  const double settled = Seconds(last_write - t_ready);
  std::printf("   writes after all Ready until 2 s without one: %d (%s), the last %.1f s after all "
              "Ready\n", tail_writes, tail_text.c_str(), settled);
  rows.push_back({"writes after all Ready (queued behind the status)",
                  absl::StrFormat("%d,%s the last %.1f s after all Ready", tail_writes, tail_text,
                                  settled)});
  std::vector<t::ProxiedRequest> log = (*proxy)->Requests();
  (*proxy)->ClearRequests();

  // 4. Idle.
  std::map<std::string, double> metrics_before_idle = MetricCounts(**controller);
  std::this_thread::sleep_for(std::chrono::seconds(idle));
  CpuMark m3 = procs.Mark();
  std::map<std::string, double> metrics_end = MetricCounts(**controller);
  std::vector<t::ProxiedRequest> idle_log = (*proxy)->Requests();
  std::map<std::string, int> idle_kinds;
  int idle_writes = 0;
  for (const auto& r : idle_log) {
    Classified c = Classify(r);
    ++idle_kinds[c.kind];
    idle_writes += c.write ? 1 : 0;
  }
  if (direct) {
    idle_writes = static_cast<int>(MetricWrites(metrics_end) - MetricWrites(metrics_before_idle));
    for (const auto& [k, v] : metrics_end) {
      if (v > metrics_before_idle[k]) idle_kinds[k] = static_cast<int>(v - metrics_before_idle[k]);
    }
  }
  log.insert(log.end(), idle_log.begin(), idle_log.end());
  // The watch may lag behind the lists: stop it once its output has not grown for 2 s.
  for (int i = 0; i < 30; ++i) {
    auto size = std::filesystem::file_size(watch.value()->stdout_path(), ignored);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    if (std::filesystem::file_size(watch.value()->stdout_path(), ignored) == size) break;
  }
  watch.value()->Kill();
  std::map<std::string, int> changes = StatusChanges(watch.value()->stdout_path());

  std::map<char, SetTally> sets;
  std::map<std::string, int> cluster;
  Tally(log, &sets, &cluster);
  int violations = 0;
  std::string example;
  if (!direct) {
    std::printf("4. API requests through the proxy (cold start, running, and %d s idle):\n", idle);
    std::printf("| kind | set a (cold start) | per resource | set b (created while running) | per "
                "resource | not 2xx (a / b) |\n|---|---|---|---|---|---|\n");
    std::map<std::string, int> kinds;
    for (const auto& [c, s] : sets) {
      for (const auto& [k, v] : s.by_kind) kinds[k] += v;
    }
    for (const auto& [k, total] : kinds) {
      int a = sets['a'].by_kind[k];
      int b = sets['b'].by_kind[k];
      std::printf("| %s | %d | %.2f | %d | %.2f | %d / %d |\n", k.c_str(), a, 1.0 * a / n, b,
                  1.0 * b / n, sets['a'].failed_by_kind[k], sets['b'].failed_by_kind[k]);
      rows.push_back({absl::StrCat("requests per resource: ", k),
                      absl::StrFormat("cold %.2f, running %.2f", 1.0 * a / n, 1.0 * b / n)});
    }
    for (const auto& [k, v] : cluster) std::printf("| %s (cluster-wide or other) | %d | | | | |\n",
                                                   k.c_str(), v);
  } else {
    // No proxy: the controller's own counts, over both sets (2n objects), by verb/resource/code.
    std::printf("4. API requests (--direct: the controller's metrics, both sets, %d s idle "
                "included):\n", idle);
    int status_ok = 0;
    int changes_total = 0;
    for (const auto& [k, v] : metrics_end) {
      std::printf("| %s | %.0f | %.2f per resource |\n", k.c_str(), v, v / (2.0 * n));
      rows.push_back({absl::StrCat("requests per resource (metrics, both sets): ", k),
                      absl::StrFormat("%.2f", v / (2.0 * n))});
      if (absl::StartsWith(k, "patch serviceregistrations/status 2")) {
        status_ok += static_cast<int>(v);
      }
    }
    for (const auto& [id, k] : changes) changes_total += k;
    std::printf("   2xx status patches %d, status changes seen by the watch %d (totals)\n",
                status_ok, changes_total);
    violations = std::max(0, status_ok - changes_total);
    if (violations > 0) example = "totals";
  }
  for (char set : {'a', 'b'}) {
    if (direct) break;
    std::map<std::string, int> set_changes;
    for (const auto& [id, k] : changes) {
      if (id.rfind(absl::StrCat("kb-", std::string(1, set), "-"), 0) == 0) set_changes[id] = k;
    }
    for (const auto& [id, writes] : sets[set].status_writes) {
      if (writes > set_changes[id]) {
        ++violations;
        if (example.empty()) {
          example = absl::StrCat(id, ": ", writes, " writes, ", set_changes[id], " changes");
        }
      }
    }
    std::printf("   set %c: status writes (2xx) per object {%s}; status changes seen by the "
                "watch per object {%s}\n",
                set, Histogram(sets[set].status_writes, n).c_str(),
                Histogram(set_changes, n).c_str());
  }
  std::printf("   CHECK status written at most once per change: %s (%d %s%s%s)\n",
              violations == 0 ? "PASS" : "FAIL", violations,
              direct ? "2xx status writes beyond the status changes, totals"
                     : "objects with more 2xx status writes than status changes",
              example.empty() ? "" : "; e.g. ",
              example.c_str());
  std::printf("   idle %d s after the writes settled: %d writes (expected 0) %s; all requests:",
              idle, idle_writes, idle_writes == 0 ? "PASS" : "FAIL");
  for (const auto& [k, v] : idle_kinds) std::printf(" %s %d;", k.c_str(), v);
  std::printf("\n");
  rows.push_back({"objects with more status writes than status changes",
                  absl::StrFormat("%d (%s)", violations, violations == 0 ? "PASS" : "FAIL")});
  rows.push_back({absl::StrFormat("writes in %d s idle after that", idle),
                  absl::StrFormat("%d (%s)", idle_writes, idle_writes == 0 ? "PASS" : "FAIL")});

  // 5. etcd.
  t::EtcdInspector inspector(**etcd);
  auto leases = inspector.Leases();
  std::string owners = absl::StrCat(kOwnerPrefix, kOwnerId, "/");
  const std::string etcd_line = absl::StrFormat(
      "keys kbench.a. %d, kbench.b. %d (expected %d each); records under %s %d; leases %d",
      EtcdCount(**etcd, "kbench.a."), EtcdCount(**etcd, "kbench.b."), n, owners,
      EtcdCount(**etcd, owners), leases.ok() ? static_cast<int64_t>(leases->size()) : -1);
  std::printf("5. etcd: %s\n", etcd_line.c_str());
  rows.push_back({"etcd", etcd_line});

  // 6. CPU and memory.
  std::printf("6. processes:\n%s\n%s\n%s\n",
              CpuLine("cold start", m0, m1, procs.controller).c_str(),
              CpuLine("created while running", m1, m2, procs.controller).c_str(),
              CpuLine("settle + idle", m2, m3, procs.controller).c_str());
  std::printf("   controller: %.2f CPU seconds over the run, RSS %.1f MiB now, peak %.1f MiB; "
              "alive %s; load at the end %s\n",
              m3.controller - m0.controller, ProcessMemMiB(procs.controller, "VmRSS:"),
              ProcessMemMiB(procs.controller, "VmHWM:"),
              (*controller)->Running() ? "yes" : "NO", LoadAverage().c_str());
  rows.push_back({"controller CPU over the run",
                  absl::StrFormat("%.2f s (cold %.2f, running %.2f, settle + idle %.2f)",
                                  m3.controller - m0.controller, m1.controller - m0.controller,
                                  m2.controller - m1.controller, m3.controller - m2.controller)});
  std::printf("   controller memory holding %d: %s\n", 2 * n,
              MemoryLine(procs.controller).c_str());
  rows.push_back({"controller memory holding 2n", MemoryLine(procs.controller)});
  rows.push_back({"controller RSS now / peak",
                  absl::StrFormat("%.1f / %.1f MiB", ProcessMemMiB(procs.controller, "VmRSS:"),
                                  ProcessMemMiB(procs.controller, "VmHWM:"))});
  std::fflush(stdout);

  // 7. Restart: SIGTERM, the same flags again; every registration must be adopted (no revoke,
  // no grant, no API write) and stay Ready.
  auto keys_before = EtcdCount(**etcd, "kbench.");
  (void)(*controller)->Terminate(std::chrono::seconds(10));
  (*proxy)->ClearRequests();
  auto t_restart = Clock::now();
  auto restarted = t::ControllerProcess::Start(args);
  if (!restarted.ok()) return Fail("restart", restarted.status());
  if (auto s = (*restarted)->WaitReady(std::chrono::seconds(120)); !s.ok()) {
    return Fail("restarted /readyz", s);
  }
  // Every object reconciled at least twice (its listing, then the engine's state): 2 * 2n.
  double reconciles = 0;
  while (Seconds(Clock::now() - t_restart) < timeout_s) {
    auto r = (*restarted)->Metric("controller_runtime_reconcile_total");
    reconciles = r.ok() ? *r : 0;
    if (reconciles >= 4.0 * n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  double restart_s = Seconds(Clock::now() - t_restart);
  const std::string restart_memory = MemoryLine((*restarted)->pid());
  ReadyCount ra = PollReady(**plane, 'a');
  ReadyCount rb = PollReady(**plane, 'b');
  std::map<std::string, double> series_restart = MetricSeries(**restarted, kEtcdSeries);
  double restart_writes = direct ? MetricWrites(MetricCounts(**restarted)) : 0;
  if (!direct) {
    for (const auto& r : (*proxy)->Requests()) restart_writes += Classify(r).write ? 1 : 0;
  }
  const std::string restart_line = absl::StrFormat(
      "%.0f reconciles in %.1f s; Ready %d + %d of %d; API writes %.0f; keys %d -> %d; etcd:%s; "
      "memory then: %s",
      reconciles, restart_s, ra.ready, rb.ready, 2 * n, restart_writes, keys_before,
      EtcdCount(**etcd, "kbench."), SeriesDelta({}, series_restart), restart_memory);
  std::printf("7. restart (SIGTERM, same flags): %s\n", restart_line.c_str());
  rows.push_back({"restart holding 2n: reconciled, writes, etcd", restart_line});
  std::printf("\n| figure | value |\n|---|---|\n");
  for (const auto& [figure, value] : rows) {
    std::printf("| %s | %s |\n", figure.c_str(), value.c_str());
  }
  std::printf("command: %s\n", command.c_str());
  std::fflush(stdout);
  (void)(*restarted)->Terminate(std::chrono::seconds(10));
  return cold < 0 || running < 0 ? 1 : 0;
}
