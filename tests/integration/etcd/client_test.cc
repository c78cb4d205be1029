// Integration tests of ClientImpl against a real etcd started by EtcdProcess.
#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/etcd/client_impl.h"
#include "controller/etcd/server_version.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace registrar::etcd {
namespace {

using ::registrar::testing::EtcdProcess;
using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::registrar::testing::WaitFor;
using ::testing::HasSubstr;

pb::PutRequest MakePut(const std::string& key, const std::string& value, int64_t lease = 0) {
  pb::PutRequest put;
  put.set_key(key);
  put.set_value(value);
  put.set_lease(lease);
  return put;
}

pb::RangeRequest MakeGet(const std::string& key) {
  pb::RangeRequest get;
  get.set_key(key);
  return get;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = EtcdProcess::Start();
    ASSERT_THAT(etcd, IsOk());
    etcd_ = *std::move(etcd);
    auto client = ClientImpl::Create(etcd_->client_options());
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
  }

  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<ClientImpl> client_;
};

// The etcd matrix (ER_ETCD_VERSION, docs/testing.md) really runs the version it names, and
// Maintenance.Status reports it in a form the engine reads (controller/etcd/server_version.h).
TEST_F(ClientTest, StatusReportsTheVersionTheFixtureStarted) {
  auto status = client_->StatusSync({});
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(status->version(), ::testing::StartsWith(etcd_->version() + "."));
  std::optional<ServerVersion> version = ParseServerVersion(status->version());
  ASSERT_TRUE(version.has_value()) << status->version();
  EXPECT_EQ(absl::StrCat(version->major, ".", version->minor), etcd_->version());
  EXPECT_EQ(SettleWritesHelp(version), etcd_->version() == "3.4");
}

TEST_F(ClientTest, PutRangeDelete) {
  auto put = client_->PutSync(MakePut("svc/a", std::string("v\0x", 3)));
  ASSERT_THAT(put, IsOk());
  EXPECT_GT(put->header().revision(), 1);
  ASSERT_THAT(client_->PutSync(MakePut("svc/b", "2")), IsOk());

  pb::RangeRequest prefix;
  prefix.set_key("svc/");
  prefix.set_range_end(PrefixRangeEnd("svc/"));
  auto range = client_->RangeSync(prefix);
  ASSERT_THAT(range, IsOk());
  ASSERT_EQ(range->kvs_size(), 2);
  EXPECT_EQ(range->kvs(0).key(), "svc/a");
  EXPECT_EQ(range->kvs(0).value(), std::string("v\0x", 3));
  EXPECT_EQ(*etcd_->Etcdctl({"get", "svc/b", "--print-value-only"}), "2\n");

  pb::DeleteRangeRequest del;
  del.set_key("svc/a");
  auto deleted = client_->DeleteRangeSync(del);
  ASSERT_THAT(deleted, IsOk());
  EXPECT_EQ(deleted->deleted(), 1);
  EXPECT_EQ(client_->RangeSync(MakeGet("svc/a"))->kvs_size(), 0);
  EXPECT_EQ(client_->max_revision(), deleted->header().revision());
  EXPECT_EQ(client_->revision_regressions(), 0);
}

