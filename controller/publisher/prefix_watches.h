// File: controller/publisher/prefix_watches.h
//
// The delete-only watches: one per key prefix in use and connection, shared by reference count.
// A watch reports every DELETE under its prefix; after it (re)opens, deletes may have been
// missed, so it reads the keys under the prefix once (keys only) and reports which are present.
// A closed watch reopens with a backoff (100 ms .. 1 s); every (re)open bumps a generation so
// late events of an older stream are dropped.
//
// Thread-safety: engine thread only; stream callbacks post to it. Ownership: owns the streams;
// connections must outlive their watches (CloseAll before the pool is cleared).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "controller/common/backoff.h"
#include "controller/publisher/connection.h"
#include "controller/publisher/event_loop.h"

namespace registrar::publisher {

class PrefixWatches {
 public:
  struct Events {
    // `key` was deleted on `conn`.
    std::function<void(Connection* conn, const std::string& key)> on_deleted;
    // The watch of `prefix` (re)opened and these keys are under it now.
    std::function<void(Connection* conn, const std::string& prefix,
                       const std::set<std::string>& present)>
        on_verified;
  };

  PrefixWatches(EventLoop& loop, Events events) : loop_(loop), events_(std::move(events)) {}

  // Takes one reference on the watch of `prefix`, opening it on the first.
  void Ensure(Connection* conn, const std::string& prefix);
  // Drops one reference; the last closes the watch.
  void Release(Connection* conn, const std::string& prefix);
  // Reopens every watch of `conn` (etcd lost its data: revisions start over).
  void ReopenAll(Connection* conn);
  void CloseAll();

 private:
  using Key = std::pair<Connection*, std::string>;
  struct Watch {
    int refs = 0;
    etcd::WatchStreamPtr stream;
    uint64_t generation = 0;
    Backoff backoff{std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
  };

  void Open(Connection* conn, const std::string& prefix);
  void Verify(Connection* conn, const std::string& prefix);
  // The watch of `key` when it is still at `generation`.
  Watch* Current(const Key& key, uint64_t generation);

  EventLoop& loop_;
  Events events_;
  std::map<Key, Watch> watches_;
};

}  // namespace registrar::publisher
