#include "tests/soak/fault_schedule.h"

#include <algorithm>
#include <numeric>

namespace registrar::soak {
namespace {

using std::chrono::milliseconds;

// Duration bounds in per mille of the TTL, per kind.
struct Bounds {
  int lo_permille;
  int hi_permille;
};

Bounds DurationBounds(FaultKind kind) {
  switch (kind) {
    case FaultKind::kEtcdKill:
      return {50, 500};
    case FaultKind::kEtcdWipe:
      return {0, 300};
    case FaultKind::kEtcdPauseShort:
    case FaultKind::kProxyCutShort:
    case FaultKind::kControllerKillShort:
      return {100, 600};
    case FaultKind::kEtcdPauseLong:
    case FaultKind::kProxyCutLong:
    case FaultKind::kControllerKillLong:
      return {1200, 1600};
    case FaultKind::kProxyDrop:
    case FaultKind::kManifestsOnly:
      return {0, 0};
  }
  return {0, 0};
}

FaultKind WeightedKind(SplitMix64& rng) {
  const int total = std::accumulate(kKindWeights.begin(), kKindWeights.end(), 0);
  int pick = static_cast<int>(rng.Between(0, total - 1));
  for (int k = 0; k < kFaultKindCount; ++k) {
    if (pick < kKindWeights[k]) {
      return static_cast<FaultKind>(k);
    }
    pick -= kKindWeights[k];
  }
  return FaultKind::kManifestsOnly;
}

}  // namespace

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int64_t SplitMix64::Between(int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(Next() % span);
}

int AltTtl(int ttl_seconds) { return std::max(5, ttl_seconds - 2); }

bool IsLong(FaultKind kind) { return DurationBounds(kind).lo_permille > 1000; }

std::vector<Step> PlanFaults(const PlanOptions& options) {
  SplitMix64 rng(options.seed);
  std::array<int, kFaultKindCount> first;
  std::iota(first.begin(), first.end(), 0);
  for (int i = kFaultKindCount - 1; i > 0; --i) {  // Fisher-Yates
    std::swap(first[i], first[rng.Between(0, i)]);
  }
  const int64_t ttl_ms = int64_t{options.ttl_seconds} * 1000;
  std::vector<Step> steps;
  steps.reserve(std::max(options.count, 0));
  for (int i = 0; i < options.count; ++i) {
    Step s;
    s.index = i + 1;
    if (!options.only.empty()) {
      s.kind = options.only[static_cast<size_t>(
          rng.Between(0, static_cast<int64_t>(options.only.size()) - 1))];
    } else {
      s.kind = i < kFaultKindCount ? static_cast<FaultKind>(first[i]) : WeightedKind(rng);
    }
    s.gap = milliseconds(rng.Between(500, 2000));
    const Bounds b = DurationBounds(s.kind);
    s.duration =
        milliseconds(rng.Between(ttl_ms * b.lo_permille / 1000, ttl_ms * b.hi_permille / 1000));
    const bool with_edit = s.kind == FaultKind::kManifestsOnly || rng.Between(0, 1) == 1;
    if (with_edit && options.files > 0) {
      s.edit.kind = static_cast<EditKind>(rng.Between(1, kEditKindCount - 1));
      s.edit.file = static_cast<int>(rng.Between(0, options.files - 1));
      s.edit.salt = rng.Next();
      s.edit_after = milliseconds(rng.Between(0, s.duration.count()));
    }
    steps.push_back(s);
  }
  return steps;
}

std::string KindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kEtcdKill:
      return "etcd-kill";
    case FaultKind::kEtcdPauseShort:
      return "etcd-stop-short";
    case FaultKind::kEtcdPauseLong:
      return "etcd-stop-long";
    case FaultKind::kEtcdWipe:
      return "etcd-wipe";
    case FaultKind::kProxyCutShort:
      return "proxy-stall-short";
    case FaultKind::kProxyCutLong:
      return "proxy-stall-long";
    case FaultKind::kProxyDrop:
      return "proxy-reset";
    case FaultKind::kControllerKillShort:
      return "ctrl-kill-short";
    case FaultKind::kControllerKillLong:
      return "ctrl-kill-long";
    case FaultKind::kManifestsOnly:
      return "manifests-only";
  }
  return "?";
}

bool ParseKind(const std::string& name, FaultKind* kind) {
  for (int k = 0; k < kFaultKindCount; ++k) {
    if (KindName(static_cast<FaultKind>(k)) == name) {
      *kind = static_cast<FaultKind>(k);
      return true;
    }
  }
  return false;
}

std::string EditName(EditKind kind) {
  switch (kind) {
    case EditKind::kNone:
      return "-";
    case EditKind::kChangeValues:
      return "values";
    case EditKind::kTogglePause:
      return "pause";
    case EditKind::kToggleId:
      return "id";
    case EditKind::kChangeTtl:
      return "ttl";
    case EditKind::kDeleteOrRestoreFile:
      return "delete/restore";
    case EditKind::kDeleteOrRestoreMany:
      return "delete/restore x17";
  }
  return "?";
}

}  // namespace registrar::soak
