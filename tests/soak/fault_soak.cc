// The fault soak (docs/testing.md, "The fault soak"): registrations held by the real controller
// in manifest mode while a seeded schedule (fault_schedule.h) kills, stops, wipes and cuts etcd,
// kills the controller and edits the manifests. After each fault the soak polls the checker
// (soak_checker.h) until it passes or the step's deadline fails the run; it prints one row per
// fault, the controller's RSS, and the command that replays the same schedule.
//
//   fault_soak [--seed N] [--faults N] [--registrations N] [--files N] [--ttl S]
//              [--settle-seconds S] [--rss-limit-mib M] [--kinds KIND,KIND...]
//              [--controller-env NAME=VALUE]...
//              [--etcd-version 3.4|3.5|3.6 | --etcd-binary PATH --etcdctl-binary PATH]
//
// Exit code: 0 clean, 1 a violation (or the RSS bound, or a crash), 2 bad flags, 3 set-up failed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

#include "tests/soak/default_source_dir.h"
#include "tests/soak/fault_schedule.h"
#include "tests/soak/soak_checker.h"
#include "tests/soak/soak_world.h"

namespace registrar::soak {
namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  uint64_t seed = 1;
  int faults = 100;
  int registrations = 1000;
  int files = 50;
  int ttl = 10;
  int settle_seconds = 0;  // 0: 2 * ttl + 10
  int start_seconds = 180;
  double rss_limit_mib = 256;
  std::string etcd_version;
  std::vector<FaultKind> only;
  std::vector<std::string> controller_env;
  std::string only_text;
  std::string etcd_binary;
  std::string etcdctl_binary;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool ParseFlags(int argc, char** argv, Flags& f) {
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "fault_soak: " << name << " needs a value\n";
      return false;
    }
    const std::string value = argv[++i];
    bool ok = true;
    if (name == "--seed") {
      ok = absl::SimpleAtoi(value, &f.seed);
    } else if (name == "--faults") {
      ok = absl::SimpleAtoi(value, &f.faults) && f.faults >= 0;
    } else if (name == "--registrations") {
      ok = absl::SimpleAtoi(value, &f.registrations) && f.registrations >= 1;
    } else if (name == "--files") {
      ok = absl::SimpleAtoi(value, &f.files) && f.files >= 1;
    } else if (name == "--ttl") {
      ok = absl::SimpleAtoi(value, &f.ttl) && f.ttl >= 5 && f.ttl <= 3600;
    } else if (name == "--settle-seconds") {
      ok = absl::SimpleAtoi(value, &f.settle_seconds) && f.settle_seconds >= 1;
    } else if (name == "--start-seconds") {
      ok = absl::SimpleAtoi(value, &f.start_seconds) && f.start_seconds >= 1;
    } else if (name == "--rss-limit-mib") {
      ok = absl::SimpleAtod(value, &f.rss_limit_mib) && f.rss_limit_mib > 0;
    } else if (name == "--etcd-version") {
      ok = value == "3.4" || value == "3.5" || value == "3.6";
      f.etcd_version = value;
    } else if (name == "--kinds") {
      f.only_text = value;
      for (absl::string_view k : absl::StrSplit(value, ',')) {
        FaultKind kind;
        ok = ok && ParseKind(std::string(k), &kind);
        f.only.push_back(kind);
      }
    } else if (name == "--controller-env") {
      ok = value.find('=') != std::string::npos;
      f.controller_env.push_back(value);
    } else if (name == "--etcd-binary") {
      f.etcd_binary = value;
    } else if (name == "--etcdctl-binary") {
      f.etcdctl_binary = value;
    } else {
      std::cerr << "fault_soak: unknown flag " << name << "\n";
      return false;
    }
    if (!ok) {
      std::cerr << "fault_soak: bad value for " << name << ": " << value << "\n";
      return false;
    }
  }
  if (!f.etcd_version.empty() && f.etcd_version != "3.4") {
    const char* source = std::getenv("ER_SOURCE_DIR");
    const std::string tools = absl::StrCat(source != nullptr ? source : kDefaultSourceDir,
                                           "/.tools/etcd-", f.etcd_version);
    f.etcd_binary = tools + "/etcd";
    f.etcdctl_binary = tools + "/etcdctl";
  }
  if (f.settle_seconds == 0) {
    f.settle_seconds = 2 * f.ttl + 10;
  }
  return true;
}

std::string ReproduceCommand(const char* argv0, const Flags& f) {
  std::string cmd =
      absl::StrCat(argv0, " --seed ", f.seed, " --faults ", f.faults, " --registrations ",
                   f.registrations, " --files ", f.files, " --ttl ", f.ttl, " --settle-seconds ",
                   f.settle_seconds, " --rss-limit-mib ", f.rss_limit_mib);
  if (!f.only_text.empty()) {
    absl::StrAppend(&cmd, " --kinds ", f.only_text);
  }
  for (const std::string& e : f.controller_env) {
    absl::StrAppend(&cmd, " --controller-env ", e);
  }
  if (!f.etcd_binary.empty()) {
    absl::StrAppend(&cmd, " --etcd-binary ", f.etcd_binary, " --etcdctl-binary ", f.etcdctl_binary);
  }
  return cmd;
}

