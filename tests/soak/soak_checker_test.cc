#include "tests/soak/soak_checker.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::soak {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kRecords[] = "/etcd-registrar/owners/soak/";

std::string RecordJson(const std::string& ns, const std::string& name, const std::string& value) {
  return "{\"uid\":\"u\",\"namespace\":\"" + ns + "\",\"name\":\"" + name + "\",\"value\":\"" +
         value + "\",\"ttl\":10,\"grantedTTL\":10,\"cluster\":\"\"}";
}

// A registration published as it should be: key, record, lease.
void Publish(Snapshot& s, const DesiredRegistration& r, int64_t lease) {
  const std::string full = r.key + "/" + std::to_string(r.id >= 1 ? r.id : lease);
  s.kvs.push_back({full, r.value, lease});
  s.kvs.push_back({kRecords + full, RecordJson(r.ns, r.name, r.value), lease});
  s.leases.push_back(lease);
}

std::vector<ViolationKind> Kinds(const std::vector<Violation>& v) {
  std::vector<ViolationKind> out;
  for (const auto& x : v) {
    out.push_back(x.kind);
  }
  return out;
}

class SoakChecker : public ::testing::Test {
 protected:
  std::vector<Violation> Run() { return Check(desired_, snap_, {.owner_id = "soak"}); }

  DesiredRegistration a_{"default", "a", "soak.a.rpc", "10.0.0.1:80", 7, false};
  DesiredRegistration b_{"shop", "b", "soak.b.rpc", "10.0.0.2:80", 0, false};
  std::vector<DesiredRegistration> desired_{a_, b_};
  Snapshot snap_;
};

TEST_F(SoakChecker, EverythingInPlaceIsClean) {
  Publish(snap_, a_, 100);
  Publish(snap_, b_, 200);
  EXPECT_THAT(Run(), IsEmpty());
}

TEST_F(SoakChecker, EmptyDesiredAndEmptyEtcdIsClean) {
  desired_.clear();
  EXPECT_THAT(Run(), IsEmpty());
}

TEST_F(SoakChecker, MissingKey) {
  Publish(snap_, a_, 100);
  const auto v = Run();
  ASSERT_THAT(Kinds(v), ElementsAre(ViolationKind::kMissing));
  EXPECT_EQ(v[0].subject, "shop/b");
}

TEST_F(SoakChecker, TwoKeysUnderOnePrefixAreADuplicate) {
  Publish(snap_, a_, 100);
  Publish(snap_, b_, 200);
  Publish(snap_, b_, 201);  // a second lease-named key with its own record
  const auto v = Run();
  ASSERT_THAT(Kinds(v), ElementsAre(ViolationKind::kDuplicate));
  EXPECT_THAT(v[0].detail, ::testing::HasSubstr("soak.b.rpc/201"));
}

TEST_F(SoakChecker, WrongValueAndRecordThatDisagrees) {
  Publish(snap_, a_, 100);
  Publish(snap_, b_, 200);
  snap_.kvs[0].value = "10.9.9.9:1";
  EXPECT_THAT(Kinds(Run()), ElementsAre(ViolationKind::kWrongValue, ViolationKind::kBadRecord));
}

TEST_F(SoakChecker, IdKeyUnderTheLeaseNameIsAWrongFullKey) {
  DesiredRegistration no_id = a_;
  no_id.id = 0;
  Publish(snap_, no_id, 100);  // soak.a.rpc/100 while a_ asks for id 7
  Publish(snap_, b_, 200);
  EXPECT_THAT(Kinds(Run()), ElementsAre(ViolationKind::kWrongFullKey));
}

TEST_F(SoakChecker, KeyOnAnUnknownLeaseOrWithout) {
  Publish(snap_, a_, 100);
  Publish(snap_, b_, 200);
  snap_.leases = {200};  // 100 expired between the reads
  EXPECT_THAT(Kinds(Run()), ElementsAre(ViolationKind::kNoLease));
  snap_.leases = {100, 200};
  snap_.kvs[0].lease = 0;
  snap_.kvs[1].lease = 0;
  EXPECT_THAT(Kinds(Run()), ElementsAre(ViolationKind::kNoLease, ViolationKind::kOrphanLease));
}

TEST_F(SoakChecker, KeyOfADeletedOrPausedRegistrationIsStray) {
  Publish(snap_, a_, 100);
  Publish(snap_, b_, 200);
  desired_.pop_back();  // b's file was deleted
  auto v = Run();
  EXPECT_THAT(Kinds(v), ElementsAre(ViolationKind::kStray, ViolationKind::kOrphanRecord));
  desired_.push_back(b_);
  desired_.back().paused = true;
  v = Run();
  EXPECT_THAT(Kinds(v), ElementsAre(ViolationKind::kStray, ViolationKind::kOrphanRecord));
  EXPECT_THAT(v[0].detail, ::testing::HasSubstr("paused"));
}

