#include "controller/publisher/txn.h"

#include "absl/strings/str_cat.h"

namespace registrar::publisher {

namespace {

void Put(pb::TxnRequest& txn, const std::string& key, const std::string& value, int64_t lease) {
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
}

void CompareAbsent(pb::TxnRequest& txn, const std::string& key) {
  auto* cmp = txn.add_compare();
  cmp->set_key(key);
  cmp->set_target(pb::Compare::VERSION);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_version(0);
}

}  // namespace

pb::TxnRequest NewKeysTxn(const std::vector<KeyWrite>& keys, const RecordSpace& records) {
  pb::TxnRequest txn;
  for (const KeyWrite& k : keys) {
    CompareAbsent(txn, k.full_key);
    Put(txn, k.full_key, k.value, k.lease);
    if (records.on) {
      Put(txn, records.KeyOf(k.full_key), k.record, k.lease);
    }
  }
  return txn;
}

pb::TxnRequest KeyTxn(const KeyWrite& w, const RecordSpace& records) {
  pb::TxnRequest txn;
  if (w.holder != 0) {
    auto* cmp = txn.add_compare();
    cmp->set_key(w.full_key);
    cmp->set_target(pb::Compare::LEASE);
    cmp->set_result(pb::Compare::EQUAL);
    cmp->set_lease(w.holder);
  } else {
    CompareAbsent(txn, w.full_key);
  }
  Put(txn, w.full_key, w.value, w.lease);
  if (records.on) {
    Put(txn, records.KeyOf(w.full_key), w.record, w.lease);
  }
  if (!w.drop_key.empty()) {
    txn.add_success()->mutable_request_delete_range()->set_key(w.drop_key);
    if (records.on) {
      txn.add_success()->mutable_request_delete_range()->set_key(records.KeyOf(w.drop_key));
    }
  }
  txn.add_failure()->mutable_request_range()->set_key(w.full_key);
  if (records.on) {
    txn.add_failure()->mutable_request_range()->set_key(records.KeyOf(w.full_key));
  }
  return txn;
}

FailedKeyTxn ReadFailedKeyTxn(const pb::TxnResponse& r, int64_t lease) {
  FailedKeyTxn out;
  if (r.responses_size() == 0 || r.responses(0).response_range().kvs_size() == 0) {
    return out;
  }
  const pb::KeyValue& kv = r.responses(0).response_range().kvs(0);
  const pb::RangeResponse* record =
      r.responses_size() > 1 ? &r.responses(1).response_range() : nullptr;
  if (kv.lease() == lease) {
    out.kind = FailedKeyTxn::Kind::kOurs;
    out.value = kv.value();
    out.record = record != nullptr && record->kvs_size() > 0 ? record->kvs(0).value() : "";
    return out;
  }
  out.kind = FailedKeyTxn::Kind::kHeld;
  out.holder = DescribeHolder(kv, record);
  return out;
}

std::string DescribeHolder(const pb::KeyValue& kv, const pb::RangeResponse* record) {
  if (record != nullptr && record->kvs_size() > 0) {
    if (auto other = DecodeRecord(record->kvs(0).value())) {
      return absl::StrCat(other->namespace_, "/", other->name, " (uid ", other->uid, ", lease ",
                          kv.lease(), ")");
    }
    return absl::StrCat("lease ", kv.lease());
  }
  if (kv.lease() == 0) {
    return "a key without a lease";
  }
  return absl::StrCat("lease ", kv.lease(),
                      " without an etcd-registrar record (another publisher)");
}

pb::PutRequest RewritePut(const std::string& key) {
  pb::PutRequest req;
  req.set_key(key);
  req.set_ignore_value(true);
  req.set_ignore_lease(true);
  return req;
}

}  // namespace registrar::publisher
