#include "controller/publisher/prefix_watches.h"

#include <vector>

#include "controller/common/format.h"
#include "spdlog/spdlog.h"

namespace registrar::publisher {

void PrefixWatches::Ensure(Connection* conn, const std::string& prefix) {
  Watch& w = watches_[{conn, prefix}];
  if (w.refs++ == 0) {
    Open(conn, prefix);
  }
}

void PrefixWatches::Release(Connection* conn, const std::string& prefix) {
  auto it = watches_.find({conn, prefix});
  if (it == watches_.end()) {
    return;
  }
  if (--it->second.refs <= 0) {
    if (it->second.stream) {
      it->second.stream->Close();
    }
    watches_.erase(it);
  }
}

void PrefixWatches::ReopenAll(Connection* conn) {
  for (auto& [key, w] : watches_) {
    if (key.first == conn && w.refs > 0) {
      Open(conn, key.second);
    }
  }
}

void PrefixWatches::CloseAll() {
  for (auto& [key, w] : watches_) {
    if (w.stream) {
      w.stream->Close();
    }
  }
  watches_.clear();
}

PrefixWatches::Watch* PrefixWatches::Current(const Key& key, uint64_t generation) {
  auto it = watches_.find(key);
  return it != watches_.end() && it->second.generation == generation ? &it->second : nullptr;
}

void PrefixWatches::Open(Connection* conn, const std::string& prefix) {
  Watch& w = watches_[{conn, prefix}];
  if (w.stream) {
    w.stream->Close();
    w.stream.reset();
  }
  uint64_t generation = ++w.generation;
  Key key{conn, prefix};
  pb::WatchCreateRequest req;
  req.set_key(prefix);
  req.set_range_end(etcd::PrefixRangeEnd(prefix));
  req.add_filters(pb::WatchCreateRequest::NOPUT);
  etcd::WatchHandler handler;
  handler.on_response = [this, key, generation](const pb::WatchResponse& resp) {
    if (resp.created()) {
      loop_.Post([this, key, generation] {
        if (Watch* w = Current(key, generation)) {
          w->backoff.Reset();
          Verify(key.first, key.second);
        }
      });
    }
    std::vector<std::string> deleted;
    for (const auto& ev : resp.events()) {
      if (ev.type() == pb::Event::DELETE) {
        deleted.push_back(ev.kv().key());
      }
    }
    if (!deleted.empty()) {
      loop_.Post([this, conn = key.first, deleted = std::move(deleted)] {
        for (const auto& k : deleted) {
          events_.on_deleted(conn, k);
        }
      });
    }
  };
  handler.on_closed = [this, key, generation](absl::Status status) {
    loop_.Post([this, key, generation, status] {
      Watch* w = Current(key, generation);
      if (w == nullptr) {
        return;
      }
      auto delay = w->backoff.Next();
      spdlog::debug("watch on {} closed ({}); reopening in {} ms", key.second, status.message(),
                    delay.count());
      loop_.PostAfter(delay, [this, key, generation] {
        if (Current(key, generation) != nullptr) {
          Open(key.first, key.second);
        }
      });
    });
  };
  auto stream = conn->client->Watch(std::move(req), std::move(handler));
  if (!stream.ok()) {
    spdlog::warn("cannot watch {}: {}", prefix, stream.status().message());
    return;
  }
  w.stream = std::move(*stream);
}

void PrefixWatches::Verify(Connection* conn, const std::string& prefix) {
  pb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(etcd::PrefixRangeEnd(prefix));
  req.set_keys_only(true);
  conn->client->Range(std::move(req), [this, conn, prefix](absl::StatusOr<pb::RangeResponse> r) {
    loop_.Post([this, conn, prefix, r = std::move(r)] {
      if (!r.ok()) {
        return;  // the watch will close and reopen, and verify again
      }
      std::set<std::string> present;
      for (const auto& kv : r->kvs()) {
        present.insert(kv.key());
      }
      events_.on_verified(conn, prefix, present);
    });
  });
}

}  // namespace registrar::publisher
