// File: controller/registration/event_aggregation.h
//
// Which API write records one occurrence of an event: client-go's EventRecorder correlation,
// as a pure rule (no threads, no clock: every method takes `now`). The event writer owns one.
//
// Rules:
//   1. Aggregation key: the involved object (namespace, name, uid) + type + reason + message,
//      as client-go's getEventKey (source and apiVersion/kind are the same for all our events).
//      The first occurrence is a create (POST of a core/v1 Event named `proposed_name`,
//      count 1); a repeat within kWindow of the last one is a patch of that Event (count + 1,
//      lastTimestamp); a repeat after kWindow is a new Event (the API server expires Events
//      after an hour by default, so the old one may be gone).
//   2. Spam filter (client-go's EventSourceObjectSpamFilter): per involved object, a token
//      bucket of kSpamBurst tokens refilled one per kSpamRefill; an occurrence without a token
//      is dropped (not written, not counted). A failure that flaps for hours costs at most one
//      write per object every five minutes.
//   3. Bounded memory: both caches are LRU of `capacity` entries (default 4096, client-go's
//      maxLruCacheEntries). An evicted key starts again at rule 1 (a new Event, count 1).
// Cost: one entry holds the key's strings (object name and uid, reason, message: typically
// 200–400 bytes, at most about 1.5 KB with a long message) plus ~100 bytes of bookkeeping, so
// a full cache is about 2 MB typically (6 MB at worst); Observe is O(log n) map lookups and
// O(1) list moves.
// The caller reports a failed write back: Forget() after a failed create or a patch that found
// no Event (404), so the next occurrence creates anew.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <utility>

namespace registrar::registration {

struct EventOccurrence {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string type;  // "Normal" | "Warning"
  std::string reason;
  std::string message;
};

struct EventWrite {
  enum class Kind { kCreate, kPatch, kDrop };
  Kind kind = Kind::kDrop;
  std::string event_name;  // kCreate: `proposed_name`; kPatch: the Event to patch
  int64_t count = 0;       // the Event's count after this write
  std::chrono::system_clock::time_point first_timestamp;  // of the Event written
};

class EventAggregator {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  static constexpr size_t kDefaultCapacity = 4096;
  static constexpr std::chrono::minutes kWindow{60};
  static constexpr int kSpamBurst = 25;
  static constexpr std::chrono::minutes kSpamRefill{5};

  explicit EventAggregator(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // Decides how to record `e` at `now`, and remembers it (rules 1–3).
  EventWrite Observe(const EventOccurrence& e, TimePoint now, const std::string& proposed_name);
  // The last write for `e` failed: the next occurrence is a create.
  void Forget(const EventOccurrence& e);

  size_t size() const { return events_.size(); }

 private:
  struct Entry {
    std::string event_name;
    int64_t count = 0;
    TimePoint first;
    TimePoint last;
    std::list<std::string>::iterator lru;
  };
  struct Bucket {
    double tokens = 0;
    TimePoint refilled;
    std::list<std::string>::iterator lru;
  };
  bool TakeToken(const std::string& object_key, TimePoint now);

  const size_t capacity_;
  std::map<std::string, Entry> events_;
  std::list<std::string> events_lru_;  // most recent first
  std::map<std::string, Bucket> buckets_;
  std::list<std::string> buckets_lru_;
};

}  // namespace registrar::registration
