// File: controller/etcd/keepalive_schedule.h
//
// The timing rules of the lease keeper, with no threads and no clock: every method takes `now`.
//
// Flow: Add() schedules a lease's first renewal at now + ttl/3 (or now). Due(now) returns the
// leases whose renewal time has come, records each as one outstanding request sent at `now`, and
// schedules its next renewal a third of its TTL later. Responses come back in request order on
// one stream, so OnResponse() retires the oldest outstanding request and, for a live lease, adopts
// the TTL etcd reports (it may have raised a small one). IsStreamStale(now) is true when the
// oldest outstanding request is older than min-TTL/3 + 1 s. OnStreamReset(now) forgets every
// outstanding request and makes every lease due at once (used after the stream is reopened).
//
// Cost: a min-heap keyed by due time with lazy deletion (entries carry a generation), a hash map
// per lease, a FIFO of send times and a count of TTLs for the minimum: Add/Remove/OnResponse are
// O(log n), Due is O(k log n) for k due leases, NextWakeup O(1); OnStreamReset is O(n).
// Thread-safety: none; the owner serializes calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <queue>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"

#include "controller/common/clock.h"

namespace registrar::etcd {

class KeepAliveSchedule {
 public:
  using TimePoint = Clock::TimePoint;
  using Duration = Clock::Duration;

  // TTLs above this many seconds (10^6, 11.6 days) count as this much: ours are 5..3600 and
  // etcd only raises a TTL to its minimum, so only a broken or hostile etcd reports more (a
  // keep-alive answer's TTL), and beyond it the millisecond and nanosecond arithmetic below
  // overflows int64 (found by fuzz_etcd_replies).
  static constexpr int64_t kMaxTtlSeconds = 1'000'000;

  // The renewal interval for a TTL in seconds: a third of it (at least 100 ms).
  static Duration Interval(int64_t ttl_seconds);
  // How early a renewal may go out so that renewals due close together share one wake-up and
  // one write: an eighth of the shortest interval, at most 250 ms.
  Duration BatchWindow() const;
  // How long a request may stay unanswered before the stream counts as dead: ttl/3 + 1 s.
  static Duration StaleAfter(int64_t min_ttl_seconds);

  // Starts renewing `lease` (granted TTL in seconds) at now + Interval(ttl), or now when
  // `renew_now`. Adding a known lease updates its TTL and reschedules it.
  void Add(int64_t lease, int64_t ttl_seconds, TimePoint now, bool renew_now);
  // Stops renewing `lease`. Returns false when it was not scheduled.
  bool Remove(int64_t lease);
  bool Contains(int64_t lease) const { return leases_.contains(lease); }
  size_t size() const { return leases_.size(); }

  // Leases to send now, in due order: every lease due at or before `horizon` (>= now; a later
  // horizon renews a little early so that renewals go out in batches). Each counts as sent at
  // `now`; its next renewal is Interval(ttl) after max(now, its due time).
  std::vector<int64_t> Due(TimePoint now, TimePoint horizon);
  std::vector<int64_t> Due(TimePoint now) { return Due(now, now); }
  // A keep-alive response for `lease` with `ttl` seconds (<= 0: etcd does not know it). Retires
  // the oldest outstanding request; updates the TTL of a live known lease; removes a lost one.
  // Returns true when `lease` was scheduled.
  bool OnResponse(int64_t lease, int64_t ttl);
  // The stream was reopened: nothing is outstanding and every lease is due at `now`.
  void OnStreamReset(TimePoint now);

  // The next time something needs doing: a lease renewal or the stale deadline of the oldest
  // outstanding request. Empty when there is nothing scheduled.
  std::optional<TimePoint> NextWakeup() const;
  // The stream is dead when it has been silent for StaleAfter(min TTL): a request outstanding and
  // no response at all since max(that request, the last response). A stream that answers slowly
  // (etcd busy applying writes) is alive; a silent one is not.
  bool IsStreamStale(TimePoint now) const;
  // A response arrived at `now` (any lease): the stream is not silent.
  void NoteResponse(TimePoint now) { last_response_ = now; }
  // With requests outstanding: the stream has answered nothing since then (max of the oldest
  // outstanding request and the last response). Empty when nothing is outstanding.
  std::optional<TimePoint> silent_since() const;
  size_t outstanding() const { return outstanding_.size(); }
  std::optional<int64_t> min_ttl() const;

 private:
  struct Lease {
    int64_t ttl = 0;
    TimePoint due;
    uint64_t generation = 0;
  };
  struct Entry {
    TimePoint due;
    int64_t lease;
    uint64_t generation;
    bool operator>(const Entry& other) const { return due > other.due; }
  };

  void Schedule(int64_t lease, Lease& state, TimePoint due);
  void SetTtl(Lease& state, int64_t ttl);
  void DropStaleTop();
  TimePoint SilentSince() const;  // REQUIRES: !outstanding_.empty()

  absl::flat_hash_map<int64_t, Lease> leases_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
  absl::btree_map<int64_t, int64_t> ttl_counts_;  // TTL -> how many leases have it
  std::deque<TimePoint> outstanding_;             // send times, oldest first
  TimePoint last_response_{};
  uint64_t next_generation_ = 1;
};

}  // namespace registrar::etcd
