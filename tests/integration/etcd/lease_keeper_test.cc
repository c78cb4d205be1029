// Integration tests of the lease keeper against a real etcd started by EtcdProcess.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/common/clock.h"
#include "controller/etcd/client_impl.h"
#include "controller/etcd/lease_keeper_impl.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace registrar::etcd {
namespace {

using ::registrar::testing::EtcdProcess;
using ::registrar::testing::IsOk;
using ::registrar::testing::WaitFor;
using Steady = std::chrono::steady_clock;

class RecordingListener : public LeaseKeeper::Listener {
 public:
  void OnRenewed(int64_t lease, int64_t ttl) override {
    absl::MutexLock lock(&mu_);
    ++renewed_[lease];
    last_ttl_[lease] = ttl;
  }
  void OnLost(int64_t lease) override {
    absl::MutexLock lock(&mu_);
    lost_[lease] = Steady::now();
  }
  void OnConnectivity(bool healthy) override {
    absl::MutexLock lock(&mu_);
    connectivity_.push_back(healthy);
  }
  void OnRenewalsAnswered() override {
    absl::MutexLock lock(&mu_);
    ++answered_;
  }
  int answered() {
    absl::MutexLock lock(&mu_);
    return answered_;
  }
  int renewed(int64_t lease) {
    absl::MutexLock lock(&mu_);
    return renewed_[lease];
  }
  std::map<int64_t, Steady::time_point> lost() {
    absl::MutexLock lock(&mu_);
    return lost_;
  }
  std::vector<bool> connectivity() {
    absl::MutexLock lock(&mu_);
    return connectivity_;
  }

 private:
  absl::Mutex mu_;
  std::map<int64_t, int> renewed_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, int64_t> last_ttl_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, Steady::time_point> lost_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> connectivity_ ABSL_GUARDED_BY(mu_);
  int answered_ ABSL_GUARDED_BY(mu_) = 0;
};

class LeaseKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = EtcdProcess::Start();
    ASSERT_THAT(etcd, IsOk());
    etcd_ = *std::move(etcd);
    auto client = ClientImpl::Create(etcd_->client_options());
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
    keeper_ = std::make_unique<LeaseKeeperImpl>(*client_, RealClock::Get(), listener_);
    keeper_->Start();
  }
  void TearDown() override {
    if (keeper_) {
      keeper_->Stop();
    }
  }

  // Grants a lease and returns {id, granted TTL}.
  std::pair<int64_t, int64_t> Grant(int64_t ttl) {
    pb::LeaseGrantRequest req;
    req.set_ttl(ttl);
    auto grant = client_->LeaseGrantSync(req);
    EXPECT_THAT(grant, IsOk());
    return grant.ok() ? std::make_pair(grant->id(), grant->ttl()) : std::make_pair(int64_t{0}, ttl);
  }
  int64_t RemainingTtl(int64_t lease) {
    pb::LeaseTimeToLiveRequest req;
    req.set_id(lease);
    auto ttl = client_->LeaseTimeToLiveSync(req);
    EXPECT_THAT(ttl, IsOk());
    return ttl.ok() ? ttl->ttl() : -2;
  }

  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<ClientImpl> client_;
  RecordingListener listener_;
  std::unique_ptr<LeaseKeeperImpl> keeper_;
};

// TTL 2 (the fixture's etcd grants it as asked; the 5 s floor is the product's, checked in
// publish_test): three TTLs in 7 s instead of 16 s at TTL 5, and more renewals to count.
TEST_F(LeaseKeeperTest, KeepsALeaseAlivePastThreeTtls) {
  auto [lease, ttl] = Grant(2);
  ASSERT_NE(lease, 0);
  ASSERT_EQ(ttl, 2);
  keeper_->Add(lease, ttl);
  EXPECT_EQ(keeper_->size(), 1u);
  std::this_thread::sleep_for(std::chrono::seconds(3 * ttl + 1));
  EXPECT_GT(RemainingTtl(lease), 0);
  EXPECT_TRUE(listener_.lost().empty());
  // Renewed about every ttl/3: 3*ttl+1 s gives about 10 renewals, at least 8.
  EXPECT_GE(listener_.renewed(lease), 8);
  EXPECT_TRUE(keeper_->healthy());
  EXPECT_EQ(listener_.connectivity(), std::vector<bool>{true});
  EXPECT_EQ(keeper_->streams_opened(), 1);
}

TEST_F(LeaseKeeperTest, RemovedLeaseExpires) {
  auto [lease, ttl] = Grant(2);
  keeper_->Add(lease, ttl, /*renew_now=*/true);
  ASSERT_TRUE(WaitFor([&, lease = lease] { return listener_.renewed(lease) >= 1; },
                         std::chrono::milliseconds(3000)));
  keeper_->Remove(lease);
  EXPECT_EQ(keeper_->size(), 0u);
  ASSERT_TRUE(WaitFor([&, lease = lease] { return RemainingTtl(lease) == -1; },
                         std::chrono::milliseconds(ttl * 1000 + 3000)));
  // Removal is not loss.
  EXPECT_TRUE(listener_.lost().empty());
}