struct Settled {
  bool ok = false;
  double seconds = 0;  // from `lifted` until the first of the two passing snapshots (or the end)
  int polls = 0;
  std::vector<Violation> violations;
  std::string error;  // the last snapshot error, when there was no snapshot
};

// A pass counts once a second one follows it, taken at least this long after the fault was
// lifted: a snapshot taken before the controller even reacted does not settle a step alone.
constexpr auto kConfirmAfter = std::chrono::seconds(1);

// Polls the checker until it passed twice in a row (see kConfirmAfter) or `deadline` after
// `lifted` passed. Stops at once when the controller has exited on its own.
Settled Settle(SoakWorld& world, Clock::time_point lifted, Clock::duration deadline) {
  Settled s;
  int streak = 0;
  Clock::time_point first_pass;
  while (true) {
    ++s.polls;
    if (!world.ControllerRunning()) {
      s.error = "the controller exited on its own: " + world.DescribeController();
      break;
    }
    const Clock::time_point taken = Clock::now();
    absl::StatusOr<Snapshot> snap = world.Take();
    if (snap.ok()) {
      s.violations = Check(world.Desired(), *snap, world.check_options());
      s.error.clear();
    } else {
      s.error = std::string(snap.status().message());
    }
    if (snap.ok() && s.violations.empty()) {
      if (++streak == 1) {
        first_pass = Clock::now();
      }
      if (streak >= 2 && taken >= lifted + kConfirmAfter) {
        s.ok = true;
        s.seconds = Seconds(first_pass - lifted);
        return s;
      }
    } else {
      streak = 0;
    }
    if (Clock::now() - lifted >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  s.seconds = Seconds(Clock::now() - lifted);
  return s;
}

void PrintFailure(const Settled& s) {
  std::cout << "FAILED after " << absl::StrFormat("%.1f", s.seconds) << " s:\n";
  if (!s.error.empty()) {
    std::cout << "  " << s.error.substr(0, 2000) << "\n";
  }
  std::cout << Summarize(s.violations, 30);
}

// The keys whose lease differs between two snapshots (or that exist in only one), listed.
std::string ChangedLeases(const Snapshot& before, const Snapshot& after) {
  std::map<std::string, int64_t> a;
  std::map<std::string, int64_t> b;
  for (const Kv& kv : before.kvs) {
    a[kv.key] = kv.lease;
  }
  for (const Kv& kv : after.kvs) {
    b[kv.key] = kv.lease;
  }
  std::string out;
  int n = 0;
  for (const auto& [key, lease] : a) {
    auto it = b.find(key);
    if ((it == b.end() || it->second != lease) && ++n <= 5) {
      absl::StrAppend(&out, key, " ");
    }
  }
  for (const auto& [key, lease] : b) {
    if (!a.contains(key) && ++n <= 5) {
      absl::StrAppend(&out, key, " ");
    }
  }
  if (n > 5) {
    absl::StrAppend(&out, "and ", n - 5, " more");
  }
  return out;
}

struct KindFigures {
  int count = 0;
  double max_recover = 0;
  double sum_recover = 0;
};

int Run(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    return 2;
  }
  std::error_code ignored;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ignored);
  if (std::getenv("ER_BINARY_DIR") == nullptr && !self.empty()) {
    // build/tests/soak/fault_soak -> build, where ControllerProcess finds etcd-registrar.
    setenv("ER_BINARY_DIR", self.parent_path().parent_path().parent_path().c_str(), 1);
  }
  const std::string reproduce = ReproduceCommand(self.empty() ? argv[0] : self.c_str(), flags);
  const std::vector<Step> plan = PlanFaults({.seed = flags.seed,
                                             .count = flags.faults,
                                             .ttl_seconds = flags.ttl,
                                             .files = flags.files,
                                             .only = flags.only});
  std::cout << "fault soak: seed " << flags.seed << ", " << flags.faults << " faults, "
            << flags.registrations << " registrations in " << flags.files << " files, TTL "
            << flags.ttl << " s, settle deadline " << flags.settle_seconds << " s, RSS bound "
            << flags.rss_limit_mib << " MiB, etcd "
            << (flags.etcd_binary.empty() ? "/usr/bin/etcd" : flags.etcd_binary) << "\n"
            << "reproduce: " << reproduce << std::endl;

  const Clock::time_point soak_start = Clock::now();
  auto world = SoakWorld::Create({.registrations = flags.registrations,
                                  .files = flags.files,
                                  .ttl_seconds = flags.ttl,
                                  .etcd_binary = flags.etcd_binary,
                                  .etcdctl_binary = flags.etcdctl_binary,
                                  .controller_env = flags.controller_env});
  if (!world.ok()) {
    std::cout << "set-up failed: " << world.status() << std::endl;
    return 3;
  }
  SoakWorld& w = **world;
  std::cout << "work dir: " << w.dir() << std::endl;
  auto fail = [&](const std::string& why) {
    w.Keep();
    std::cout << why << "\nlogs and manifests kept in " << w.dir() << "\nreproduce: " << reproduce
              << std::endl;
    return 1;
  };

  const Settled first = Settle(w, Clock::now(), std::chrono::seconds(flags.start_seconds));
  double max_rss = w.ControllerRssMiB();
  std::cout << absl::StrFormat(
      "start: %d registrations live after %.1f s (%d polls), RSS %.1f MiB\n", flags.registrations,
      first.seconds, first.polls, max_rss);
  if (!first.ok) {
    PrintFailure(first);
    return fail("the registrations did not come up");
  }
  std::cout << absl::StrFormat("%4s  %-17s %-22s %8s %7s %9s %5s %8s  %s\n", "step", "fault",
                               "edit", "start_s", "dur_s", "recover_s", "polls", "rss_MiB",
                               "violations")
            << std::flush;
  std::map<FaultKind, KindFigures> figures;
  for (const Step& step : plan) {
    std::this_thread::sleep_for(step.gap);
    const Clock::time_point t0 = Clock::now();
    if (absl::Status s = w.RunFault(step); !s.ok()) {
      return fail(
          absl::StrCat("step ", step.index, " (", KindName(step.kind), "): ", s.ToString()));
    }
    const Clock::time_point t1 = Clock::now();
    const Settled settled = Settle(w, t1, std::chrono::seconds(flags.settle_seconds));
    const double rss = w.ControllerRssMiB();
    max_rss = std::max(max_rss, rss);
    const std::string edit = step.edit.kind == EditKind::kNone
                                 ? "-"
                                 : absl::StrCat(EditName(step.edit.kind), " f", step.edit.file);
    std::cout << absl::StrFormat("%4d  %-17s %-22s %8.1f %7.1f %9.2f %5d %8.1f  %s\n", step.index,
                                 KindName(step.kind), edit, Seconds(t0 - soak_start),
                                 Seconds(t1 - t0), settled.seconds, settled.polls, rss,
                                 settled.ok ? "0" : std::to_string(settled.violations.size()))
              << std::flush;
    if (!settled.ok) {
      PrintFailure(settled);
      return fail(absl::StrCat("step ", step.index, " (", KindName(step.kind), ", edit ", edit,
                               ") did not settle within ", flags.settle_seconds, " s"));
    }
    if (rss > flags.rss_limit_mib) {
      return fail(absl::StrFormat("step %d: controller RSS %.1f MiB over the bound of %.1f MiB",
                                  step.index, rss, flags.rss_limit_mib));
    }
    KindFigures& k = figures[step.kind];
    ++k.count;
    k.max_recover = std::max(k.max_recover, settled.seconds);
    k.sum_recover += settled.seconds;
  }

  // The end: the state must also hold for longer than a TTL with no fault (leases renewed, not
  // merely granted), on the same leases.
  absl::StatusOr<Snapshot> before = w.Take();
  if (!before.ok()) {
    return fail(absl::StrCat("final snapshot: ", before.status().ToString()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(flags.ttl * 1500));
  const Settled last = Settle(w, Clock::now(), std::chrono::seconds(flags.settle_seconds));
  if (!last.ok) {
    PrintFailure(last);
    return fail(absl::StrCat("final check, 1.5 TTL after the last fault"));
  }
  absl::StatusOr<Snapshot> after = w.Take();
  if (!after.ok()) {
    return fail(absl::StrCat("final snapshot: ", after.status().ToString()));
  }
  if (std::string changed = ChangedLeases(*before, *after); !changed.empty()) {
    return fail(
        absl::StrCat("final check: keys changed lease during 1.5 TTL without faults: ", changed));
  }
  const double rss = w.ControllerRssMiB();
  max_rss = std::max(max_rss, rss);

  std::cout << "\nper fault kind: count, max and mean time to recover (s)\n";
  for (const auto& [kind, k] : figures) {
    std::cout << absl::StrFormat("  %-17s %3d %7.2f %7.2f\n", KindName(kind), k.count,
                                 k.max_recover, k.sum_recover / k.count);
  }
  std::cout << absl::StrFormat(
                   "PASSED: seed %d, %d faults, %d registrations desired at the end, %zu leases, "
                   "%d controller starts, RSS %.1f MiB at the end (max %.1f, bound %.1f), "
                   "%.0f s in all\n",
                   flags.seed, flags.faults, w.Desired().size(), after->leases.size(),
                   w.controller_starts(), rss, max_rss, flags.rss_limit_mib,
                   Seconds(Clock::now() - soak_start))
            << "reproduce: " << reproduce << std::endl;
  if (rss > flags.rss_limit_mib) {
    return fail("controller RSS over the bound at the end");
  }
  return 0;
}

}  // namespace
}  // namespace registrar::soak

int main(int argc, char** argv) { return registrar::soak::Run(argc, argv); }