TEST_F(ClientTest, TxnComparesAndLeases) {
  auto grant = client_->LeaseGrantSync([] {
    pb::LeaseGrantRequest r;
    r.set_ttl(30);
    return r;
  }());
  ASSERT_THAT(grant, IsOk());
  EXPECT_GE(grant->ttl(), 30);

  pb::TxnRequest txn;
  auto* cmp = txn.add_compare();
  cmp->set_key("k");
  cmp->set_target(pb::Compare::CREATE);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_create_revision(0);
  *txn.add_success()->mutable_request_put() = MakePut("k", "v", grant->id());
  auto first = client_->TxnSync(txn);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->succeeded());
  auto second = client_->TxnSync(txn);
  ASSERT_THAT(second, IsOk());
  EXPECT_FALSE(second->succeeded());

  pb::LeaseTimeToLiveRequest ttl_req;
  ttl_req.set_id(grant->id());
  ttl_req.set_keys(true);
  auto ttl = client_->LeaseTimeToLiveSync(ttl_req);
  ASSERT_THAT(ttl, IsOk());
  EXPECT_GT(ttl->ttl(), 0);
  EXPECT_EQ(ttl->grantedttl(), grant->ttl());
  ASSERT_EQ(ttl->keys_size(), 1);
  EXPECT_EQ(ttl->keys(0), "k");

  auto leases = client_->LeaseLeasesSync({});
  ASSERT_THAT(leases, IsOk());
  ASSERT_EQ(leases->leases_size(), 1);
  EXPECT_EQ(leases->leases(0).id(), grant->id());

  pb::LeaseRevokeRequest revoke;
  revoke.set_id(grant->id());
  ASSERT_THAT(client_->LeaseRevokeSync(revoke), IsOk());
  EXPECT_EQ(client_->RangeSync(MakeGet("k"))->kvs_size(), 0);
  auto gone = client_->LeaseTimeToLiveSync(ttl_req);
  ASSERT_THAT(gone, IsOk());
  EXPECT_EQ(gone->ttl(), -1);

  pb::TxnRequest on_revoked;
  *on_revoked.add_success()->mutable_request_put() = MakePut("k2", "v", grant->id());
  auto failed = client_->TxnSync(on_revoked);
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("Txn: "));
  EXPECT_THAT(client_->LeaseRevokeSync(revoke), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client_->StatusSync({}), IsOk());
}

TEST_F(ClientTest, SeveralHundredCallsInFlight) {
  constexpr int kCalls = 600;
  absl::Mutex mu;
  int done = 0;
  int ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    client_->Put(MakePut("many/" + std::to_string(i), "x"), [&](absl::StatusOr<pb::PutResponse> r) {
      absl::MutexLock lock(&mu);
      ++done;
      ok += r.ok() ? 1 : 0;
    });
  }
  absl::MutexLock lock(&mu);
  mu.AwaitWithTimeout(absl::Condition(
                          +[](int* d) { return *d == kCalls; }, &done),
                      absl::Seconds(20));
  EXPECT_EQ(done, kCalls);
  EXPECT_EQ(ok, kCalls);
  pb::RangeRequest count;
  count.set_key("many/");
  count.set_range_end(PrefixRangeEnd("many/"));
  count.set_count_only(true);
  EXPECT_EQ(client_->RangeSync(count)->count(), kCalls);
}

TEST_F(ClientTest, FailsOverFromADeadEndpoint) {
  auto options = etcd_->client_options();
  const std::string dead = "127.0.0.1:" + std::to_string(registrar::testing::PickFreePort());
  options.endpoints = {dead, etcd_->endpoint()};
  auto reads = ClientImpl::Create(options);
  ASSERT_THAT(reads, IsOk());
  // A read is retried on the next endpoint.
  EXPECT_THAT((*reads)->RangeSync(MakeGet("x")), IsOk());

  auto writes = ClientImpl::Create(options);
  ASSERT_THAT(writes, IsOk());
  // A write is not repeated: it reports kUnavailable naming the endpoint, the next one goes to
  // the next endpoint.
  auto first = (*writes)->PutSync(MakePut("x", "1"));
  EXPECT_THAT(first, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(first.status().message()), HasSubstr(dead));
  EXPECT_THAT((*writes)->PutSync(MakePut("x", "2")), IsOk());
  EXPECT_EQ(*etcd_->Etcdctl({"get", "x", "--print-value-only"}), "2\n");
}

class WatchLog {
 public:
  WatchHandler Handler() {
    WatchHandler h;
    h.on_response = [this](const pb::WatchResponse& r) {
      absl::MutexLock lock(&mu_);
      created_ = created_ || r.created();
      for (const auto& e : r.events()) {
        events_.push_back(e);
      }
    };
    h.on_closed = [this](absl::Status s) {
      absl::MutexLock lock(&mu_);
      closed_ = s;
    };
    return h;
  }
  bool created() {
    absl::MutexLock lock(&mu_);
    return created_;
  }
  std::vector<pb::Event> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::optional<absl::Status> closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

