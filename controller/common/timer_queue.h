// File: controller/common/timer_queue.h
//
// The one timer implementation: what is due when (TimerQueue, pure rules: no threads, no clock)
// and a thread that sleeps until the next deadline on a Clock (TimerThread). The engine's event
// loop, the lease keeper and the work queue's delay thread each own one TimerThread: components
// share no thread (the etcd liveness loop never waits behind the work queue, DESIGN §2).
//
// TimerQueue<K> rules:
//   - a key waits once: scheduling a waiting key again keeps the earlier of the two times;
//   - PopDue(now) hands out keys with due <= now, earliest first, equal times in the order they
//     were scheduled;
//   - Schedule returns true when the queue's earliest time moved earlier (its sleeper must be
//     woken to honour it).
// Costs (n keys waiting): Schedule, Cancel, PopDue O(log n); NextDue O(1); memory two nodes per
// key (an ordered map by time and a hash map by key).
//
// TimerThread flow: Start() runs `step` on a new named thread; the step does whatever is due and
// returns when it wants to run again (std::nullopt: only when woken). The thread then sleeps until
// that time on the Clock, or until WakeAt(t) names an earlier time (Wake(): now), or Stop(). Idle
// means no wake-up at all but real deadlines. A FakeClock wakes the thread when advanced
// (Clock::Waker), so tests advance time instead of sleeping and no wait needs a cap.
// Thread-safety: TimerQueue is not thread-safe (its owner's lock guards it). TimerThread's WakeAt,
// Wake and stopping() are safe from any thread, also with the owner's lock held (its own lock is
// a leaf: never held while calling out); Start and Stop from the owner's thread only, never from
// the step. Ownership: TimerThread owns its thread; the step's captures must outlive Stop().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

#include "controller/common/clock.h"

namespace registrar {

template <typename K>
class TimerQueue {
 public:
  using TimePoint = Clock::TimePoint;

  // Queues `key` at `due`, or moves a waiting key earlier; true when NextDue() became earlier.
  bool Schedule(const K& key, TimePoint due) {
    const std::optional<TimePoint> before = NextDue();
    if (auto it = at_.find(key); it != at_.end()) {
      if (it->second.first <= due) {
        return false;
      }
      by_time_.erase(it->second);
      it->second = {due, next_seq_++};
      by_time_.emplace(it->second, key);
    } else {
      const Slot slot{due, next_seq_++};
      at_.emplace(key, slot);
      by_time_.emplace(slot, key);
    }
    return !before || due < *before;
  }

  // Drops `key`; false when it was not waiting.
  bool Cancel(const K& key) {
    auto it = at_.find(key);
    if (it == at_.end()) {
      return false;
    }
    by_time_.erase(it->second);
    at_.erase(it);
    return true;
  }

  // The earliest key with due <= now, removed; std::nullopt when none is due.
  std::optional<K> PopDue(TimePoint now) {
    if (by_time_.empty() || by_time_.begin()->first.first > now) {
      return std::nullopt;
    }
    auto node = by_time_.extract(by_time_.begin());
    at_.erase(node.mapped());
    return std::move(node.mapped());
  }

  // When the earliest key is due; std::nullopt when nothing waits.
  std::optional<TimePoint> NextDue() const {
    if (by_time_.empty()) {
      return std::nullopt;
    }
    return by_time_.begin()->first.first;
  }

  bool contains(const K& key) const { return at_.contains(key); }
  size_t size() const { return at_.size(); }
  bool empty() const { return at_.empty(); }

 private:
  using Slot = std::pair<TimePoint, uint64_t>;  // (due, scheduling sequence)
  std::map<Slot, K> by_time_;
  absl::flat_hash_map<K, Slot> at_;
  uint64_t next_seq_ = 0;
};

class TimerThread {
 public:
  using TimePoint = Clock::TimePoint;
  // Does what is due; returns when to run again (std::nullopt: when woken).
  using Step = std::function<std::optional<TimePoint>()>;

  TimerThread(Clock& clock, std::string name, Step step);
  // Stops and joins.
  ~TimerThread();

  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  // Starts the thread (the step runs at once); no-op while running. Restartable after Stop().
  void Start();
  // Makes the thread stop and joins it; the step does not run afterwards. No-op when not running.
  void Stop();
  // Makes the step run by `when` on the clock (at once when it is past).
  void WakeAt(TimePoint when);
  void Wake() { WakeAt(TimePoint::min()); }
  // True once Stop() was called: a long step checks it between items.
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  // How many times the step ran (tests and the idle figures).
  int64_t steps() const { return steps_.load(std::memory_order_relaxed); }

 private:
  class ClockWaker final : public Clock::Waker {
   public:
    explicit ClockWaker(TimerThread& owner) : owner_(owner) {}
    void Wake() override;

   private:
    TimerThread& owner_;
  };

  void Run();

  Clock& clock_;
  const std::string name_;
  const Step step_;
  ClockWaker clock_waker_{*this};

  absl::Mutex mu_;
  absl::CondVar cv_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;    // run the step again without waiting
  bool running_ ABSL_GUARDED_BY(mu_) = false;  // the step is running (its deadline is unknown)
  TimePoint planned_ ABSL_GUARDED_BY(mu_) = TimePoint::max();  // when the sleeper wakes
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> steps_{0};
  std::thread thread_;  // the owner's thread only (Start, Stop)
};

}  // namespace registrar
