#include "controller/publisher/adoption.h"

#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::publisher {
namespace {

constexpr char kPrefix[] = "/etcd-registrar/owners/me/";

void AddRecord(etcd::pb::RangeResponse& range, const std::string& key, int64_t lease,
               const std::string& value) {
  etcd::pb::KeyValue* kv = range.add_kvs();
  kv->set_key(key);
  kv->set_lease(lease);
  kv->set_value(value);
}

TEST(Adoption, LoadsRecordsUnderThePrefix) {
  etcd::pb::RangeResponse range;
  AddRecord(range, std::string(kPrefix) + "user.rpc/7", 7,
            R"({"uid":"u1","namespace":"ns","name":"a","value":"v","ttl":10,"cluster":"c"})");
  AddRecord(range, std::string(kPrefix) + "broken", 8, "not json");
  AddRecord(range, std::string(kPrefix) + "no-lease/1", 0, R"({"uid":"u2","value":"v"})");
  Adoption adoption("c");
  std::vector<AdoptedLease> loaded = adoption.Load(range, kPrefix);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].full_key, "user.rpc/7");
  EXPECT_EQ(loaded[0].lease, 7);
  EXPECT_EQ(loaded[0].ttl(), 10);
  EXPECT_EQ(adoption.held(), 1u);
}

// Found by fuzz_etcd_replies: a record key shorter than the prefix (only a broken or hostile
// etcd answers a prefix range with one) threw std::out_of_range out of Load, which runs on the
// engine thread: std::terminate. Keys outside the prefix are skipped now. Seen failing before.
TEST(Adoption, SkipsKeysOutsideThePrefix) {
  const std::string record = R"({"uid":"u","value":"v","grantedTTL":5})";
  etcd::pb::RangeResponse range;
  AddRecord(range, "/x", 1, record);
  AddRecord(range, "/etcd-registrar/owners/other/a.rpc/2", 2, record);
  AddRecord(range, kPrefix, 3, record);  // the prefix itself: no full key
  AddRecord(range, std::string(kPrefix) + "a.rpc/4", 4, record);
  Adoption adoption("c");
  std::vector<AdoptedLease> loaded;
  ASSERT_NO_THROW(loaded = adoption.Load(range, kPrefix));
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].full_key, "a.rpc/4");
  EXPECT_EQ(adoption.held(), 1u);
}

}  // namespace
}  // namespace registrar::publisher
