// File: controller/etcd/lease_keeper.h
//
// Keeps every lease of one etcd connection alive over ONE LeaseKeepAlive stream.
//
// Expected flow:
//   1. The owner grants a lease, then Add(lease, granted_ttl) (the TTL etcd granted, which may be
//      larger than asked).
//   2. Each lease is renewed about every granted_ttl/3. A timer queue holds the next renewal time
//      of each lease; one keeper thread sends the renewals of all leases, and their answers
//      arrive on the client's completion-queue thread (no thread per lease, none per stream).
//   3. Renewals answered with TTL > 0 -> Listener::OnRenewed; TTL <= 0 -> the lease does not exist
//      -> Listener::OnLost (definitive).
//   4. The stream is considered dead when it closes, or when it stays silent (a request
//      outstanding and no response at all) for min-TTL/3 + 1 s (a silent dead connection). The
//      keeper then reopens it with a backoff capped near one second and, once open, renews every
//      lease at once, so leases etcd no longer knows (it lost its data, or they expired while it
//      was unreachable) are found immediately. A broken stream alone is never reported as loss.
//   5. Remove(lease) stops renewing (the owner revokes it separately).
//
// Guarantees: Listener callbacks run one at a time, on the client's completion-queue thread
// (answers and the stream's end) or on the keeper's thread (a silent stream, answers written off
// when the stream died), never while the keeper's state lock is held, so they may call Add/Remove.
// OnConnectivity reports stream health changes.
// Thread-safety: Add/Remove are safe from any thread; Start/Stop too, but not concurrently with
// each other. Stop() joins the keeper's thread and closes the stream; after it returns no
// callback runs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "controller/common/clock.h"
#include "controller/etcd/client.h"

namespace registrar::etcd {

class LeaseKeeper {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // A keep-alive for `lease` was answered with `ttl` seconds left.
    virtual void OnRenewed(int64_t lease, int64_t ttl) = 0;
    // etcd says `lease` does not exist (keep-alive answered TTL <= 0). The keeper forgets it.
    virtual void OnLost(int64_t lease) = 0;
    // The keep-alive stream became healthy (true) or dead (false).
    virtual void OnConnectivity(bool healthy) = 0;
    // Every keep-alive sent has been answered (renewals_outstanding() went to 0), or the stream
    // they were sent on died.
    virtual void OnRenewalsAnswered() {}
    // The keep-alive stream ended with `status` (it is reopened with backoff). Rejected
    // credentials show here (etcd/token_source.h IsCredentialsRejected) when the stream could
    // not authenticate again.
    virtual void OnStreamClosed(const absl::Status& /*status*/) {}
  };

  virtual ~LeaseKeeper() = default;
  virtual void Start() = 0;
  virtual void Stop() = 0;
  // Starts keeping `lease` alive; renews it right away when `renew_now` (adoption), otherwise at
  // about granted_ttl/3. Adding a lease already kept updates its TTL.
  virtual void Add(int64_t lease, int64_t granted_ttl, bool renew_now = false) = 0;
  virtual void Remove(int64_t lease) = 0;
  virtual size_t size() const = 0;
  virtual bool healthy() const = 0;
  // Keep-alives sent on the live stream and not answered yet. etcd answers a keep-alive only
  // after applying every write committed before it, and one stream's keep-alives one after the
  // other, so an owner that keeps writing while renewals are outstanding delays them all: owners
  // start no new write while this is above zero ("renew first"; OnRenewalsAnswered says when),
  // unless the stream has been silent for long (renewals_silent_since).
  virtual size_t renewals_outstanding() const = 0;
  // While keep-alives are outstanding on the live stream: the stream has answered nothing since
  // then (KeepAliveSchedule::silent_since). Empty when none is outstanding or the stream is dead.
  // Owners hold their writes back for renewals only while this is recent (write_scheduler.h).
  virtual std::optional<Clock::TimePoint> renewals_silent_since() const = 0;
};
using LeaseKeeperPtr = std::unique_ptr<LeaseKeeper>;

// The gRPC-backed keeper. `client`, `clock` and `listener` must outlive it.
LeaseKeeperPtr NewLeaseKeeper(Client& client, Clock& clock, LeaseKeeper::Listener& listener);

}  // namespace registrar::etcd
