#include "controller/publisher/adoption.h"

#include <algorithm>

#include "controller/common/format.h"
#include "spdlog/spdlog.h"

namespace registrar::publisher {

std::vector<AdoptedLease> Adoption::Load(const etcd::pb::RangeResponse& range,
                                         const std::string& prefix) {
  std::vector<AdoptedLease> out;
  for (const auto& kv : range.kvs()) {
    // etcd answers a prefix range with keys under the prefix only; anything else is not ours
    // (and would have thrown out of substr below, found by fuzz_etcd_replies).
    if (kv.key().size() <= prefix.size() || kv.key().compare(0, prefix.size(), prefix) != 0) {
      spdlog::warn("adoption: ignoring record {} outside {}", kv.key(), prefix);
      continue;
    }
    auto record = DecodeRecord(kv.value());
    if (!record || kv.lease() == 0) {
      spdlog::warn("adoption: ignoring unreadable record {}", kv.key());
      continue;
    }
    AdoptedLease a{kv.key().substr(prefix.size()), kv.lease(), std::move(*record)};
    out.push_back(a);
    held_[a.full_key] = std::move(a);
  }
  return out;
}

std::optional<AdoptedLease> Adoption::Claim(const Desired& d) {
  for (auto it = held_.begin(); it != held_.end(); ++it) {
    const AdoptedLease& a = it->second;
    if (a.record.uid != d.uid || a.record.cluster != cluster_ ||
        a.full_key != FullKey(d.key, d.key_id, a.lease)) {
      continue;
    }
    AdoptedLease claimed = std::move(it->second);
    held_.erase(it);
    return claimed;
  }
  return std::nullopt;
}

bool Adoption::HandedOver(const std::string& id) { return awaited_.erase(id) > 0 && judging(); }

std::vector<AdoptedLease> Adoption::TakeOrphans() {
  std::vector<AdoptedLease> out;
  if (!judging()) {
    return out;
  }
  for (auto next = held_.begin(); next != held_.end();) {
    auto it = next++;
    const AdoptedLease& a = it->second;
    if (awaited_.contains(a.record.namespace_ + "/" + a.record.name)) {
      continue;  // its registration has not been handed over yet
    }
    if (a.record.cluster == cluster_) {
      out.push_back(std::move(it->second));
    }
    held_.erase(it);
  }
  return out;
}

std::optional<std::string> Adoption::ForgetLease(int64_t lease) {
  auto it = std::find_if(held_.begin(), held_.end(),
                         [&](const auto& kv) { return kv.second.lease == lease; });
  if (it == held_.end()) {
    return std::nullopt;
  }
  std::string full_key = it->first;
  held_.erase(it);
  return full_key;
}

std::vector<int64_t> Adoption::Clear() {
  std::vector<int64_t> leases;
  for (const auto& [full_key, a] : held_) {
    leases.push_back(a.lease);
  }
  held_.clear();
  return leases;
}

}  // namespace registrar::publisher
