// File: controller/publisher/state_board.h
//
// What readers see of the engine: the published State of every registration, the last renewal
// time of every lease, the counters (EngineStats) and the adopted records nobody claimed yet. The
// engine thread writes it; Get, List and stats read it from any thread. Renewals come from the
// keeper threads, one map write each.
//
// Thread-safety: every method is safe from any thread (one absl::Mutex). Ownership: copies.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

#include "controller/publisher/engine.h"

namespace registrar::publisher {

class StateBoard {
 public:
  // Stores `state` (keeping the slot's last renewal); true when a reader would see a change
  // (phase, cause, message, full key, lease, value, or a new id).
  bool Publish(const State& state);
  void Erase(const std::string& id);

  void NoteRenewal(int64_t lease, std::chrono::system_clock::time_point when);
  void ForgetRenewal(int64_t lease);
  // When `lease` was last renewed (nullopt: not since it was granted or adopted).
  std::optional<std::chrono::system_clock::time_point> LastRenewal(int64_t lease) const;

  // Adds one to a counter of EngineStats, e.g. Count(&EngineStats::lease_losses).
  void Count(int64_t EngineStats::*counter);
  // Adds one to EngineStats::revokes[reason].
  void CountRevoke(const std::string& reason);
  // Sets etcd_reachable; true when it changed.
  bool SetReachable(bool reachable);
  void SetPendingRevokes(int64_t n);
  void SetConnections(int64_t n);

  // Adoption: the records held at load, each one dropped when claimed, judged an orphan or gone;
  // SetAdoptionDone() makes them readable (Unclaimed() is nullopt before).
  void SetUnclaimed(std::vector<AdoptedRecord> records);
  void Unclaim(const std::string& full_key);
  void ClearUnclaimed();
  void SetAdoptionDone();
  // nullopt until SetAdoptionDone(), waiting up to `wait` for it.
  std::optional<std::vector<AdoptedRecord>> Unclaimed(
      std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const;

  std::optional<State> Get(const std::string& id) const;
  std::vector<State> List() const;
  EngineStats stats() const;

 private:
  State WithRenewal(const State& state) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, State> states_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, std::chrono::system_clock::time_point> renewals_
      ABSL_GUARDED_BY(mu_);
  EngineStats stats_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, AdoptedRecord> unclaimed_ ABSL_GUARDED_BY(mu_);  // by full key
};

}  // namespace registrar::publisher
