// File: controller/publisher/write_scheduler.h
//
// Which etcd writes of one connection may start now. Pure logic: no threads, no clock (every
// method that needs the time takes `now`); the engine thread owns it.
//
// Rules:
//   1. At most `max_in_flight` writes in flight.
//   2. Renew first: nothing starts while keep-alives are outstanding (the caller says since when
//      the keep-alive stream has answered nothing), for at most `renew_first_limit` of silence
//      (the connection's request timeout). Why the rule: etcd answers a keep-alive only after
//      the writes before it, so writes started now would delay the renewals (etcd 3.4 pays for
//      every keep-alive after a burst, rule 3). Why the limit: a stream silent that long is not
//      answering slowly, it is cut off (or etcd is stopped); the keeper notices only after
//      min-TTL/3 + 1 s (21 min at TTL 3600), and holding writes that long kept a revoke from
//      failing into the revoke debt (and every other write from its retry). Past the limit the
//      queue runs: the writes reach etcd or fail by their own deadline.
//   3. Lease writes (LeaseGrant, LeaseRevoke) and key writes (Txn) run in alternating phases; a
//      phase with the other kind waiting ends after kMinPhase, and the next phase starts once the
//      writes of the current one are answered. Why: etcd 3.4 reads the revision for every
//      keep-alive response through a buffered read transaction, which copies etcd's buffer of
//      uncommitted writes; a bucket's buffer keeps the size of the largest burst written to it
//      until a backend commit (every 100 ms) finds that bucket unwritten. With both kinds written
//      all the time, neither buffer ever shrinks, and a registration burst makes every later
//      keep-alive cost etcd hundreds of kilobytes of copying. A phase of kMinPhase (longer than
//      two commit intervals) gives the other bucket a write-free commit in every cycle.
//   4. Settle: after key writes, once nothing was written for kSettleAfter (the burst is over,
//      or keep-alives hold the queued writes back), SettleDue() asks the
//      caller for one key write (a rewrite of a record it owns, same value and lease): its commit
//      finds the lease bucket unwritten and drops it. kSettleAfter later it asks for one lease
//      write (grant and revoke a throwaway lease): its commit drops the key bucket, and etcd is
//      left with one fresh, small lease-bucket buffer instead of the burst's.
//   5. Budget: with SetBudget(n), at most about n entries (a put, a delete, a lease) are written
//      per second, in portions of n/10 (the size of one 100 ms commit interval): a bucket that
//      receives fewer than 512 entries per commit keeps etcd's smallest buffer. The owner sets it
//      when it holds so many leases that the cost of every keep-alive matters more than the
//      speed of new registrations.
// Settle writes go first and ignore rules 2 and 5: they are what makes keep-alives cheap again.
// They help etcd 3.4 only (etcd/server_version.h): the owner asks SettleDue() on every
// connection, and sends the write only where SettleWrites and the server's version say so.
// Ordering: within a kind, `first` operations go before the others, each in submission order.
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "controller/common/clock.h"

namespace registrar::publisher {

enum class WriteKind { kLease = 0, kKey = 1 };

// Whether a connection sends the settle writes of rule 4 when SettleDue() asks. kAuto: where the
// etcd server's version says they help (etcd::SettleWritesHelp: 3.4, or not known yet); kOn /
// kOff: always / never (the benchmark compares).
enum class SettleWrites { kAuto, kOn, kOff };

class WriteScheduler {
 public:
  using Op = std::function<void()>;
  using TimePoint = Clock::TimePoint;
  static constexpr Clock::Duration kMinPhase = std::chrono::milliseconds(250);
  static constexpr Clock::Duration kSettleAfter = std::chrono::milliseconds(150);

  // The client's default request timeout (etcd/client_options.h).
  static constexpr Clock::Duration kRenewFirstLimit = std::chrono::seconds(5);

  explicit WriteScheduler(int max_in_flight = 256,
                          Clock::Duration renew_first_limit = kRenewFirstLimit)
      : max_in_flight_(max_in_flight), renew_first_limit_(renew_first_limit) {}

  // Queues `op`, which writes `cost` entries; it runs from a later Ready(). `settle`: the write
  // SettleDue() asked for.
  void Submit(WriteKind kind, Op op, bool first, int cost = 1, bool settle = false);
  // Rule 5: entries per second, 0 for no limit.
  void SetBudget(int entries_per_second, TimePoint now);
  // An operation of `kind` returned from Ready() was answered at `now`.
  void Done(WriteKind kind, TimePoint now);
  // The operations to start now, in order (each counts as in flight). `renewals_silent_since`:
  // keep-alives are outstanding and the stream has answered nothing since then (rule 2); empty
  // when none is outstanding.
  std::vector<Op> Ready(TimePoint now, std::optional<TimePoint> renewals_silent_since);
  // When Ready() or SettleDue() may have a different answer without any other event: the end
  // of the minimum phase, the settle deadline, or the end of the renew-first hold (rule 2).
  // Empty when nothing is pending.
  std::optional<TimePoint> NextCheck() const;
  // The settle write due now (rule 4), if any: nothing written or in flight for kSettleAfter,
  // and the previous settle write started. The
  // caller submits it with `settle` (or skips it) and calls Settled(kind).
  std::optional<WriteKind> SettleDue(TimePoint now) const;
  void Settled(WriteKind kind);

  int in_flight() const { return in_flight_[0] + in_flight_[1]; }
  size_t queued() const { return queue_[0].size() + queue_[1].size(); }
  WriteKind phase() const { return phase_; }

 private:
  static int Index(WriteKind kind) { return static_cast<int>(kind); }
  static WriteKind Other(WriteKind kind) {
    return kind == WriteKind::kLease ? WriteKind::kKey : WriteKind::kLease;
  }
  void MaybeSwitch(TimePoint now);
  void Refill(TimePoint now);
  double Capacity() const { return budget_ / 10.0; }

  int max_in_flight_;
  Clock::Duration renew_first_limit_;
  std::optional<TimePoint> held_until_;  // the last Ready() held writes for renewals until then
  struct Queued {
    Op op;
    int cost = 1;
    bool settle = false;
  };
  enum class Settle { kNone, kKey, kLease };  // the settle write needed next

  std::array<std::deque<Queued>, 2> queue_;  // by Index(kind)
  std::array<size_t, 2> first_count_{};  // how many at the front of each queue were `first`
  std::array<int, 2> in_flight_{};
  WriteKind phase_ = WriteKind::kKey;
  TimePoint phase_since_{};
  bool switching_ = false;  // the current phase ended; waiting for its writes to be answered
  Settle settle_ = Settle::kNone;
  int settle_queued_ = 0;  // a settle write waits for its phase: the next one waits for it
  TimePoint last_activity_{};
  int budget_ = 0;  // entries per second; 0: none
  double tokens_ = 0;
  TimePoint refilled_{};
};

}  // namespace registrar::publisher
