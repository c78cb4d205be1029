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

}  // namespace
}  // namespace registrar::publisher
