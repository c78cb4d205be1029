// File: tests/soak/fault_schedule.h
//
// The fault soak's schedule (tests/soak/fault_soak.cc) as a pure rule: a seed, a fault count and
// the registrations' TTL give the list of steps the soak runs, so a failing run reproduces from
// its seed. No threads, no clock, no I/O.
//
// Flow: PlanFaults(options) draws every step from one SplitMix64 stream seeded with `seed`
// (SplitMix64 and plain modulo, not <random>'s distributions, whose results differ between
// standard libraries). Each step is: wait `gap`, start the fault, hold it for `duration`, end it,
// then the soak waits until the checker passes (not part of the plan: its time is measured).
// An optional manifest edit is applied `edit_after` into the fault, i.e. while it holds.
// Rules (table-tested in fault_schedule_test.cc):
//   - the first kFaultKindCount steps are a seeded permutation of every kind, so any run of at
//     least that many steps exercises each kind once; later steps draw a kind by kKindWeights;
//   - "short" faults last 10-60 % of the TTL, "long" ones 120-160 % (a lease of the TTL expires
//     during a long one and survives a short one); an etcd kill keeps it down 5-50 % of the TTL,
//     a wipe 0-30 %; a connection drop and a manifests-only step last 0;
//   - gaps are 0.5-2 s; every manifests-only step and about half of the others carry an edit,
//     of a kind drawn uniformly.
//   - the TTL used by the kChangeTtl edit (alt_ttl) is max(5, ttl - 2): still above every short
//     fault and below every long one.
// Cost: O(count). Thread-safety: pure functions.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace registrar::soak {

enum class FaultKind {
  kEtcdKill,             // SIGKILL etcd, down for `duration`, started again on the same data
  kEtcdPauseShort,       // SIGSTOP etcd for less than the TTL, then SIGCONT
  kEtcdPauseLong,        // SIGSTOP etcd for longer than the TTL
  kEtcdWipe,             // SIGKILL etcd, its data dir deleted, started again empty, same port
  kProxyCutShort,        // the TCP proxy stalls every byte (sockets stay open), < TTL
  kProxyCutLong,         // the same, > TTL
  kProxyDrop,            // the TCP proxy resets every connection (instant)
  kControllerKillShort,  // SIGKILL the controller, restarted after < TTL (adopts its leases)
  kControllerKillLong,   // SIGKILL the controller, restarted after > TTL (leases expired)
  kManifestsOnly,        // no fault: only a manifest edit
};
inline constexpr int kFaultKindCount = 10;

// Relative weights of the kinds after the first kFaultKindCount steps (index = kind).
inline constexpr std::array<int, kFaultKindCount> kKindWeights = {12, 12, 6,  6, 12,
                                                                  5,  10, 12, 5, 20};

enum class EditKind {
  kNone,
  kChangeValues,         // every document of the file gets a new value (derived from `salt`)
  kTogglePause,          // every other document of the file flips `paused`
  kToggleId,             // every other document flips between `id: N` and no id (key/<lease>)
  kChangeTtl,            // the file's documents switch between ttl and alt_ttl
  kDeleteOrRestoreFile,  // the file is removed, or written back when it was removed
  kDeleteOrRestoreMany,  // the same for kManyFiles files at once (file, file + 1, ...)
};
inline constexpr int kEditKindCount = 7;  // with kNone
inline constexpr int kManyFiles = 17;

struct Edit {
  EditKind kind = EditKind::kNone;
  int file = 0;       // which manifest file, 0 <= file < PlanOptions::files
  uint64_t salt = 0;  // makes the new values of kChangeValues
};

struct Step {
  int index = 0;  // 1-based
  FaultKind kind = FaultKind::kManifestsOnly;
  std::chrono::milliseconds gap{0};         // wait before the fault starts
  std::chrono::milliseconds duration{0};    // how long the fault holds
  Edit edit;                                // kNone: no edit in this step
  std::chrono::milliseconds edit_after{0};  // into the fault; <= duration
};

struct PlanOptions {
  uint64_t seed = 1;
  int count = 100;
  int ttl_seconds = 10;
  int files = 50;  // manifest files the edits choose from
  // Not empty: every step draws its kind uniformly from these (no coverage permutation); to
  // reduce a failure to one kind of fault.
  std::vector<FaultKind> only = {};
};

std::vector<Step> PlanFaults(const PlanOptions& options);

// max(5, ttl - 2): see the header comment.
int AltTtl(int ttl_seconds);

// "etcd-kill", "etcd-pause-short", ... and "none", "change-values", ...: for the soak's table.
std::string KindName(FaultKind kind);
std::string EditName(EditKind kind);

// The kind named `name` (KindName's spelling); false when there is none.
bool ParseKind(const std::string& name, FaultKind* kind);

// True for the kinds that hold a fault longer than the TTL.
bool IsLong(FaultKind kind);

// The SplitMix64 generator the plan uses (exposed for the table test).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [lo, hi] (inclusive); REQUIRES: lo <= hi.
  int64_t Between(int64_t lo, int64_t hi);

 private:
  uint64_t state_;
};

}  // namespace registrar::soak
