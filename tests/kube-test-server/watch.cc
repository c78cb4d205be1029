#include "tests/kube-test-server/watch.h"

#include <deque>
#include <optional>

#include "tests/kube-test-server/api_error.h"
#include "tests/kube-test-server/storage.h"

namespace registrar::kts {
namespace {

using json = nlohmann::json;
namespace pb = etcdserverpb;

struct Queued {
  std::string line;
  int64_t rv = 0;
};

// Filled by the etcd reader thread, drained by the connection thread.
class EventQueue {
 public:
  EventQueue(size_t max, std::function<void()> on_overflow)
      : max_(max), on_overflow_(std::move(on_overflow)) {}

  void Push(Queued q) {
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return;
      if (items_.size() < max_) {
        items_.push_back(std::move(q));
        return;
      }
      closed_ = true;
    }
    // A hopelessly slow consumer: its writer is likely blocked on a full socket, so cut the
    // connection (the client sees the stream break and re-lists / re-watches).
    on_overflow_();
  }
  void Close(std::optional<std::string> final_line = std::nullopt) {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    if (final_line) items_.push_back({*final_line, 0});
    closed_ = true;
  }
  // Waits until an item, close, or deadline. Returns items taken and whether closed.
  bool Take(absl::Time deadline, std::deque<Queued>* out) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !items_.empty() || closed_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    out->swap(items_);
    items_.clear();
    return closed_;
  }

 private:
  absl::Mutex mu_;
  std::deque<Queued> items_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  const size_t max_;
  const std::function<void()> on_overflow_;
};

std::optional<json> Decode(const pb::KeyValue& kv, int64_t rv) {
  auto obj = DecodeStored(kv.value(), rv);
  if (!obj.ok()) return std::nullopt;
  return std::move(*obj);
}

}  // namespace

int64_t WatchHub::Add(CloseFn close) {
  absl::MutexLock lock(&mu_);
  int64_t id = next_id_++;
  open_[id] = std::move(close);
  return id;
}

void WatchHub::Remove(int64_t id) {
  absl::MutexLock lock(&mu_);
  open_.erase(id);
}

int WatchHub::CloseAll() {
  std::map<int64_t, CloseFn> open;
  {
    absl::MutexLock lock(&mu_);
    open = open_;
  }
  for (auto& [id, fn] : open) fn();
  return static_cast<int>(open.size());
}

int WatchHub::count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(open_.size());
}

std::string ExpiredEventLine(const std::string& message) {
  return json{{"type", "ERROR"}, {"object", Expired(message).ToStatusJson()}}.dump();
}

void RunWatch(etcd::Client& client, WatchHub& hub, WatchSpec spec, ResponseWriter& out) {
  auto queue = std::make_shared<EventQueue>(spec.max_queue, [&out] { out.Abort(); });
  int64_t hub_id = hub.Add([queue] { queue->Close(); });

  etcd::WatchHandler handler;
  handler.on_response = [queue, &spec](const pb::WatchResponse& resp) {
    if (resp.canceled()) {
      if (resp.compact_revision() > 0) {
        queue->Close(ExpiredEventLine("too old resource version: " +
                                      std::to_string(spec.start_revision - 1) + " (" +
                                      std::to_string(resp.compact_revision()) + ")"));
      } else {
        queue->Close();
      }
      return;
    }
    for (const pb::Event& ev : resp.events()) {
      int64_t rv = ev.kv().mod_revision();
      std::optional<json> prev;
      if (ev.has_prev_kv() && !ev.prev_kv().key().empty()) prev = Decode(ev.prev_kv(), rv);
      bool old_match = prev && spec.matches(*prev);
      if (ev.type() == pb::Event::DELETE) {
        if (old_match) queue->Push({spec.encode("DELETED", *prev), rv});
        continue;
      }
      std::optional<json> cur = Decode(ev.kv(), rv);
      if (!cur) continue;
      bool new_match = spec.matches(*cur);
      if (new_match && old_match) {
        queue->Push({spec.encode("MODIFIED", *cur), rv});
      } else if (new_match) {
        queue->Push({spec.encode("ADDED", *cur), rv});
      } else if (old_match) {
        queue->Push({spec.encode("DELETED", *prev), rv});
      }
    }
  };
  handler.on_closed = [queue, &spec](absl::Status st) {
    if (st.code() == absl::StatusCode::kOutOfRange) {
      queue->Close(ExpiredEventLine("too old resource version: " +
                                    std::to_string(spec.start_revision - 1) + " (" +
                                    std::string(st.message()) + ")"));
    } else {
      queue->Close();
    }
  };

  pb::WatchCreateRequest req;
  req.set_key(spec.key_prefix);
  req.set_range_end(etcd::PrefixRangeEnd(spec.key_prefix));
  req.set_start_revision(spec.start_revision);
  req.set_prev_kv(true);
  auto stream = client.Watch(req, handler);

  if (!out.BeginStream(200, spec.content_type)) {
    hub.Remove(hub_id);
    return;
  }
  bool ok = true;
  int64_t last_rv = spec.start_revision - 1;
  for (const json& obj : spec.initial) {
    if (!spec.matches(obj)) continue;
    ok = ok && out.WriteChunk(spec.encode("ADDED", obj) + "\n");
  }
  if (!stream.ok()) {
    queue->Close();
  }
  absl::Time end = absl::Now() + absl::FromChrono(spec.timeout);
  absl::Time next_bookmark = absl::Now() + absl::FromChrono(spec.bookmark_interval);
  auto bookmark = [&] {
    json obj = {{"metadata", {{"resourceVersion", std::to_string(last_rv)}}}};
    return out.WriteChunk(spec.encode("BOOKMARK", obj) + "\n");
  };
  while (ok) {
    absl::Time now = absl::Now();
    if (now >= end) {
      if (spec.bookmarks) bookmark();
      break;
    }
    absl::Time wake = std::min({end, now + absl::Seconds(1),
                                spec.bookmarks ? next_bookmark : absl::InfiniteFuture()});
    std::deque<Queued> items;
    bool closed = queue->Take(wake, &items);
    for (Queued& q : items) {
      if (!out.WriteChunk(q.line + "\n")) {
        ok = false;
        break;
      }
      if (q.rv > 0) last_rv = q.rv;
    }
    if (closed || !ok) break;
    if (spec.bookmarks && absl::Now() >= next_bookmark) {
      ok = bookmark();
      next_bookmark = absl::Now() + absl::FromChrono(spec.bookmark_interval);
    }
    if (items.empty() && out.PeerClosed()) ok = false;
  }
  hub.Remove(hub_id);
  if (stream.ok()) (*stream)->Close();
  if (ok) out.EndStream();
}

}  // namespace registrar::kts
