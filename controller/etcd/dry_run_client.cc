#include "controller/etcd/dry_run_client.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "spdlog/spdlog.h"

namespace registrar::etcd {

namespace {

absl::Status Refused() { return absl::FailedPreconditionError(kDryRunMessage); }

class SilentWatch final : public WatchStream {
 public:
  void Close() override {}
};

class SilentKeepAlive final : public KeepAliveStream {
 public:
  bool Send(int64_t /*lease_id*/) override { return true; }
  void Close() override {}
};

std::string Describe(const pb::TxnRequest& txn) {
  std::vector<std::string> ops;
  for (const auto& op : txn.success()) {
    if (op.has_request_put()) {
      ops.push_back(absl::StrCat("put ", op.request_put().key(), " = ", op.request_put().value(),
                                 " (lease ", op.request_put().lease(), ")"));
    } else if (op.has_request_delete_range()) {
      ops.push_back(absl::StrCat("delete ", op.request_delete_range().key()));
    }
  }
  return absl::StrJoin(ops, "; ");
}

class DryRunClient final : public Client {
 public:
  explicit DryRunClient(ClientPtr inner) : inner_(std::move(inner)) {}

  void Range(pb::RangeRequest req, Callback<pb::RangeResponse> done) override {
    if (inner_) {
      inner_->Range(std::move(req), std::move(done));
      return;
    }
    done(pb::RangeResponse());
  }
  void Put(pb::PutRequest req, Callback<pb::PutResponse> done) override {
    spdlog::info("dry-run: would put {} = {} (lease {})", req.key(), req.value(), req.lease());
    done(Refused());
  }
  void DeleteRange(pb::DeleteRangeRequest req, Callback<pb::DeleteRangeResponse> done) override {
    spdlog::info("dry-run: would delete {}", req.key());
    done(Refused());
  }
  void Txn(pb::TxnRequest req, Callback<pb::TxnResponse> done) override {
    spdlog::info("dry-run: would write a Txn: {}", Describe(req));
    done(Refused());
  }
  void Compact(pb::CompactionRequest req, Callback<pb::CompactionResponse> done) override {
    spdlog::info("dry-run: would compact at revision {}", req.revision());
    done(Refused());
  }
  void LeaseGrant(pb::LeaseGrantRequest req, Callback<pb::LeaseGrantResponse> done) override {
    spdlog::info("dry-run: would grant lease {} (ttl {})", req.id(), req.ttl());
    done(Refused());
  }
  void LeaseRevoke(pb::LeaseRevokeRequest req, Callback<pb::LeaseRevokeResponse> done) override {
    spdlog::info("dry-run: would revoke lease {}", req.id());
    done(Refused());
  }
  void LeaseTimeToLive(pb::LeaseTimeToLiveRequest req,
                       Callback<pb::LeaseTimeToLiveResponse> done) override {
    if (inner_) {
      inner_->LeaseTimeToLive(std::move(req), std::move(done));
      return;
    }
    pb::LeaseTimeToLiveResponse none;
    none.set_id(req.id());
    none.set_ttl(-1);
    done(std::move(none));
  }
  void LeaseLeases(pb::LeaseLeasesRequest req, Callback<pb::LeaseLeasesResponse> done) override {
    if (inner_) {
      inner_->LeaseLeases(std::move(req), std::move(done));
      return;
    }
    done(pb::LeaseLeasesResponse());
  }
  void Status(pb::StatusRequest req, Callback<pb::StatusResponse> done) override {
    if (inner_) {
      inner_->Status(std::move(req), std::move(done));
      return;
    }
    done(absl::UnavailableError("dry run: no etcd connection"));
  }
  absl::StatusOr<WatchStreamPtr> Watch(pb::WatchCreateRequest req, WatchHandler handler) override {
    if (inner_) {
      return inner_->Watch(std::move(req), std::move(handler));
    }
    return std::make_unique<SilentWatch>();
  }
  absl::StatusOr<KeepAliveStreamPtr> KeepAlive(KeepAliveHandler /*handler*/) override {
    return std::make_unique<SilentKeepAlive>();
  }
  int64_t max_revision() const override { return inner_ ? inner_->max_revision() : 0; }
  int64_t revision_regressions() const override {
    return inner_ ? inner_->revision_regressions() : 0;
  }
  std::string target() const override {
    return inner_ ? absl::StrCat(inner_->target(), " (dry run)") : "dry run";
  }

 private:
  ClientPtr inner_;
};

}  // namespace

bool IsDryRun(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) && status.message() == kDryRunMessage;
}

ClientPtr NewDryRunClient(ClientPtr inner) {
  return std::make_unique<DryRunClient>(std::move(inner));
}

}  // namespace registrar::etcd
