// File: controller/publisher/txn.h
//
// The Txns the engine writes, and how it reads a failed one, as pure functions.
//
//   - NewKeysTxn: new keys of many registrations in one Txn, each `version == 0`, each put with
//     its ownership record on the same lease.
//   - KeyTxn: one registration's key: compare `lease == holder` (a key we hold) or
//     `version == 0` (a new key), put key + record, delete the old key + record when the full
//     key changed; on failure read the key and our record, for ReadFailedKeyTxn.
//   - ReadFailedKeyTxn / DescribeHolder: who holds a key whose compare failed.
//
// Thread-safety: pure functions. Ownership: none.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controller/etcd/client.h"
#include "controller/publisher/records.h"

namespace registrar::publisher {

namespace pb = etcd::pb;

// etcd's --max-txn-ops default.
inline constexpr size_t kMaxTxnOps = 128;

// Where ownership records live; `on` false: no records (publish).
struct RecordSpace {
  bool on = true;
  std::string owner_prefix;
  std::string owner_id;
  std::string KeyOf(const std::string& full_key) const {
    return RecordKey(owner_prefix, owner_id, full_key);
  }
  // Registrations per batched Txn.
  size_t BatchSize() const { return kMaxTxnOps / (on ? 2 : 1); }
};

struct KeyWrite {
  std::string full_key{};
  std::string value{};
  std::string record{};  // ignored without records
  int64_t lease = 0;
  // The lease that holds full_key now as far as we know; 0: the key must not exist.
  int64_t holder = 0;
  // The full key written before on the same lease, deleted in the same Txn; empty: none.
  std::string drop_key{};
};

pb::TxnRequest NewKeysTxn(const std::vector<KeyWrite>& keys, const RecordSpace& records);
pb::TxnRequest KeyTxn(const KeyWrite& write, const RecordSpace& records);

// A KeyTxn whose compare failed.
struct FailedKeyTxn {
  enum class Kind {
    kGone,  // the key is not there (it went away meanwhile)
    kOurs,  // it carries our lease (a re-put raced with our own write)
    kHeld,  // someone else holds it
  };
  Kind kind = Kind::kGone;
  std::string value;   // kOurs: what etcd has
  std::string record;  // kOurs: our record's value, empty when missing
  std::string holder;  // kHeld: DescribeHolder()
};
FailedKeyTxn ReadFailedKeyTxn(const pb::TxnResponse& response, int64_t lease);

// "ns/name (uid U, lease L)" from an etcd-registrar record, "a key without a lease", or
// "lease L without an etcd-registrar record (another publisher)".
std::string DescribeHolder(const pb::KeyValue& key, const pb::RangeResponse* record);

// The settle key write (write_scheduler.h, rule 4): `key` written again with the same value and
// lease.
pb::PutRequest RewritePut(const std::string& key);

}  // namespace registrar::publisher
