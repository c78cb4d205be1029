#include "tests/kube-test-server/storage.h"

namespace registrar::kts {
namespace {

using json = nlohmann::json;
namespace pb = etcdserverpb;

}  // namespace

std::string EncodeForStorage(const json& object) {
  json copy = object;
  if (copy.contains("metadata") && copy["metadata"].is_object()) {
    copy["metadata"].erase("resourceVersion");
  }
  return copy.dump();
}

absl::StatusOr<json> DecodeStored(const std::string& value, int64_t rv) {
  json obj = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded() || !obj.is_object()) {
    return absl::DataLossError("stored value is not a JSON object");
  }
  obj["metadata"]["resourceVersion"] = std::to_string(rv);
  return obj;
}

absl::StatusOr<StoredObject> Storage::Get(const std::string& key) {
  pb::RangeRequest req;
  req.set_key(key);
  auto resp = client_.RangeSync(req);
  if (!resp.ok()) return resp.status();
  if (resp->kvs_size() == 0) return absl::NotFoundError(key);
  const pb::KeyValue& kv = resp->kvs(0);
  auto obj = DecodeStored(kv.value(), kv.mod_revision());
  if (!obj.ok()) return obj.status();
  return StoredObject{key, std::move(*obj), kv.mod_revision()};
}

absl::StatusOr<RangePage> Storage::Range(const std::string& start, const std::string& end,
                                         int64_t revision, int64_t limit) {
  pb::RangeRequest req;
  req.set_key(start);
  req.set_range_end(end);
  req.set_revision(revision);
  req.set_limit(limit);
  auto resp = client_.RangeSync(req);
  if (!resp.ok()) return resp.status();
  RangePage page;
  page.revision = revision > 0 ? revision : resp->header().revision();
  page.more = resp->more();
  for (const pb::KeyValue& kv : resp->kvs()) {
    auto obj = DecodeStored(kv.value(), kv.mod_revision());
    if (!obj.ok()) continue;  // foreign data under our prefix: not an object
    page.items.push_back({kv.key(), std::move(*obj), kv.mod_revision()});
  }
  return page;
}

absl::StatusOr<int64_t> Storage::Create(const std::string& key, const json& object) {
  pb::TxnRequest txn;
  pb::Compare* cmp = txn.add_compare();
  cmp->set_key(key);
  cmp->set_target(pb::Compare::CREATE);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_create_revision(0);
  pb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(EncodeForStorage(object));
  auto resp = client_.TxnSync(txn);
  if (!resp.ok()) return resp.status();
  if (!resp->succeeded()) return absl::AlreadyExistsError(key);
  return resp->header().revision();
}

absl::StatusOr<int64_t> Storage::Update(const std::string& key, const json& object,
                                        int64_t expected_rv) {
  pb::TxnRequest txn;
  pb::Compare* cmp = txn.add_compare();
  cmp->set_key(key);
  cmp->set_target(pb::Compare::MOD);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_mod_revision(expected_rv);
  pb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(EncodeForStorage(object));
  auto resp = client_.TxnSync(txn);
  if (!resp.ok()) return resp.status();
  if (!resp->succeeded()) return absl::AbortedError(key);
  return resp->header().revision();
}

absl::StatusOr<int64_t> Storage::Delete(const std::string& key, int64_t expected_rv) {
  pb::TxnRequest txn;
  pb::Compare* cmp = txn.add_compare();
  cmp->set_key(key);
  cmp->set_target(pb::Compare::MOD);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_mod_revision(expected_rv);
  txn.add_success()->mutable_request_delete_range()->set_key(key);
  auto resp = client_.TxnSync(txn);
  if (!resp.ok()) return resp.status();
  if (!resp->succeeded()) return absl::AbortedError(key);
  return resp->header().revision();
}

absl::StatusOr<int64_t> Storage::DeletePrefix(const std::string& prefix) {
  pb::DeleteRangeRequest req;
  req.set_key(prefix);
  req.set_range_end(etcd::PrefixRangeEnd(prefix));
  auto resp = client_.DeleteRangeSync(req);
  if (!resp.ok()) return resp.status();
  return resp->header().revision();
}

absl::StatusOr<int64_t> Storage::CurrentRevision() {
  pb::RangeRequest req;
  req.set_key("/registry/");
  req.set_count_only(true);
  auto resp = client_.RangeSync(req);
  if (!resp.ok()) return resp.status();
  return resp->header().revision();
}

absl::StatusOr<int64_t> Storage::CompactNow() {
  auto rev = CurrentRevision();
  if (!rev.ok()) return rev.status();
  pb::CompactionRequest req;
  req.set_revision(*rev);
  req.set_physical(true);
  auto resp = client_.CompactSync(req);
  if (!resp.ok()) return resp.status();
  return *rev;
}

}  // namespace registrar::kts
