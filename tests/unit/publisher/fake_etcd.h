// File: tests/unit/publisher/fake_etcd.h
//
// Fakes of our own seams for the engine's unit tests: FakeClient implements etcd::Client by
// holding every call until the test answers it (nothing is answered by itself except Status,
// answered OK); FakeKeeper implements etcd::LeaseKeeper by recording which leases it keeps and
// passing the test's events to the engine's listener. Neither is an etcd: no keys, no leases,
// no revisions — the test says what etcd answered.
//
// Thread-safety: none; the engine under test runs its loop on the test's thread
// (EngineDeps::own_thread = false). Ownership: the engine owns them; the test keeps raw pointers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "controller/etcd/client.h"
#include "controller/etcd/lease_keeper.h"

namespace registrar::publisher::testing {

namespace pb = etcd::pb;

template <typename Req, typename Resp>
struct PendingCall {
  Req req;
  etcd::Callback<Resp> done;
};

// Takes the calls out of `calls` and answers each with `answer(request)`.
template <typename Req, typename Resp, typename Answer>
void AnswerAll(std::vector<PendingCall<Req, Resp>>& calls, Answer answer) {
  auto taken = std::move(calls);
  calls.clear();
  for (auto& call : taken) {
    call.done(answer(call.req));
  }
}

class FakeWatch final : public etcd::WatchStream {
 public:
  void Close() override {}
};

class FakeClient final : public etcd::Client {
 public:
  std::vector<PendingCall<pb::RangeRequest, pb::RangeResponse>> ranges;
  std::vector<PendingCall<pb::PutRequest, pb::PutResponse>> puts;
  std::vector<PendingCall<pb::TxnRequest, pb::TxnResponse>> txns;
  std::vector<PendingCall<pb::LeaseGrantRequest, pb::LeaseGrantResponse>> grants;
  std::vector<PendingCall<pb::LeaseRevokeRequest, pb::LeaseRevokeResponse>> revokes;
  std::vector<int64_t> revoked;  // every LeaseRevoke ever asked for, in order
  std::vector<std::pair<pb::WatchCreateRequest, etcd::WatchHandler>> watches;
  int64_t regressions = 0;

  void Range(pb::RangeRequest req, etcd::Callback<pb::RangeResponse> done) override {
    ranges.push_back({std::move(req), std::move(done)});
  }
  void Put(pb::PutRequest req, etcd::Callback<pb::PutResponse> done) override {
    puts.push_back({std::move(req), std::move(done)});
  }
  void DeleteRange(pb::DeleteRangeRequest, etcd::Callback<pb::DeleteRangeResponse> done) override {
    done(absl::UnimplementedError("fake: DeleteRange"));
  }
  void Txn(pb::TxnRequest req, etcd::Callback<pb::TxnResponse> done) override {
    txns.push_back({std::move(req), std::move(done)});
  }
  void Compact(pb::CompactionRequest, etcd::Callback<pb::CompactionResponse> done) override {
    done(absl::UnimplementedError("fake: Compact"));
  }
  void LeaseGrant(pb::LeaseGrantRequest req, etcd::Callback<pb::LeaseGrantResponse> done) override {
    grants.push_back({std::move(req), std::move(done)});
  }
  void LeaseRevoke(pb::LeaseRevokeRequest req,
                   etcd::Callback<pb::LeaseRevokeResponse> done) override {
    revoked.push_back(req.id());
    revokes.push_back({std::move(req), std::move(done)});
  }
  void LeaseTimeToLive(pb::LeaseTimeToLiveRequest,
                       etcd::Callback<pb::LeaseTimeToLiveResponse> done) override {
    done(absl::UnimplementedError("fake: LeaseTimeToLive"));
  }
  void LeaseLeases(pb::LeaseLeasesRequest, etcd::Callback<pb::LeaseLeasesResponse> done) override {
    done(absl::UnimplementedError("fake: LeaseLeases"));
  }
  void Status(pb::StatusRequest, etcd::Callback<pb::StatusResponse> done) override {
    done(pb::StatusResponse());
  }
  absl::StatusOr<etcd::WatchStreamPtr> Watch(pb::WatchCreateRequest req,
                                             etcd::WatchHandler handler) override {
    watches.emplace_back(std::move(req), std::move(handler));
    return std::make_unique<FakeWatch>();
  }
  absl::StatusOr<etcd::KeepAliveStreamPtr> KeepAlive(etcd::KeepAliveHandler) override {
    return absl::UnimplementedError("fake: the keeper is faked too");
  }
  int64_t max_revision() const override { return 0; }
  int64_t revision_regressions() const override { return regressions; }
  std::string target() const override { return "fake"; }
  bool RetryCredentials() override {
    ++credential_retries;
    return true;
  }
  int credential_retries = 0;  // RetryCredentials calls (the hold-down of rejected ones ended)
  ~FakeClient() override {
    if (on_destroy) {
      on_destroy();
    }
  }
  std::function<void()> on_destroy;  // called when the engine destroys the client

  // Every pending grant answered as etcd would grant it.
  void GrantAll() {
    AnswerAll(grants,
              [](const pb::LeaseGrantRequest& req) -> absl::StatusOr<pb::LeaseGrantResponse> {
                pb::LeaseGrantResponse r;
                r.set_id(req.id());
                r.set_ttl(req.ttl());
                return r;
              });
  }
  // Every pending Txn answered with `succeeded`.
  void AnswerTxns(bool succeeded) {
    AnswerAll(txns, [succeeded](const pb::TxnRequest&) -> absl::StatusOr<pb::TxnResponse> {
      pb::TxnResponse r;
      r.set_succeeded(succeeded);
      return r;
    });
  }
  void RevokeAll() {
    AnswerAll(revokes,
              [](const pb::LeaseRevokeRequest&) -> absl::StatusOr<pb::LeaseRevokeResponse> {
                return pb::LeaseRevokeResponse();
              });
  }
  bool WasRevoked(int64_t lease) const {
    return std::find(revoked.begin(), revoked.end(), lease) != revoked.end();
  }
};

class FakeKeeper final : public etcd::LeaseKeeper {
 public:
  explicit FakeKeeper(Listener& listener) : listener(listener) {}

  void Start() override {}
  void Stop() override { stopped = true; }
  void Add(int64_t lease, int64_t granted_ttl, bool renew_now) override {
    kept[lease] = granted_ttl;
    if (renew_now) {
      renewed_now.push_back(lease);
    }
  }
  void Remove(int64_t lease) override { kept.erase(lease); }
  size_t size() const override { return kept.size(); }
  bool healthy() const override { return true; }
  size_t renewals_outstanding() const override { return 0; }
  std::optional<Clock::TimePoint> renewals_silent_since() const override { return std::nullopt; }

  Listener& listener;
  std::map<int64_t, int64_t> kept;  // lease -> granted TTL
  std::vector<int64_t> renewed_now;
  bool stopped = false;
};

}  // namespace registrar::publisher::testing
