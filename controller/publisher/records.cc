#include "controller/publisher/records.h"

#include <algorithm>

#include "nlohmann/json.hpp"

namespace registrar::publisher {

std::string FullKey(std::string_view key, int64_t key_id, int64_t lease) {
  return std::string(key) + "/" + std::to_string(key_id >= 1 ? key_id : lease);
}

std::string RecordKey(std::string_view owner_prefix, std::string_view owner_id,
                      std::string_view full_key) {
  std::string out(owner_prefix);
  out.append(owner_id).append("/").append(full_key);
  return out;
}

std::string EncodeRecord(const OwnerRecord& record) {
  nlohmann::ordered_json j;
  j["uid"] = record.uid;
  j["namespace"] = record.namespace_;
  j["name"] = record.name;
  j["value"] = record.value;
  j["ttl"] = record.ttl;
  j["grantedTTL"] = record.granted_ttl;
  j["cluster"] = record.cluster;
  return j.dump();
}

std::optional<OwnerRecord> DecodeRecord(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("uid") || !j["uid"].is_string() || !j.contains("value") ||
      !j["value"].is_string()) {
    return std::nullopt;
  }
  OwnerRecord r;
  r.uid = j["uid"].get<std::string>();
  r.value = j["value"].get<std::string>();
  auto str = [&](const char* field) {
    return j.contains(field) && j[field].is_string() ? j[field].get<std::string>() : std::string();
  };
  auto num = [&](const char* field) -> int64_t {
    if (!j.contains(field) || !j[field].is_number_integer()) {
      return 0;
    }
    if (j[field].is_number_unsigned()) {  // above int64's range when it did not fit a signed one
      return std::min(j[field].get<uint64_t>(), static_cast<uint64_t>(kMaxLeaseTtlSeconds));
    }
    return std::clamp<int64_t>(j[field].get<int64_t>(), 0, kMaxLeaseTtlSeconds);
  };
  r.namespace_ = str("namespace");
  r.name = str("name");
  r.cluster = str("cluster");
  r.ttl = num("ttl");
  r.granted_ttl = num("grantedTTL");
  return r;
}

}  // namespace registrar::publisher