TEST_F(SoakChecker, PausedWithNothingInEtcdIsClean) {
  Publish(snap_, a_, 100);
  desired_[1].paused = true;
  EXPECT_THAT(Run(), IsEmpty());
}

TEST_F(SoakChecker, KeyWithoutRecordOrRecordOnAnotherLease) {
  Publish(snap_, a_, 100);
  Publish(snap_, b_, 200);
  snap_.kvs[3].lease = 100;  // b's record on a's lease
  auto v = Run();
  ASSERT_THAT(Kinds(v), ElementsAre(ViolationKind::kBadRecord));
  EXPECT_THAT(v[0].detail, ::testing::HasSubstr("record on lease 64"));
  snap_.kvs.erase(snap_.kvs.begin() + 3);
  v = Run();
  ASSERT_THAT(Kinds(v), ElementsAre(ViolationKind::kBadRecord));
  EXPECT_EQ(v[0].detail, "no ownership record");
}

TEST_F(SoakChecker, RecordNamingAnotherRegistration) {
  Publish(snap_, a_, 100);
  Publish(snap_, b_, 200);
  snap_.kvs[1].value = RecordJson("default", "other", a_.value);
  EXPECT_THAT(Kinds(Run()), ElementsAre(ViolationKind::kBadRecord));
  snap_.kvs[1].value = "not json";
  EXPECT_THAT(Kinds(Run()), ElementsAre(ViolationKind::kBadRecord));
}

TEST_F(SoakChecker, RecordWithoutKeyIsOrphanAndForeignOwnerToo) {
  Publish(snap_, a_, 100);
  Publish(snap_, b_, 200);
  snap_.kvs.push_back({std::string(kRecords) + "soak.gone.rpc/5", RecordJson("x", "y", "v"), 300});
  snap_.kvs.push_back({"/etcd-registrar/owners/other/soak.a.rpc/7", "{}", 300});
  snap_.leases.push_back(300);
  EXPECT_THAT(Kinds(Run()),
              ElementsAre(ViolationKind::kOrphanRecord, ViolationKind::kOrphanRecord));
}

TEST_F(SoakChecker, LeaseWithNothingOnItIsOrphan) {
  Publish(snap_, a_, 100);
  Publish(snap_, b_, 200);
  snap_.leases.push_back(0xabc);
  const auto v = Run();
  ASSERT_THAT(Kinds(v), ElementsAre(ViolationKind::kOrphanLease));
  EXPECT_EQ(v[0].subject, "abc");
}

TEST_F(SoakChecker, ControllerViewAgreesOrNot) {
  Publish(snap_, a_, 100);
  Publish(snap_, b_, 200);
  snap_.view = std::vector<ViewEntry>{{"default", "a", "Registered", "soak.a.rpc/7", 100},
                                      {"shop", "b", "Registered", "soak.b.rpc/200", 200}};
  EXPECT_THAT(Run(), IsEmpty());

  (*snap_.view)[1].lease = 201;
  EXPECT_THAT(Kinds(Run()), ElementsAre(ViolationKind::kView));
  (*snap_.view)[1] = {"shop", "b", "Pending", "", 0};
  EXPECT_THAT(Kinds(Run()), ElementsAre(ViolationKind::kView));
  (*snap_.view)[1] = {"shop", "b", "Registered", "soak.b.rpc/200", 200};

  // A deleted registration still listed (stuck Terminating), and one listed twice.
  snap_.view->push_back({"shop", "gone", "Terminating", "soak.gone.rpc/9", 9});
  snap_.view->push_back({"default", "a", "Registered", "soak.a.rpc/7", 100});
  const auto v = Run();
  ASSERT_THAT(Kinds(v), ElementsAre(ViolationKind::kView, ViolationKind::kView));
  EXPECT_EQ(v[0].subject, "default/a");
  EXPECT_THAT(v[1].detail, ::testing::HasSubstr("Terminating"));
}

TEST_F(SoakChecker, PausedRegistrationMustShowPausedInTheView) {
  Publish(snap_, a_, 100);
  desired_[1].paused = true;
  snap_.view = std::vector<ViewEntry>{{"default", "a", "Registered", "soak.a.rpc/7", 100},
                                      {"shop", "b", "Registered", "soak.b.rpc/200", 200}};
  EXPECT_THAT(Kinds(Run()), ElementsAre(ViolationKind::kView));
  (*snap_.view)[1] = {"shop", "b", "Paused", "", 0};
  EXPECT_THAT(Run(), IsEmpty());
}

TEST(SoakCheckerText, SummarizeCapsTheList) {
  std::vector<Violation> v(12, Violation{ViolationKind::kMissing, "ns/x", "no key"});
  const std::string text = Summarize(v, 3);
  EXPECT_THAT(text, ::testing::HasSubstr("  missing ns/x: no key\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("... and 9 more"));
}

}  // namespace
}  // namespace registrar::soak