TEST_F(LeaseKeeperTest, DetectsLossAfterEtcdRestartedWithWipedData) {
  std::vector<int64_t> leases;
  for (int i = 0; i < 3; ++i) {
    auto [lease, ttl] = Grant(10);
    keeper_->Add(lease, ttl);
    leases.push_back(lease);
  }
  ASSERT_TRUE(WaitFor([&] { return keeper_->healthy(); }, std::chrono::milliseconds(5000)));
  // etcd is down for 3 s (the keeper's reopen backoff and gRPC's reconnect backoff grow to their
  // caps), then comes back with an empty data dir.
  const auto killed = Steady::now();
  etcd_->Kill();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_THAT(etcd_->Restart(/*wipe_data=*/true), IsOk());
  const auto healthy = Steady::now();
  ASSERT_TRUE(WaitFor([&] { return listener_.lost().size() == leases.size(); },
                      std::chrono::milliseconds(5000)));
  Steady::time_point last_lost{};
  for (int64_t lease : leases) {
    last_lost = std::max(last_lost, listener_.lost()[lease]);
  }
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  const auto after_kill = duration_cast<milliseconds>(last_lost - killed).count();
  const auto after_healthy = duration_cast<milliseconds>(last_lost - healthy).count();
  std::printf(
      "MEASURED every lease reported lost %lld ms after SIGKILL, %lld ms after the wiped etcd was "
      "healthy again (down %lld ms)\n",
      static_cast<long long>(after_kill), static_cast<long long>(after_healthy),
      static_cast<long long>(duration_cast<milliseconds>(healthy - killed).count()));
  EXPECT_LE(after_healthy, 2000);
  EXPECT_EQ(keeper_->size(), 0u);
  const auto connectivity = listener_.connectivity();
  ASSERT_GE(connectivity.size(), 3u);
  EXPECT_EQ(connectivity[0], true);
  EXPECT_EQ(connectivity[1], false);
  EXPECT_EQ(connectivity.back(), true);
}

// Owners hold their writes back while keep-alives are outstanding ("renew first"): the count
// must cover exactly the unanswered requests, and its drop to zero must be announced.
TEST_F(LeaseKeeperTest, CountsUnansweredKeepAlivesAndSaysWhenAllAreAnswered) {
  auto [first, ttl] = Grant(10);
  keeper_->Add(first, ttl, /*renew_now=*/true);
  ASSERT_TRUE(WaitFor([&, first = first] { return listener_.renewed(first) >= 1; },
                         std::chrono::milliseconds(3000)));
  ASSERT_TRUE(WaitFor([&] { return listener_.answered() >= 1; }, std::chrono::seconds(1)));
  EXPECT_EQ(keeper_->renewals_outstanding(), 0u);
  const int answered_before = listener_.answered();

  auto [second, ttl2] = Grant(10);
  etcd_->Pause();  // SIGSTOP: nothing is answered now
  keeper_->Add(second, ttl2, /*renew_now=*/true);
  keeper_->Add(first, ttl, /*renew_now=*/true);
  bool counted = WaitFor([&] { return keeper_->renewals_outstanding() == 2; },
                         std::chrono::milliseconds(2000));
  size_t while_paused = keeper_->renewals_outstanding();
  int answered_while_paused = listener_.answered();
  etcd_->Resume();
  EXPECT_TRUE(counted) << while_paused << " outstanding while etcd was stopped";
  EXPECT_EQ(answered_while_paused, answered_before);
  ASSERT_TRUE(
      WaitFor([&] { return keeper_->renewals_outstanding() == 0; }, std::chrono::seconds(3)));
  EXPECT_TRUE(WaitFor([&] { return listener_.answered() == answered_before + 1; },
                      std::chrono::seconds(1)));
  EXPECT_GE(listener_.renewed(second), 1);
}

TEST_F(LeaseKeeperTest, SurvivesEtcdPausedShorterThanTheTtl) {
  auto [lease, ttl] = Grant(5);
  keeper_->Add(lease, ttl);
  ASSERT_TRUE(WaitFor([&, lease = lease] { return listener_.renewed(lease) >= 1; },
                         std::chrono::milliseconds(4000)));
  etcd_->Pause();
  std::this_thread::sleep_for(std::chrono::milliseconds(ttl * 1000 / 2));
  etcd_->Resume();
  const int before = listener_.renewed(lease);
  ASSERT_TRUE(WaitFor([&, lease = lease] { return listener_.renewed(lease) > before; },
                         std::chrono::milliseconds(4000)));
  std::this_thread::sleep_for(std::chrono::seconds(ttl));
  EXPECT_TRUE(listener_.lost().empty());
  EXPECT_GT(RemainingTtl(lease), 0);  // the same lease ID, still alive
  EXPECT_TRUE(keeper_->healthy());
}

