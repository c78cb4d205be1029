// File: tests/kube-test-server/storage.h
//
// Object storage over a real etcd, the way kube-apiserver stores objects: one key per object
// (/registry/<group|core>/<plural>/[<namespace>/]<name>), the value is the object's JSON without
// metadata.resourceVersion, an object's resourceVersion is the key's mod_revision, a list's
// resourceVersion is the response header revision, and every write is a Txn that compares the
// key's mod_revision (or create_revision 0 for a create), which gives optimistic concurrency.
//
// Errors: kNotFound (no such key), kAlreadyExists (create of an existing key), kAborted (the key
// changed since expected_rv), kOutOfRange (revision compacted: 410 Expired upstream), others as
// the etcd client reports them.
//
// Thread-safety: safe to call concurrently; the etcd client serialises nothing we rely on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/etcd/client.h"
#include "nlohmann/json.hpp"

namespace registrar::kts {

struct StoredObject {
  std::string key;
  nlohmann::json object;  // with metadata.resourceVersion set
  int64_t rv = 0;
};

struct RangePage {
  std::vector<StoredObject> items;
  int64_t revision = 0;   // snapshot the page was read at
  bool more = false;      // keys remain after the last item
};

// The stored form: the object without metadata.resourceVersion, compact, keys sorted.
std::string EncodeForStorage(const nlohmann::json& object);
// Parses a stored value and stamps resourceVersion = rv.
absl::StatusOr<nlohmann::json> DecodeStored(const std::string& value, int64_t rv);

class Storage {
 public:
  explicit Storage(etcd::Client& client) : client_(client) {}

  absl::StatusOr<StoredObject> Get(const std::string& key);
  // Keys in [start, end) at `revision` (0 = current), at most `limit` (0 = all).
  absl::StatusOr<RangePage> Range(const std::string& start, const std::string& end,
                                  int64_t revision, int64_t limit);
  // Each returns the new resourceVersion.
  absl::StatusOr<int64_t> Create(const std::string& key, const nlohmann::json& object);
  absl::StatusOr<int64_t> Update(const std::string& key, const nlohmann::json& object,
                                 int64_t expected_rv);
  absl::StatusOr<int64_t> Delete(const std::string& key, int64_t expected_rv);
  // Deletes every key under prefix (CRD removal); returns the revision.
  absl::StatusOr<int64_t> DeletePrefix(const std::string& prefix);
  absl::StatusOr<int64_t> CurrentRevision();
  absl::StatusOr<int64_t> CompactNow();

  etcd::Client& client() { return client_; }

 private:
  etcd::Client& client_;
};

}  // namespace registrar::kts
