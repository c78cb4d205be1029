// StatusEvents: which core/v1 Events a status transition and the engine's counters record
// (status_events.h), one table row per rule.
#include "controller/registration/status_events.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/registration/conditions.h"

namespace registrar::registration {
namespace {

// A status in `phase` whose three conditions carry `reason`; Stalled True for Failed,
// Reconciling True for Pending (as ComputeStatus makes them).
Status S(const std::string& phase, const std::string& reason, const std::string& message = "") {
  Status s;
  s.phase = phase;
  if (phase == kPhaseRegistered) {
    s.full_key = "user.rpc/42";
    s.lease_id = "7587869541230001234";
    s.granted_ttl = 10;
  }
  auto c = [&](const char* type, bool on) {
    Condition x;
    x.type = type;
    x.status = on ? kConditionTrue : kConditionFalse;
    x.reason = reason;
    x.message = on || std::string(type) == kConditionReady ? message : "";
    return x;
  };
  s.conditions = {c(kConditionReady, phase == kPhaseRegistered),
                  c(kConditionReconciling, phase == kPhasePending),
                  c(kConditionStalled, phase == kPhaseFailed)};
  return s;
}

// "Type/Reason" of each event, in order.
std::vector<std::string> Names(const std::vector<EventSpec>& events) {
  std::vector<std::string> out;
  for (const EventSpec& e : events) {
    out.push_back(std::string(EventTypeName(e.type)) + "/" + e.reason);
  }
  return out;
}

struct Row {
  const char* name;
  Status before;
  Status after;
  EngineCounters seen;
  EngineCounters now;
  std::vector<std::string> want;
};

TEST(StatusEvents, Table) {
  const Status empty;
  const Status pending = S(kPhasePending, kReasonRegistering);
  const Status registered = S(kPhaseRegistered, kReasonRegistered, "key user.rpc/42 is live");
  const Status paused = S(kPhasePaused, kReasonPaused);
  const Status conflict = S(kPhaseFailed, kReasonKeyConflict, "held by lease 9");
  const Status conflict2 = S(kPhaseFailed, kReasonKeyConflict, "held by lease 10");
  const Status unavailable = S(kPhasePending, kReasonEtcdUnavailable, "connection refused");
  const Status lost = S(kPhasePending, kReasonLeaseLost, "lease 1 not found");
  const Status target = S(kPhaseFailed, kReasonEtcdTargetUnsupported, "spec.etcd ...");
  const Status invalid = S(kPhaseFailed, kReasonInvalidSpec, "spec.key: must not be empty");
  const Status not_allowed = S(kPhaseFailed, kReasonKeyNotAllowed, "policy");
  const Status terminating = S(kPhaseTerminating, kReasonRevoking);
  const std::vector<Row> rows = {
      {"first status, not registered yet", empty, pending, {}, {}, {}},
      {"pending -> registered", pending, registered, {}, {}, {"Normal/Registered"}},
      {"first status already registered", empty, registered, {}, {}, {"Normal/Registered"}},
      {"registered, unchanged", registered, registered, {}, {}, {}},
      {"registered -> paused", registered, paused, {}, {}, {"Normal/Paused"}},
      {"paused -> pending", paused, pending, {}, {}, {"Normal/Resumed"}},
      {"paused -> registered", paused, registered, {}, {}, {"Normal/Resumed", "Normal/Registered"}},
      {"paused -> terminating", paused, terminating, {}, {}, {}},
      {"pending -> key conflict", pending, conflict, {}, {}, {"Warning/KeyConflict"}},
      {"key conflict, new message", conflict, conflict2, {}, {}, {}},
      {"registered -> etcd unavailable", registered, unavailable, {}, {},
       {"Warning/EtcdUnavailable"}},
      {"etcd unavailable -> registered", unavailable, registered, {}, {}, {"Normal/Registered"}},
      {"registered -> lease lost", registered, lost, {}, {}, {"Warning/LeaseLost"}},
      {"lost and registered again between two looks", registered, registered, {0, 0}, {1, 0},
       {"Warning/LeaseLost"}},
      {"lease lost state and a counted loss: one event", registered, lost, {0, 0}, {1, 0},
       {"Warning/LeaseLost"}},
      {"key put back", registered, registered, {0, 0}, {0, 2}, {"Warning/KeyRePut"}},
      {"counters restarted by the engine", registered, registered, {3, 4}, {0, 0}, {}},
      {"spec.etcd set", empty, target, {}, {}, {"Warning/EtcdTargetUnsupported"}},
      {"invalid spec", pending, invalid, {}, {}, {"Warning/InvalidSpec"}},
      {"invalid -> not allowed", invalid, not_allowed, {}, {}, {"Warning/KeyNotAllowed"}},
      {"registered -> terminating", registered, terminating, {}, {}, {}},
  };
  for (const Row& row : rows) {
    EXPECT_THAT(Names(StatusEvents(row.before, row.after, row.seen, row.now)),
                ::testing::ElementsAreArray(row.want))
        << row.name;
  }
}

// Still Registered (the key is live with the previous credentials) while etcd rejects the new
// ones: one Warning when that starts, none while it lasts, none for a plain move.
TEST(StatusEvents, RejectedNewCredentialsWarnOnceWhileStillRegistered) {
  Status live = S(kPhaseRegistered, kReasonRegistered);
  auto reconciling = [&](const char* reason) {
    Status s = live;
    s.conditions[1].status = kConditionTrue;
    s.conditions[1].reason = reason;
    s.conditions[1].message = "etcd rejected the new credentials (user bob)";
    return s;
  };
  const Status moving = reconciling(kReasonMoving);
  const Status rejected = reconciling(kReasonCredentialsRejected);
  EXPECT_THAT(Names(StatusEvents(live, moving, {}, {})), ::testing::IsEmpty());
  std::vector<EventSpec> events = StatusEvents(moving, rejected, {}, {});
  ASSERT_EQ(Names(events), std::vector<std::string>{"Warning/CredentialsRejected"});
  EXPECT_THAT(events[0].message, ::testing::HasSubstr("user bob"));
  EXPECT_THAT(Names(StatusEvents(rejected, rejected, {}, {})), ::testing::IsEmpty());
  EXPECT_THAT(Names(StatusEvents(rejected, live, {}, {})), ::testing::IsEmpty());
}

TEST(StatusEvents, MessagesSayWhatHappenedAndWhatToDo) {
  Status pending = S(kPhasePending, kReasonRegistering);
  Status registered = S(kPhaseRegistered, kReasonRegistered, "key user.rpc/42 is live");
  auto ev = StatusEvents(pending, registered, {}, {});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].message,
            "key user.rpc/42 is live in etcd with lease 7587869541230001234 (TTL 10s)");
  Status conflict = S(kPhaseFailed, kReasonKeyConflict, "key user.rpc/42 is held by lease 9");
  ev = StatusEvents(registered, conflict, {}, {});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].message, "key user.rpc/42 is held by lease 9");  // the condition's message
  ev = StatusEvents(registered, S(kPhasePaused, kReasonPaused), {}, {});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_THAT(ev[0].message, ::testing::HasSubstr("set spec.paused to false"));
  ev = StatusEvents(registered, registered, {0, 1}, {0, 4});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].message,
            "key user.rpc/42 was deleted from etcd by someone else and put back with the same "
            "lease (3 times)");
}

}  // namespace
}  // namespace registrar::registration
