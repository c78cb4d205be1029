// File: controller/publisher/adoption.h
//
// Adoption and orphans (DESIGN.md §2): the ownership records of our owner id found at start,
// which registration takes which of their leases over, and which are orphans to revoke.
//
// Flow:
//   1. Load(range of <owner-prefix><owner-id>/): every readable record with a lease is held; the
//      caller keeps the returned leases alive at once. SetDone() once loaded (or without records).
//   2. Claim(desired): a held record of the same uid and cluster whose full key has the
//      registration's shape (key/<id>, or key/<that lease> without id) is taken over.
//   3. MarkComplete(known ids): the caller's first listing is complete. Records of ids outside it
//      are orphans at once; a record of a known id waits until HandedOver(id) (its Upsert, or its
//      Remove when the caller refused or dropped it), and is an orphan then if nobody claimed it.
//      TakeOrphans() hands out the orphans due now (records of another cluster are dropped, not
//      ours to judge); the caller revokes them.
//
// Thread-safety: engine thread only. Ownership: copies of the records.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"

#include "controller/etcd/client.h"
#include "controller/publisher/engine.h"
#include "controller/publisher/records.h"

namespace registrar::publisher {

struct AdoptedLease {
  std::string full_key;
  int64_t lease = 0;
  OwnerRecord record;
  int64_t ttl() const { return record.granted_ttl > 0 ? record.granted_ttl : record.ttl; }
};

class Adoption {
 public:
  explicit Adoption(std::string cluster) : cluster_(std::move(cluster)) {}

  // Holds the records of `range`, read under `prefix`; returns them, to keep alive.
  std::vector<AdoptedLease> Load(const etcd::pb::RangeResponse& range, const std::string& prefix);
  void SetDone() { done_ = true; }
  bool done() const { return done_; }

  // The held record `desired` takes over, removed from the held ones.
  std::optional<AdoptedLease> Claim(const Desired& desired);

  // `has_registration(id)`: the caller already handed `id` over.
  template <typename HasRegistration>
  void MarkComplete(const std::vector<std::string>& known_ids, HasRegistration has_registration) {
    complete_ = true;
    for (const std::string& id : known_ids) {
      if (!has_registration(id)) {
        awaited_.insert(id);
      }
    }
  }
  // `id` was upserted or removed; true when orphans may be due now because of it.
  bool HandedOver(const std::string& id);
  // Orphans are judged only once loaded and complete.
  bool judging() const { return done_ && complete_; }
  std::vector<AdoptedLease> TakeOrphans();

  // The lease is gone (etcd said so): forget its record; returns its full key if one was held.
  std::optional<std::string> ForgetLease(int64_t lease);
  // etcd lost its data: every held record is gone; returns their leases.
  std::vector<int64_t> Clear();
  size_t held() const { return held_.size(); }

 private:
  std::string cluster_;
  std::map<std::string, AdoptedLease> held_;  // by full key
  bool done_ = false;
  bool complete_ = false;
  // Ids of the caller's first listing not yet handed over; their records are not orphans yet.
  absl::flat_hash_set<std::string> awaited_;
};

}  // namespace registrar::publisher