TEST_F(LeaseKeeperTest, SilentStreamIsReopenedAndLeaseKept) {
  // Stale after 9/3 + 1 = 4 s; the first unanswered renewal goes out up to 3 s after the last
  // answered one, so the lease still has >= 2 s left when the silence is noticed.
  auto [lease, ttl] = Grant(9);
  keeper_->Add(lease, ttl, /*renew_now=*/true);
  ASSERT_TRUE(WaitFor([&, lease = lease] { return listener_.renewed(lease) >= 1; },
                         std::chrono::milliseconds(3000)));
  etcd_->Pause();
  const auto paused = Steady::now();
  ASSERT_TRUE(
      WaitFor([&] { return keeper_->stale_streams() >= 1; }, std::chrono::milliseconds(8000)));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - paused).count();
  std::printf("MEASURED silent stream detected %lld ms after SIGSTOP (TTL %lld)\n",
              static_cast<long long>(ms), static_cast<long long>(ttl));
  EXPECT_LE(ms, 2 * ttl * 1000 / 3 + 1000 + 200);
  EXPECT_FALSE(keeper_->healthy());
  etcd_->Resume();
  ASSERT_TRUE(WaitFor([&] { return keeper_->healthy(); }, std::chrono::milliseconds(3000)));
  EXPECT_GE(keeper_->streams_opened(), 2);
  EXPECT_TRUE(listener_.lost().empty());
  EXPECT_GT(RemainingTtl(lease), 0);
}

TEST_F(LeaseKeeperTest, KeepsThousandsOfLeasesOnOneStreamWithLittleCpu) {
  constexpr int kLeases = 5000;
  constexpr int kInFlight = 256;
  absl::Mutex mu;
  std::vector<std::pair<int64_t, int64_t>> granted;
  int started = 0;
  int failed = 0;
  std::function<void()> grant_next = [&] {
    pb::LeaseGrantRequest req;
    req.set_ttl(6);
    client_->LeaseGrant(req, [&](absl::StatusOr<pb::LeaseGrantResponse> r) {
      bool more = false;
      {
        absl::MutexLock lock(&mu);
        if (r.ok()) {
          granted.emplace_back(r->id(), r->ttl());
        } else {
          ++failed;
        }
        more = started < kLeases;
        started += more ? 1 : 0;
      }
      if (more) {
        grant_next();
      }
    });
  };
  {
    absl::MutexLock lock(&mu);
    started = kInFlight;
  }
  const auto grant_start = Steady::now();
  for (int i = 0; i < kInFlight; ++i) {
    grant_next();
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return static_cast<int>(granted.size()) + failed == kLeases;
      },
      std::chrono::milliseconds(20000)));
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(failed, 0);
  }
  const auto grant_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - grant_start).count();
  // renew_now: the first leases were granted grant_ms ago. Added as fresh, their first renewal
  // would come ttl/3 after Add, too late when granting took longer than 2/3 of the TTL (4.7 s
  // for TTL 6 on etcd 3.5 at load 12: every lease expired before its first renewal).
  for (const auto& [lease, ttl] : granted) {
    keeper_->Add(lease, ttl, /*renew_now=*/true);
  }
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const auto keep_start = Steady::now();
  std::this_thread::sleep_for(std::chrono::seconds(7));
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  const double wall = std::chrono::duration<double>(Steady::now() - keep_start).count();
  auto cpu = [](const rusage& r) {
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  const double cpu_share = (cpu(after) - cpu(before)) / wall;
  int min_renewed = 1 << 30;
  for (const auto& [lease, ttl] : granted) {
    min_renewed = std::min(min_renewed, listener_.renewed(lease));
  }
  std::printf(
      "MEASURED %d leases granted in %lld ms (%d in flight); kept %0.1f s on one stream: "
      "min renewals per lease %d, keeper+client CPU %.1f%% of one core\n",
      kLeases, static_cast<long long>(grant_ms), kInFlight, wall, min_renewed, cpu_share * 100);
  EXPECT_TRUE(listener_.lost().empty());
  EXPECT_GE(min_renewed, 3);  // TTL 6 renews every 2 s: at 0, 2, 4 and 6 s
  EXPECT_EQ(keeper_->streams_opened(), 1);
  EXPECT_LT(cpu_share, 0.5);
  EXPECT_GT(RemainingTtl(granted.front().first), 0);
  EXPECT_GT(RemainingTtl(granted.back().first), 0);
}

TEST_F(LeaseKeeperTest, StopEndsCallbacks) {
  auto [lease, ttl] = Grant(2);
  keeper_->Add(lease, ttl, /*renew_now=*/true);
  ASSERT_TRUE(WaitFor([&, lease = lease] { return listener_.renewed(lease) >= 1; },
                         std::chrono::milliseconds(3000)));
  keeper_->Stop();
  EXPECT_FALSE(keeper_->healthy());
  const int after_stop = listener_.renewed(lease);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(listener_.renewed(lease), after_stop);
}

}  // namespace
}  // namespace registrar::etcd
