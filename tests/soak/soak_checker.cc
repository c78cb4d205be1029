#include "tests/soak/soak_checker.h"

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "nlohmann/json.hpp"

namespace registrar::soak {
namespace {

std::string Hex(int64_t lease) { return absl::StrCat(absl::Hex(static_cast<uint64_t>(lease))); }

std::string Id(const DesiredRegistration& r) { return absl::StrCat(r.ns, "/", r.name); }

// Why the record `rec` does not describe `kv` of `r`; empty when it does.
std::string RecordMismatch(const DesiredRegistration& r, const Kv& kv, const Kv& rec) {
  if (rec.lease != kv.lease) {
    return absl::StrCat("record on lease ", Hex(rec.lease), ", key on ", Hex(kv.lease));
  }
  const nlohmann::json j = nlohmann::json::parse(rec.value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return absl::StrCat("record is not JSON: ", rec.value);
  }
  auto field = [&](const char* name) {
    return j.contains(name) && j[name].is_string() ? j[name].get<std::string>() : std::string();
  };
  if (field("namespace") != r.ns || field("name") != r.name || field("value") != kv.value) {
    return absl::StrCat("record names ", field("namespace"), "/", field("name"), " value '",
                        field("value"), "'");
  }
  return "";
}

}  // namespace

std::vector<Violation> Check(const std::vector<DesiredRegistration>& desired,
                             const Snapshot& snapshot, const CheckOptions& options) {
  std::vector<Violation> out;
  auto add = [&](ViolationKind kind, std::string subject, std::string detail) {
    out.push_back({kind, std::move(subject), std::move(detail)});
  };
  const std::string record_prefix = absl::StrCat(options.owner_prefix, options.owner_id, "/");

  std::map<std::string, const DesiredRegistration*> by_key;
  for (const DesiredRegistration& r : desired) {
    by_key.emplace(r.key, &r);
  }
  std::map<std::string, const Kv*> records;
  std::map<std::string, std::vector<const Kv*>> groups;  // spec.key -> keys under it
  std::set<int64_t> referenced;
  for (const Kv& kv : snapshot.kvs) {
    referenced.insert(kv.lease);
    if (absl::StartsWith(kv.key, record_prefix)) {
      records.emplace(kv.key, &kv);
      continue;
    }
    if (absl::StartsWith(kv.key, options.owner_prefix)) {
      add(ViolationKind::kOrphanRecord, kv.key, "under the owner prefix, not our owner id");
      continue;
    }
    const size_t slash = kv.key.rfind('/');
    const std::string parent = slash == std::string::npos ? kv.key : kv.key.substr(0, slash);
    auto it = by_key.find(parent);
    if (it == by_key.end()) {
      add(ViolationKind::kStray, kv.key, "no desired registration has this key");
      continue;
    }
    groups[parent].push_back(&kv);
  }
  const std::set<int64_t> live(snapshot.leases.begin(), snapshot.leases.end());
  std::set<std::string> used_records;

  for (const DesiredRegistration& r : desired) {
    const std::vector<const Kv*>& group = groups[r.key];
    if (r.paused) {
      for (const Kv* kv : group) {
        add(ViolationKind::kStray, kv->key, absl::StrCat(Id(r), " is paused"));
      }
      continue;
    }
    if (group.empty()) {
      add(ViolationKind::kMissing, Id(r), absl::StrCat("no key under ", r.key, "/"));
      continue;
    }
    if (group.size() > 1) {
      std::vector<std::string> keys;
      for (const Kv* kv : group) {
        keys.push_back(absl::StrCat(kv->key, " (lease ", Hex(kv->lease), ")"));
      }
      add(ViolationKind::kDuplicate, Id(r), absl::StrJoin(keys, ", "));
    }
    for (const Kv* kv : group) {
      if (kv->value != r.value) {
        add(ViolationKind::kWrongValue, kv->key,
            absl::StrCat("'", kv->value, "', want '", r.value, "'"));
      }
      const std::string want = absl::StrCat(r.key, "/", r.id >= 1 ? r.id : kv->lease);
      if (kv->key != want) {
        add(ViolationKind::kWrongFullKey, kv->key, absl::StrCat("want ", want));
      }
      if (kv->lease == 0 || !live.contains(kv->lease)) {
        add(ViolationKind::kNoLease, kv->key,
            kv->lease == 0 ? "no lease" : absl::StrCat("lease ", Hex(kv->lease), " unknown"));
      }
      const std::string record_key = record_prefix + kv->key;
      auto rec = records.find(record_key);
      if (rec == records.end()) {
        add(ViolationKind::kBadRecord, kv->key, "no ownership record");
        continue;
      }
      used_records.insert(record_key);
      if (std::string why = RecordMismatch(r, *kv, *rec->second); !why.empty()) {
        add(ViolationKind::kBadRecord, kv->key, why);
      }
    }
  }
  for (const auto& [key, kv] : records) {
    if (!used_records.contains(key)) {
      add(ViolationKind::kOrphanRecord, key, absl::StrCat("lease ", Hex(kv->lease)));
    }
  }
  for (int64_t lease : snapshot.leases) {
    if (!referenced.contains(lease)) {
      add(ViolationKind::kOrphanLease, Hex(lease), "carries no key and no record");
    }
  }

  if (snapshot.view) {
    std::map<std::string, std::vector<const ViewEntry*>> listed;
    for (const ViewEntry& e : *snapshot.view) {
      listed[absl::StrCat(e.ns, "/", e.name)].push_back(&e);
    }
    std::set<std::string> wanted;
    for (const DesiredRegistration& r : desired) {
      const std::string id = Id(r);
      wanted.insert(id);
      const auto& entries = listed[id];
      if (entries.size() != 1) {
        add(ViolationKind::kView, id, absl::StrCat("listed ", entries.size(), " times"));
        continue;
      }
      const ViewEntry& e = *entries[0];
      const std::string want_phase = r.paused ? "Paused" : "Registered";
      if (e.phase != want_phase) {
        add(ViolationKind::kView, id, absl::StrCat("phase ", e.phase, ", want ", want_phase));
        continue;
      }
      const std::vector<const Kv*>& group = groups[r.key];
      if (!r.paused && group.size() == 1 &&
          (e.full_key != group[0]->key || e.lease != group[0]->lease)) {
        add(ViolationKind::kView, id,
            absl::StrCat("says ", e.full_key, " lease ", Hex(e.lease), ", etcd has ", group[0]->key,
                         " lease ", Hex(group[0]->lease)));
      }
    }
    for (const auto& [id, entries] : listed) {
      if (!wanted.contains(id)) {
        add(ViolationKind::kView, id,
            absl::StrCat("listed (phase ", entries[0]->phase, ") but not desired"));
      }
    }
  }
  return out;
}

std::string ViolationName(ViolationKind kind) {
  switch (kind) {
    case ViolationKind::kMissing:
      return "missing";
    case ViolationKind::kDuplicate:
      return "duplicate";
    case ViolationKind::kWrongValue:
      return "wrong-value";
    case ViolationKind::kWrongFullKey:
      return "wrong-full-key";
    case ViolationKind::kNoLease:
      return "no-lease";
    case ViolationKind::kStray:
      return "stray-key";
    case ViolationKind::kBadRecord:
      return "bad-record";
    case ViolationKind::kOrphanRecord:
      return "orphan-record";
    case ViolationKind::kOrphanLease:
      return "orphan-lease";
    case ViolationKind::kView:
      return "view";
  }
  return "?";
}

std::string Describe(const Violation& v) {
  return absl::StrCat(ViolationName(v.kind), " ", v.subject, ": ", v.detail);
}

std::string Summarize(const std::vector<Violation>& violations, size_t max) {
  std::string out;
  for (size_t i = 0; i < violations.size() && i < max; ++i) {
    absl::StrAppend(&out, "  ", Describe(violations[i]), "\n");
  }
  if (violations.size() > max) {
    absl::StrAppend(&out, "  ... and ", violations.size() - max, " more\n");
  }
  return out;
}

}  // namespace registrar::soak
