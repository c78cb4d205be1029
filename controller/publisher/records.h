// File: controller/publisher/records.h
//
// What the engine writes to etcd, as pure functions: the full key (go-zero's format) and the
// ownership record that travels with it in the same Txn, under the same lease (DESIGN.md §2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace registrar::publisher {

// `<key>/<key_id>` when key_id >= 1, else `<key>/<lease in decimal>` (go-zero's makeEtcdKey).
std::string FullKey(std::string_view key, int64_t key_id, int64_t lease);

// `<owner_prefix><owner_id>/<full_key>`; owner_prefix is used as given (default ends with '/').
std::string RecordKey(std::string_view owner_prefix, std::string_view owner_id,
                      std::string_view full_key);

// The longest lease TTL the engine takes from etcd (a grant's answer, a record's ttl and
// grantedTTL), in seconds: 10^6 (11.6 days). Ours are 5..3600 and etcd only raises a TTL to its
// minimum, so only a broken or hostile etcd (or a hand-edited record) says more; above it the
// engine's deadlines (now + TTL, in the clock's nanoseconds) would overflow. Found by
// fuzz_etcd_replies.
inline constexpr int64_t kMaxLeaseTtlSeconds = 1'000'000;

// The JSON value of an ownership record.
struct OwnerRecord {
  std::string uid{};
  std::string namespace_{};
  std::string name{};
  std::string value{};
  int64_t ttl = 0;          // the requested TTL
  int64_t granted_ttl = 0;  // what etcd granted
  std::string cluster{};
};

std::string EncodeRecord(const OwnerRecord& record);
// nullopt when `json` is not a record we wrote (the caller then ignores it). ttl and grantedTTL
// are clamped to 0..kMaxLeaseTtlSeconds.
std::optional<OwnerRecord> DecodeRecord(std::string_view json);

}  // namespace registrar::publisher
