// File: controller/etcd/lease_keeper_impl.h
//
// The LeaseKeeper (lease_keeper.h) over one Client::KeepAlive stream.
//
// Flow: one timer thread ("lease-keeper", a common/timer_queue.h TimerThread) owns the stream. It
// sleeps until the KeepAliveSchedule's next wakeup (a renewal due or the stale deadline; or until
// Add/stream closure/Stop wakes it; nothing else: an idle keeper wakes only for real deadlines),
// sends every due lease in one batch, closes a stream the schedule calls stale, and reopens a dead
// stream after a Backoff (100 ms .. 1 s), making every lease due at once. Opening the stream never
// blocks the timer thread (with authentication the stream starts once the client has a token;
// renewals sent meanwhile wait in the stream's queue). Responses arrive on the client's
// completion-queue thread: the schedule retires the request, and the Listener hears OnRenewed /
// OnLost; OnConnectivity(true) on the first response of a stream, OnConnectivity(false) when it
// closes or goes stale. Thread-safety: as in lease_keeper.h. REQUIRES: Stop() is not called from a
// Listener callback.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "controller/common/backoff.h"
#include "controller/common/clock.h"
#include "controller/common/timer_queue.h"
#include "controller/etcd/client.h"
#include "controller/etcd/keepalive_schedule.h"
#include "controller/etcd/lease_keeper.h"

namespace registrar::etcd {

class LeaseKeeperImpl final : public LeaseKeeper {
 public:
  LeaseKeeperImpl(Client& client, Clock& clock, Listener& listener);
  ~LeaseKeeperImpl() override;

  void Start() override;
  void Stop() override;
  void Add(int64_t lease, int64_t granted_ttl, bool renew_now = false) override;
  void Remove(int64_t lease) override;
  size_t size() const override;
  bool healthy() const override { return healthy_.load(); }
  size_t renewals_outstanding() const override { return outstanding_.load(); }
  std::optional<Clock::TimePoint> renewals_silent_since() const override;

  // How many times the stream was (re)opened, and closed for silence; for tests and metrics.
  int64_t streams_opened() const { return streams_opened_.load(); }
  int64_t stale_streams() const { return stale_streams_.load(); }

 private:
  // One pass of the timer thread: sends what is due, reopens a dead stream; returns when next.
  std::optional<Clock::TimePoint> Step();
  void OnResponse(uint64_t generation, const pb::LeaseKeepAliveResponse& response);
  void OnClosed(uint64_t generation, const absl::Status& status);
  void ReportConnectivity(bool healthy);
  // Publishes the outstanding count (zero while the stream is dead); true when it dropped to zero.
  bool PublishOutstandingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportRenewalsAnswered();

  // Set at construction, not owned; each is safe to use from any thread.
  Client& client_;
  Clock& clock_;
  Listener& listener_;

  mutable absl::Mutex mu_;
  KeepAliveSchedule schedule_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // of the current stream
  bool stream_dead_ ABSL_GUARDED_BY(mu_) = true;
  bool got_response_ ABSL_GUARDED_BY(mu_) = false;
  // The reason of the last close, so that the same failure again and again is logged once (at
  // warning level; again after a response came in between).
  std::string last_close_message_ ABSL_GUARDED_BY(mu_);
  bool got_response_since_close_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex callback_mu_;  // one Listener callback at a time
  bool reported_healthy_ ABSL_GUARDED_BY(callback_mu_) = false;

  std::atomic<bool> healthy_{false};
  std::atomic<size_t> outstanding_{0};
  std::atomic<int64_t> streams_opened_{0};
  std::atomic<int64_t> stale_streams_{0};
  // The timer thread's own state (reset by Start before the thread runs).
  Backoff backoff_;
  KeepAliveStreamPtr stream_;
  Clock::TimePoint reopen_at_{};
  // Only Start, Stop and the destructor start and stop it (lease_keeper.h: not concurrently).
  TimerThread thread_;  // last: its step uses everything above
};

}  // namespace registrar::etcd
