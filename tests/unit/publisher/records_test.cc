#include "controller/publisher/records.h"

#include "gtest/gtest.h"

namespace registrar::publisher {
namespace {

// go-zero's makeEtcdKey: "<key>/<id>" with an id, else "<key>/<lease in decimal>".
TEST(FullKey, UsesTheIdWhenSet) {
  EXPECT_EQ(FullKey("user.rpc", 42, 7587869541230001234), "user.rpc/42");
}

TEST(FullKey, UsesTheLeaseInDecimalWithoutId) {
  EXPECT_EQ(FullKey("user.rpc", 0, 7587869541230001234), "user.rpc/7587869541230001234");
}

TEST(FullKey, KeepsTheKeyByteForByte) {
  EXPECT_EQ(FullKey("svc.with-dash_and.dots", 1, 9), "svc.with-dash_and.dots/1");
  EXPECT_EQ(FullKey("/prefixed/key", 0, 1), "/prefixed/key/1");
}

TEST(RecordKey, IsOwnerPrefixOwnerIdAndFullKey) {
  EXPECT_EQ(RecordKey("/etcd-registrar/owners/", "k8s-1234", "user.rpc/42"),
            "/etcd-registrar/owners/k8s-1234/user.rpc/42");
}

TEST(OwnerRecord, RoundTripsThroughJson) {
  OwnerRecord r;
  r.uid = "0b4c-uid";
  r.namespace_ = "shop";
  r.name = "order-rpc";
  r.value = "10.0.0.21:9090 \"quoted\" ünïcode";
  r.ttl = 10;
  r.granted_ttl = 12;
  r.cluster = "k8s-abc";
  std::string json = EncodeRecord(r);
  EXPECT_EQ(json.find("\"uid\":\"0b4c-uid\""), 1u);  // fields in a stable order
  auto back = DecodeRecord(json);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->uid, r.uid);
  EXPECT_EQ(back->namespace_, r.namespace_);
  EXPECT_EQ(back->name, r.name);
  EXPECT_EQ(back->value, r.value);
  EXPECT_EQ(back->ttl, 10);
  EXPECT_EQ(back->granted_ttl, 12);
  EXPECT_EQ(back->cluster, "k8s-abc");
}

TEST(OwnerRecord, RejectsWhatWeDidNotWrite) {
  EXPECT_FALSE(DecodeRecord("10.0.0.1:8080").has_value());
  EXPECT_FALSE(DecodeRecord("{\"value\":\"x\"}").has_value());  // no uid
  EXPECT_FALSE(DecodeRecord("{\"uid\":1,\"value\":\"x\"}").has_value());
  EXPECT_FALSE(DecodeRecord("").has_value());
}

// Found by fuzz_etcd_replies: a record's grantedTTL is what the engine waits on after a delete
// (now + TTL, in nanoseconds) and keeps alive; 2^63-1 overflowed. Clamped to 0..10^6 s now.
TEST(OwnerRecord, ClampsTtlsToTheLongestTheEngineTakes) {
  auto r = DecodeRecord(R"({"uid":"u","value":"v","ttl":-5,"grantedTTL":9223372036854775807})");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ttl, 0);
  EXPECT_EQ(r->granted_ttl, kMaxLeaseTtlSeconds);
  r = DecodeRecord(R"({"uid":"u","value":"v","ttl":18446744073709551615,"grantedTTL":30})");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ttl, kMaxLeaseTtlSeconds);
  EXPECT_EQ(r->granted_ttl, 30);
}

}  // namespace
}  // namespace registrar::publisher
