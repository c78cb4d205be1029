#include "controller/registration/event_aggregation.h"

#include <algorithm>

namespace registrar::registration {

namespace {

// Fields joined with a byte no Kubernetes name, uid or reason contains.
std::string EventKey(const EventOccurrence& e) {
  std::string key;
  for (const std::string* part : {&e.namespace_, &e.name, &e.uid, &e.type, &e.reason, &e.message}) {
    key += *part;
    key += '\x1f';
  }
  return key;
}

std::string ObjectKey(const EventOccurrence& e) {
  return e.namespace_ + '\x1f' + e.name + '\x1f' + e.uid;
}

}  // namespace

bool EventAggregator::TakeToken(const std::string& object_key, TimePoint now) {
  auto it = buckets_.find(object_key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= capacity_ && !buckets_lru_.empty()) {
      buckets_.erase(buckets_lru_.back());
      buckets_lru_.pop_back();
    }
    buckets_lru_.push_front(object_key);
    it = buckets_.emplace(object_key, Bucket{kSpamBurst, now, buckets_lru_.begin()}).first;
  } else {
    buckets_lru_.splice(buckets_lru_.begin(), buckets_lru_, it->second.lru);
  }
  Bucket& b = it->second;
  if (now > b.refilled) {
    double refill = std::chrono::duration<double>(now - b.refilled) /
                    std::chrono::duration<double>(kSpamRefill);
    b.tokens = std::min<double>(kSpamBurst, b.tokens + refill);
    b.refilled = now;
  }
  if (b.tokens < 1) {
    return false;
  }
  b.tokens -= 1;
  return true;
}

EventWrite EventAggregator::Observe(const EventOccurrence& e, TimePoint now,
                                    const std::string& proposed_name) {
  EventWrite w;
  if (!TakeToken(ObjectKey(e), now)) {
    w.kind = EventWrite::Kind::kDrop;
    return w;
  }
  std::string key = EventKey(e);
  auto it = events_.find(key);
  if (it != events_.end() && now - it->second.last <= kWindow) {
    Entry& entry = it->second;
    events_lru_.splice(events_lru_.begin(), events_lru_, entry.lru);
    entry.count += 1;
    entry.last = now;
    w.kind = EventWrite::Kind::kPatch;
    w.event_name = entry.event_name;
    w.count = entry.count;
    w.first_timestamp = entry.first;
    return w;
  }
  if (it != events_.end()) {
    events_lru_.erase(it->second.lru);
    events_.erase(it);
  }
  if (events_.size() >= capacity_ && !events_lru_.empty()) {
    events_.erase(events_lru_.back());
    events_lru_.pop_back();
  }
  events_lru_.push_front(key);
  events_.emplace(key, Entry{proposed_name, 1, now, now, events_lru_.begin()});
  w.kind = EventWrite::Kind::kCreate;
  w.event_name = proposed_name;
  w.count = 1;
  w.first_timestamp = now;
  return w;
}

void EventAggregator::Forget(const EventOccurrence& e) {
  auto it = events_.find(EventKey(e));
  if (it != events_.end()) {
    events_lru_.erase(it->second.lru);
    events_.erase(it);
  }
}

}  // namespace registrar::registration
