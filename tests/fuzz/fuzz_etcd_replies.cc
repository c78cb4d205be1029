// The engine's handling of etcd replies, fed with adversarial protobuf answers instead of a
// network. The first byte picks what the reply answers; the rest is the reply, in the protobuf
// wire format, or in the text format when it starts with '#' (the seeds in corpus/ are text):
//   0 RangeResponse of the ownership records at start: Adoption::Load under the owner prefix,
//     each adopted lease kept alive (KeepAliveSchedule::Add with the record's TTL, as
//     EngineImpl::Adopt does), then Claim / MarkComplete / TakeOrphans / ForgetLease / Clear.
//   1 TxnResponse of a KeyTxn whose compare failed: ReadFailedKeyTxn and DescribeHolder.
//   2 LeaseGrantResponse: the granted lease and TTL kept alive (EngineImpl's grant answer, the TTL
//     clamped to kMaxLeaseTtlSeconds as there), the record of it encoded and decoded again.
//   3 LeaseKeepAliveResponse: the keep-alive schedule's OnResponse for the lease it names, with
//     the TTL it reports, after a round of renewals.
// Every reply also passes its header revision through a RevisionTracker.
// Invariants: nothing throws; an adopted lease is not 0 and its full key is the record key
// without the prefix; a claimed or orphaned record leaves the held ones; a record survives
// EncodeRecord -> DecodeRecord; the schedule's next wakeup is not before now while leases are
// kept and Due never returns a lease it does not keep.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/text_format.h"

#include "controller/etcd/keepalive_schedule.h"
#include "controller/etcd/revision_tracker.h"
#include "controller/publisher/adoption.h"
#include "controller/publisher/records.h"
#include "controller/publisher/txn.h"
#include "spdlog/spdlog.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace pb = registrar::etcd::pb;
using registrar::etcd::KeepAliveSchedule;
using registrar::publisher::AdoptedLease;
using registrar::publisher::OwnerRecord;

constexpr char kPrefix[] = "/etcd-registrar/owners/owner-1/";
constexpr char kCluster[] = "cluster-a";

