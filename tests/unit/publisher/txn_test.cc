#include "controller/publisher/txn.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::publisher {
namespace {

RecordSpace Records() { return RecordSpace{true, "/o/", "me"}; }

TEST(NewKeysTxn, EachKeyAbsentAndPutWithItsRecordOnItsLease) {
  pb::TxnRequest txn = NewKeysTxn({{.full_key = "a/1", .value = "va", .record = "ra", .lease = 7},
                                   {.full_key = "b/2", .value = "vb", .record = "rb", .lease = 8}},
                                  Records());
  ASSERT_EQ(txn.compare_size(), 2);
  EXPECT_EQ(txn.compare(0).key(), "a/1");
  EXPECT_EQ(txn.compare(0).target(), pb::Compare::VERSION);
  EXPECT_EQ(txn.compare(0).version(), 0);
  ASSERT_EQ(txn.success_size(), 4);
  EXPECT_EQ(txn.success(1).request_put().key(), "/o/me/a/1");
  EXPECT_EQ(txn.success(1).request_put().value(), "ra");
  EXPECT_EQ(txn.success(1).request_put().lease(), 7);
  EXPECT_EQ(txn.success(2).request_put().key(), "b/2");
  EXPECT_EQ(txn.success(3).request_put().lease(), 8);
  EXPECT_EQ(txn.failure_size(), 0);
}

TEST(NewKeysTxn, WithoutRecordsOnlyTheKeys) {
  RecordSpace none{false, "", ""};
  pb::TxnRequest txn = NewKeysTxn({{.full_key = "a/1", .value = "va", .lease = 7}}, none);
  EXPECT_EQ(txn.success_size(), 1);
  EXPECT_EQ(none.BatchSize(), 128u);
  EXPECT_EQ(Records().BatchSize(), 64u);
}

TEST(KeyTxn, HeldKeyComparesTheLeaseAndDropsTheOldKey) {
  pb::TxnRequest txn = KeyTxn(
      {.full_key = "a/9", .value = "v", .record = "r", .lease = 9, .holder = 5, .drop_key = "a/5"},
      Records());
  ASSERT_EQ(txn.compare_size(), 1);
  EXPECT_EQ(txn.compare(0).target(), pb::Compare::LEASE);
  EXPECT_EQ(txn.compare(0).lease(), 5);
  ASSERT_EQ(txn.success_size(), 4);
  EXPECT_EQ(txn.success(0).request_put().key(), "a/9");
  EXPECT_EQ(txn.success(1).request_put().key(), "/o/me/a/9");
  EXPECT_EQ(txn.success(2).request_delete_range().key(), "a/5");
  EXPECT_EQ(txn.success(3).request_delete_range().key(), "/o/me/a/5");
  ASSERT_EQ(txn.failure_size(), 2);
  EXPECT_EQ(txn.failure(0).request_range().key(), "a/9");
  EXPECT_EQ(txn.failure(1).request_range().key(), "/o/me/a/9");
}

TEST(KeyTxn, NewKeyComparesVersionZero) {
  pb::TxnRequest txn = KeyTxn({.full_key = "a/9", .value = "v", .lease = 9}, Records());
  EXPECT_EQ(txn.compare(0).target(), pb::Compare::VERSION);
  EXPECT_EQ(txn.success_size(), 2);
}

pb::TxnResponse Failed(int64_t key_lease, const std::string& record_json, bool with_record) {
  pb::TxnResponse r;
  r.set_succeeded(false);
  auto* key = r.add_responses()->mutable_response_range()->add_kvs();
  key->set_key("a/1");
  key->set_value("theirs");
  key->set_lease(key_lease);
  auto* rec = r.add_responses()->mutable_response_range();
  if (with_record) {
    auto* kv = rec->add_kvs();
    kv->set_value(record_json);
  }
  return r;
}

TEST(ReadFailedKeyTxn, TellsWhoHoldsTheKey) {
  OwnerRecord other{.uid = "u2", .namespace_ = "shop", .name = "order", .cluster = "c"};
  struct Row {
    const char* name;
    pb::TxnResponse response;
    FailedKeyTxn::Kind kind;
    std::string holder;
  };
  pb::TxnResponse gone;
  gone.add_responses()->mutable_response_range();
  const std::vector<Row> rows = {
      {"gone", gone, FailedKeyTxn::Kind::kGone, ""},
      {"ours", Failed(7, "", false), FailedKeyTxn::Kind::kOurs, ""},
      {"another registration", Failed(8, EncodeRecord(other), true), FailedKeyTxn::Kind::kHeld,
       "shop/order (uid u2, lease 8)"},
      {"unreadable record", Failed(8, "{", true), FailedKeyTxn::Kind::kHeld, "lease 8"},
      {"no lease", Failed(0, "", false), FailedKeyTxn::Kind::kHeld, "a key without a lease"},
      {"another publisher", Failed(8, "", false), FailedKeyTxn::Kind::kHeld,
       "lease 8 without an etcd-registrar record (another publisher)"},
  };
  for (const Row& row : rows) {
    FailedKeyTxn f = ReadFailedKeyTxn(row.response, 7);
    EXPECT_EQ(f.kind, row.kind) << row.name;
    EXPECT_EQ(f.holder, row.holder) << row.name;
  }
  EXPECT_EQ(ReadFailedKeyTxn(Failed(7, "", false), 7).value, "theirs");
}

}  // namespace
}  // namespace registrar::publisher
