// Tables of the engine's pure decisions: Plan (registration_plan.h), PlanKeyWrite and the
// failure table FailureFor (etcd_errors.h).
#include "controller/publisher/registration_plan.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/etcd/dry_run_client.h"
#include "controller/publisher/etcd_errors.h"

namespace registrar::publisher {
namespace {

struct PlanRow {
  std::string name;
  PlanInput in;
  Action want;
};

PlanInput Live() {
  PlanInput in;
  in.has_lease = true;
  in.lease_fits = true;
  in.key_current = true;
  return in;
}

template <typename F>
PlanInput With(PlanInput in, F change) {
  change(in);
  return in;
}

TEST(RegistrationPlan, Table) {
  const std::vector<PlanRow> rows = {
      {"in flight: nothing", With(Live(), [](auto& i) { i.activity = Activity::kInFlight; }),
       Action::kNone},
      {"backing off: nothing", With(Live(), [](auto& i) { i.activity = Activity::kBackingOff; }),
       Action::kNone},
      {"adoption not done: nothing", With({}, [](auto& i) { i.adoption_done = false; }),
       Action::kNone},
      {"new: grant", {}, Action::kGrant},
      {"granted: put the key", With(Live(), [](auto& i) { i.key_current = false; }),
       Action::kPutKey},
      {"live: registered", Live(), Action::kShowRegistered},
      {"live, stream down: unavailable", With(Live(), [](auto& i) { i.conn_down = true; }),
       Action::kShowUnavailable},
      {"live, credentials rejected: auth failed (the lease is still held)",
       With(Live(), [](auto& i) { i.conn_rejected = true; }), Action::kShowRejected},
      {"credentials rejected and stream down: auth failed says more",
       With(Live(),
            [](auto& i) {
              i.conn_rejected = true;
              i.conn_down = true;
            }),
       Action::kShowRejected},
      {"credentials rejected, moving to new ones: the move first",
       With(Live(),
            [](auto& i) {
              i.conn_rejected = true;
              i.lease_fits = false;
            }),
       Action::kGrantKeepOld},
      {"moved, the old lease's connection rejected: revoke the old one first",
       With(Live(),
            [](auto& i) {
              i.conn_rejected = true;
              i.has_old = true;
            }),
       Action::kRevokeOld},
      {"ttl or target changed: keep the old lease, grant",
       With(Live(), [](auto& i) { i.lease_fits = false; }), Action::kGrantKeepOld},
      {"changed again while replacing: drop the intermediate lease, grant",
       With(Live(),
            [](auto& i) {
              i.lease_fits = false;
              i.has_old = true;
            }),
       Action::kGrantDropCurrent},
      {"new lease without key, old lease kept: put the key first",
       With(Live(),
            [](auto& i) {
              i.has_old = true;
              i.key_current = false;
            }),
       Action::kPutKey},
      {"new key live: revoke the replaced lease", With(Live(), [](auto& i) { i.has_old = true; }),
       Action::kRevokeOld},
      {"paused with lease: revoke it", With(Live(), [](auto& i) { i.paused = true; }),
       Action::kRevokeCurrent},
      {"paused while replacing: revoke the old one first",
       With(Live(),
            [](auto& i) {
              i.paused = true;
              i.has_old = true;
            }),
       Action::kRevokeOld},
      {"paused without lease: paused", With({}, [](auto& i) { i.paused = true; }),
       Action::kShowPaused},
      {"removed with lease: revoke it", With(Live(), [](auto& i) { i.removed = true; }),
       Action::kRevokeCurrent},
      {"removed without lease: erase", With({}, [](auto& i) { i.removed = true; }), Action::kErase},
      {"removed and not connectable: erase (no connection needed)",
       With({},
            [](auto& i) {
              i.removed = true;
              i.connectable = false;
            }),
       Action::kErase},
      {"wanted, not connectable: auth failed", With({}, [](auto& i) { i.connectable = false; }),
       Action::kShowAuthFailed},
      {"paused, revoke owed: await it",
       With({},
            [](auto& i) {
              i.paused = true;
              i.revoke_pending = true;
            }),
       Action::kAwaitRevoke},
      {"removed, revoke owed, within one TTL: await it",
       With({},
            [](auto& i) {
              i.removed = true;
              i.revoke_pending = true;
            }),
       Action::kAwaitRevoke},
      {"removed, revoke owed, one TTL passed: erase (the debt goes on)",
       With({},
            [](auto& i) {
              i.removed = true;
              i.revoke_pending = true;
              i.let_go = true;
            }),
       Action::kErase},
      {"removed, revoke owed, still holding a lease: revoke that first",
       With(Live(),
            [](auto& i) {
              i.removed = true;
              i.revoke_pending = true;
              i.let_go = true;
            }),
       Action::kRevokeCurrent},
      {"wanted again while a revoke is owed: grant anew",
       With({}, [](auto& i) { i.revoke_pending = true; }), Action::kGrant},
      {"owed revoke in flight of the engine: nothing",
       With({},
            [](auto& i) {
              i.paused = true;
              i.revoke_pending = true;
              i.activity = Activity::kBackingOff;
            }),
       Action::kNone},
  };
  for (const PlanRow& row : rows) {
    EXPECT_EQ(ActionName(Plan(row.in)), std::string(ActionName(row.want))) << row.name;
  }
}

TEST(RegistrationPlan, OnlyAPlainNewKeySharesABatch) {
  EXPECT_EQ(PlanKeyWrite(false, false, false, false), KeyWriteMode::kBatched);
  EXPECT_EQ(PlanKeyWrite(true, false, false, false), KeyWriteMode::kAlone);  // we hold the key
  EXPECT_EQ(PlanKeyWrite(false, true, false, false), KeyWriteMode::kAlone);  // key moves
  EXPECT_EQ(PlanKeyWrite(false, false, true, false), KeyWriteMode::kAlone);  // batch failed
  EXPECT_EQ(PlanKeyWrite(false, false, false, true), KeyWriteMode::kAlone);  // re-put
}

// A move whose key is held through a connection that stopped renewing it (a same-user password
// rotation on etcd 3.5/3.6 closes the old keep-alive stream): Registered and moving while the
// lease may be alive and some connection may work.
TEST(HeldKeyShowsLive, Table) {
  struct Row {
    std::string name;
    HeldKeyInput in;
    bool want;
  };
  const std::vector<Row> rows = {
      {"holder's stream down, lease alive, target not failed: live",
       {.lease_live = true, .holder_rejected = false, .target_failed = false},
       true},
      {"holder rejected (password changed), target retried: live",
       {.lease_live = true, .holder_rejected = true, .target_failed = false},
       true},
      {"holder only down, target failing: live while the lease lasts",
       {.lease_live = true, .holder_rejected = false, .target_failed = true},
       true},
      {"holder rejected and target failing: no connection works",
       {.lease_live = true, .holder_rejected = true, .target_failed = true},
       false},
      {"lease may have ended: not live",
       {.lease_live = false, .holder_rejected = false, .target_failed = false},
       false},
      {"lease may have ended, holder rejected: not live",
       {.lease_live = false, .holder_rejected = true, .target_failed = false},
       false},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(HeldKeyShowsLive(row.in), row.want) << row.name;
  }
}

struct FailureRow {
  std::string name;
  absl::Status status;
  bool removed;
  Phase phase;
  Cause cause;
  Retry retry;
};

TEST(FailureFor, Table) {
  const std::vector<FailureRow> rows = {
      {"unavailable", absl::UnavailableError("connection refused"), false, Phase::kPending,
       Cause::kEtcdUnavailable, Retry::kBackoff},
      {"deadline", absl::DeadlineExceededError("slow"), false, Phase::kPending,
       Cause::kEtcdUnavailable, Retry::kBackoff},
      {"unavailable while removing", absl::UnavailableError("down"), true, Phase::kTerminating,
       Cause::kRevoking, Retry::kBackoff},
      {"bad password", absl::UnauthenticatedError("authentication failed"), false, Phase::kFailed,
       Cause::kAuthFailed, Retry::kAuthRetry},
      {"no permission while removing", absl::PermissionDeniedError("denied"), true, Phase::kFailed,
       Cause::kAuthFailed, Retry::kAuthRetry},
      {"untrusted TLS peer", absl::UnavailableError("Ssl handshake failed"), false, Phase::kFailed,
       Cause::kAuthFailed, Retry::kAuthRetry},
      {"dry run", absl::FailedPreconditionError(etcd::kDryRunMessage), false, Phase::kPending,
       Cause::kDryRun, Retry::kNever},
      {"other: cause kept", absl::InvalidArgumentError("too many operations"), false,
       Phase::kPending, Cause::kLeaseLost, Retry::kBackoff},
      {"other while removing", absl::InvalidArgumentError("x"), true, Phase::kTerminating,
       Cause::kRevoking, Retry::kBackoff},
  };
  for (const FailureRow& row : rows) {
    Failure f = FailureFor(row.status, row.removed, Cause::kLeaseLost);
    EXPECT_EQ(f.phase, row.phase) << row.name;
    EXPECT_EQ(CauseName(f.cause), std::string(CauseName(row.cause))) << row.name;
    EXPECT_EQ(f.retry, row.retry) << row.name;
  }
}

TEST(Classify, LeaseNotFoundNeedsTheMessage) {
  EXPECT_EQ(Classify(absl::NotFoundError("etcdserver: requested lease not found")),
            ErrorClass::kLeaseNotFound);
  EXPECT_EQ(Classify(absl::NotFoundError("no such key")), ErrorClass::kOther);
  EXPECT_EQ(Classify(absl::FailedPreconditionError("lease already exists")), ErrorClass::kOther);
}

}  // namespace
}  // namespace registrar::publisher