 private:
  absl::Mutex mu_;
  std::vector<pb::Event> events_ ABSL_GUARDED_BY(mu_);
  bool created_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ClientTest, WatchDeliversEventsAndCloseStopsCallbacks) {
  WatchLog log;
  pb::WatchCreateRequest req;
  req.set_key("w/");
  req.set_range_end(PrefixRangeEnd("w/"));
  auto watch = client_->Watch(req, log.Handler());
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(WaitFor([&] { return log.created(); }, std::chrono::seconds(10)));
  ASSERT_THAT(client_->PutSync(MakePut("w/1", "a")), IsOk());
  pb::DeleteRangeRequest del;
  del.set_key("w/1");
  ASSERT_THAT(client_->DeleteRangeSync(del), IsOk());
  ASSERT_TRUE(WaitFor([&] { return log.events().size() == 2; }, std::chrono::seconds(10)));
  EXPECT_EQ(log.events()[0].type(), pb::Event::PUT);
  EXPECT_EQ(log.events()[0].kv().value(), "a");
  EXPECT_EQ(log.events()[1].type(), pb::Event::DELETE);
  // A second watch on the same client sees the next event; the closed one must not.
  WatchLog witness;
  auto second = client_->Watch(req, witness.Handler());
  ASSERT_THAT(second, IsOk());
  ASSERT_TRUE(WaitFor([&] { return witness.created(); }, std::chrono::seconds(10)));
  (*watch)->Close();
  ASSERT_THAT(client_->PutSync(MakePut("w/2", "b")), IsOk());
  ASSERT_TRUE(WaitFor([&] { return witness.events().size() == 1; }, std::chrono::seconds(10)));
  EXPECT_EQ(witness.events()[0].kv().key(), "w/2");
  EXPECT_EQ(log.events().size(), 2u);
  EXPECT_FALSE(log.closed().has_value());
}

TEST_F(ClientTest, WatchFromCompactedRevisionIsOutOfRange) {
  int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto put = client_->PutSync(MakePut("c", std::to_string(i)));
    ASSERT_THAT(put, IsOk());
    last = put->header().revision();
  }
  pb::CompactionRequest compact;
  compact.set_revision(last);
  compact.set_physical(true);
  ASSERT_THAT(client_->CompactSync(compact), IsOk());

  WatchLog log;
  pb::WatchCreateRequest req;
  req.set_key("c");
  req.set_start_revision(2);
  auto watch = client_->Watch(req, log.Handler());
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(WaitFor([&] { return log.closed().has_value(); }, std::chrono::seconds(10)));
  EXPECT_THAT(*log.closed(), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(std::string(log.closed()->message()),
              HasSubstr("compacted at revision " + std::to_string(last)));
}

TEST_F(ClientTest, WatchOnKilledEtcdClosesUnavailable) {
  WatchLog log;
  pb::WatchCreateRequest req;
  req.set_key("k");
  auto watch = client_->Watch(req, log.Handler());
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(WaitFor([&] { return log.created(); }, std::chrono::seconds(10)));
  etcd_->Kill();
  ASSERT_TRUE(WaitFor([&] { return log.closed().has_value(); }, std::chrono::seconds(10)));
  EXPECT_THAT(*log.closed(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ClientTest, RevisionRegressionAfterWipedRestart) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_THAT(client_->PutSync(MakePut("r", std::to_string(i))), IsOk());
  }
  const int64_t before = client_->max_revision();
  EXPECT_GE(before, 11);
  // The same cluster never goes back, whatever the order of responses.
  for (int i = 0; i < 20; ++i) {
    ASSERT_THAT(client_->RangeSync(MakeGet("r")), IsOk());
  }
  EXPECT_EQ(client_->revision_regressions(), 0);

  ASSERT_THAT(etcd_->Restart(/*wipe_data=*/true), IsOk());
  absl::StatusOr<pb::RangeResponse> after = absl::UnavailableError("not tried");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    after = client_->RangeSync(MakeGet("r"));
    if (after.ok()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->kvs_size(), 0);
  EXPECT_LT(after->header().revision(), before);
  EXPECT_EQ(client_->revision_regressions(), 1);
  EXPECT_EQ(client_->max_revision(), after->header().revision());
}

}  // namespace
}  // namespace registrar::etcd