template <typename Message>
bool Read(std::string_view bytes, Message& message) {
  if (!bytes.empty() && bytes[0] == '#') {
    return google::protobuf::TextFormat::ParseFromString(std::string(bytes), &message);
  }
  return message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

void Observe(const pb::ResponseHeader& header) {
  static registrar::etcd::RevisionTracker tracker;
  registrar::etcd::RevisionTracker::Floor floor = tracker.Begin();
  tracker.Observe(floor, header.revision());
  FUZZ_CHECK(tracker.max_revision() >= 0, "a negative maximum revision");
}

// Renews a few rounds of `schedule` from `now`: the checks every engine wakeup relies on.
void Exercise(KeepAliveSchedule& schedule, KeepAliveSchedule::TimePoint now) {
  for (int round = 0; round < 3; ++round) {
    std::optional<KeepAliveSchedule::TimePoint> next = schedule.NextWakeup();
    if (schedule.size() > 0) {
      FUZZ_CHECK(next.has_value(), "leases kept but no wakeup");
    }
    (void)schedule.BatchWindow();
    (void)schedule.IsStreamStale(now);
    for (int64_t lease : schedule.Due(now, now + schedule.BatchWindow())) {
      FUZZ_CHECK(schedule.Contains(lease), "Due returned a lease it does not keep");
    }
    if (next && *next > now) {
      now = *next;
    }
  }
}

void Adoption(const pb::RangeResponse& range) {
  registrar::publisher::Adoption adoption(kCluster);
  std::vector<AdoptedLease> adopted = adoption.Load(range, kPrefix);
  FUZZ_CHECK(adoption.held() <= adopted.size(), "held more than loaded");
  KeepAliveSchedule schedule;
  const KeepAliveSchedule::TimePoint now{std::chrono::hours(1)};
  std::vector<std::string> ids;
  for (const AdoptedLease& a : adopted) {
    FUZZ_CHECK(a.lease != 0, "adopted a record without a lease");
    schedule.Add(a.lease, std::max<int64_t>(a.ttl(), 1), now, /*renew_now=*/true);
    ids.push_back(a.record.namespace_ + "/" + a.record.name);
  }
  Exercise(schedule, now);
  for (const AdoptedLease& a : adopted) {
    registrar::publisher::Desired d;
    d.uid = a.record.uid;
    d.key = a.full_key.substr(0, a.full_key.rfind('/'));
    d.key_id = static_cast<int64_t>(a.full_key.size() % 3);
    if (std::optional<AdoptedLease> claimed = adoption.Claim(d)) {
      FUZZ_CHECK(claimed->record.uid == d.uid, "claimed another uid");
    }
    if (ids.size() > 2) {
      break;
    }
  }
  size_t before = adoption.held();
  adoption.MarkComplete(ids, [](const std::string& id) { return id.size() % 2 == 0; });
  for (const std::string& id : ids) {
    adoption.HandedOver(id);
  }
  std::vector<AdoptedLease> orphans = adoption.TakeOrphans();
  FUZZ_CHECK(adoption.held() + orphans.size() <= before, "orphans out of nowhere");
  for (const AdoptedLease& o : orphans) {
    FUZZ_CHECK(o.record.cluster == kCluster, "an orphan of another cluster");
  }
  if (!adopted.empty()) {
    adoption.ForgetLease(adopted.front().lease);
  }
  adoption.Clear();
  FUZZ_CHECK(adoption.held() == 0, "Clear kept records");
}

void FailedTxn(const pb::TxnResponse& txn) {
  for (int64_t lease : {int64_t{7}, int64_t{0}}) {
    registrar::publisher::FailedKeyTxn failed = registrar::publisher::ReadFailedKeyTxn(txn, lease);
    if (failed.kind == registrar::publisher::FailedKeyTxn::Kind::kHeld) {
      FUZZ_CHECK(!failed.holder.empty(), "a holder without a description");
    }
  }
  for (const pb::ResponseOp& op : txn.responses()) {
    for (const pb::KeyValue& kv : op.response_range().kvs()) {
      (void)registrar::publisher::DescribeHolder(kv, &op.response_range());
      (void)registrar::publisher::DescribeHolder(kv, nullptr);
    }
  }
}

void CheckRecord(const OwnerRecord& r) {
  std::optional<OwnerRecord> again =
      registrar::publisher::DecodeRecord(registrar::publisher::EncodeRecord(r));
  FUZZ_CHECK(again.has_value(), "an encoded record does not decode");
  FUZZ_CHECK(again->uid == r.uid && again->value == r.value && again->ttl == r.ttl &&
                 again->granted_ttl == r.granted_ttl && again->cluster == r.cluster,
             "a record changed on the way through etcd");
}

void Grant(const pb::LeaseGrantResponse& grant) {
  KeepAliveSchedule schedule;
  const KeepAliveSchedule::TimePoint now{std::chrono::hours(1)};
  schedule.Add(grant.id(), grant.ttl(), now, /*renew_now=*/false);
  Exercise(schedule, now);
  // As EngineImpl takes a grant's answer; the record's value is the registration's (UTF-8).
  const int64_t granted =
      std::clamp<int64_t>(grant.ttl(), 0, registrar::publisher::kMaxLeaseTtlSeconds);
  OwnerRecord record{.uid = "u",
                     .namespace_ = "ns",
                     .name = "n",
                     .value = "10.0.0.1:8080",
                     .ttl = 10,
                     .granted_ttl = granted,
                     .cluster = kCluster};
  CheckRecord(record);
}

void KeepAlive(const pb::LeaseKeepAliveResponse& response) {
  KeepAliveSchedule schedule;
  const KeepAliveSchedule::TimePoint now{std::chrono::hours(1)};
  schedule.Add(response.id(), 10, now, /*renew_now=*/true);
  schedule.Add(response.id() + 1, 5, now, /*renew_now=*/true);
  (void)schedule.Due(now);
  schedule.NoteResponse(now);
  schedule.OnResponse(response.id(), response.ttl());
  Exercise(schedule, now);
  schedule.OnStreamReset(now);
  Exercise(schedule, now);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      pb::RangeResponse range;
      if (Read(bytes, range)) {
        Observe(range.header());
        Adoption(range);
      }
      break;
    }
    case 1: {
      pb::TxnResponse txn;
      if (Read(bytes, txn)) {
        Observe(txn.header());
        FailedTxn(txn);
      }
      break;
    }
    case 2: {
      pb::LeaseGrantResponse grant;
      if (Read(bytes, grant)) {
        Observe(grant.header());
        Grant(grant);
      }
      break;
    }
    default: {
      pb::LeaseKeepAliveResponse keep_alive;
      if (Read(bytes, keep_alive)) {
        Observe(keep_alive.header());
        KeepAlive(keep_alive);
      }
      break;
    }
  }
  return 0;
}
