// File: controller/publisher/revoke_debt.h
//
// The revoke debt of one connection: every lease the engine decided to revoke whose revoke
// failed (anything but "lease not found", which means done), kept until etcd says it is revoked
// or unknown. Nothing relies on a lease expiring (DESIGN.md §2): the lease is not renewed any
// more, its key and ownership record stay until the revoke is done, and a restarted controller
// finds the record as an orphan. Pure logic: no threads, no clock (every method that needs the
// time takes `now`); the engine thread owns it (connection.h).
//
// Rules (which lease is retried when):
//   1. A failed revoke enters the debt (Failed() says whether it is new, so it is logged once);
//      its next attempt is kFirstRetry later, doubling after each further failure up to kMaxRetry.
//   2. Reconnected(): etcd answers again on this connection (keep-alive stream up, the probe
//      answered after failing, a write answered after a transient failure). Every entry is due
//      at once and its backoff starts over; an entry whose attempt is in flight then is retried
//      at once when that attempt fails (it was sent before etcd was back).
//   3. Due(now) hands out the entries due now; each counts as in flight until Failed() or Paid().
//   4. Paid(): etcd answered revoked or not found; the entry leaves the debt.
//
// Cost: a map by lease and a set ordered by next attempt: Failed/Paid O(log n), Due O(k log n)
// for k due entries, NextCheck O(1), Reconnected O(n).
// Thread-safety: none; the owner serializes calls. Ownership: copies of the entries.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "controller/common/clock.h"

namespace registrar::publisher {

// Why the engine revokes a lease (for logs and metrics).
enum class RevokeReason {
  kRemoved,           // the registration was removed
  kPaused,            // the registration was paused
  kReplaced,          // the lease a make-before-break change replaced
  kIntermediate,      // a lease replaced before its own change finished
  kUnansweredGrant,   // a grant that failed in transit (it may have happened: we chose the id)
  kGrantedForNobody,  // a grant answered after its registration went away
  kSettle,            // the throwaway lease of a settle write (write_scheduler.h)
  kOrphan,            // an adopted record nobody claimed
};
// "removed", "paused", "replaced", "intermediate", "unanswered grant", "granted for nobody",
// "settle", "orphan".
const char* RevokeReasonName(RevokeReason reason);

// One lease to revoke.
struct PendingRevoke {
  int64_t lease = 0;
  RevokeReason reason = RevokeReason::kRemoved;
  std::string owner{};     // registration id (orphans: the record's); empty for settle leases
  std::string full_key{};  // the key it holds, when known
};

class RevokeDebt {
 public:
  using TimePoint = Clock::TimePoint;
  using Duration = Clock::Duration;
  static constexpr Duration kFirstRetry = std::chrono::seconds(1);
  static constexpr Duration kMaxRetry = std::chrono::seconds(30);

  // A revoke of `revoke.lease` failed at `now` (rules 1 and 2). True when the lease was not in
  // the debt before.
  bool Failed(PendingRevoke revoke, TimePoint now);
  // Rule 4: the lease is revoked (or etcd does not know it); its entry, if it was in the debt.
  std::optional<PendingRevoke> Paid(int64_t lease);
  // Rule 2.
  void Reconnected(TimePoint now);
  // Rule 3: the entries to revoke now, in order of their due time.
  std::vector<PendingRevoke> Due(TimePoint now);
  // When Due() has something next; nullopt when every entry is in flight or the debt is empty.
  std::optional<TimePoint> NextCheck() const;

  bool Contains(int64_t lease) const { return entries_.contains(lease); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Failures of `lease` since it entered the debt (or since the last reconnect); 0 when
  // it is not in the debt.
  int failures(int64_t lease) const;
  std::vector<int64_t> leases() const;

  // The delay after `failures` consecutive failures (>= 1): kFirstRetry * 2^(failures-1),
  // at most kMaxRetry.
  static Duration Delay(int failures);

 private:
  struct Entry {
    PendingRevoke revoke;
    int failures = 0;  // since it entered, or since the last reconnect
    bool in_flight = false;
    bool retry_at_once = false;  // a reconnect came while its attempt was in flight
    TimePoint next{};            // when not in flight
  };
  void Schedule(Entry& entry, TimePoint when);

  std::map<int64_t, Entry> entries_;
  std::set<std::pair<TimePoint, int64_t>> schedule_;  // entries not in flight, by next attempt
};

}  // namespace registrar::publisher
