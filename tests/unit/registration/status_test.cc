// ComputeStatus against the condition table of DESIGN.md §1: one test per row (phase, the three
// kstatus conditions, reason), plus observedGeneration and lastTransitionTime bookkeeping.
#include "controller/registration/status.h"

#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::registration {
namespace {

using std::chrono::system_clock;

// 2026-01-02T03:04:05Z and one minute later.
const system_clock::time_point kT0 = system_clock::from_time_t(1767323045);
const system_clock::time_point kT1 = kT0 + std::chrono::minutes(1);
constexpr char kT0Text[] = "2026-01-02T03:04:05Z";
constexpr char kT1Text[] = "2026-01-02T03:05:05Z";

ServiceRegistration Object(int64_t generation = 3) {
  ServiceRegistration o;
  o.metadata.namespace_ = "default";
  o.metadata.name = "user-rpc";
  o.metadata.generation = generation;
  o.spec.key = "user.rpc";
  o.spec.value = "10.0.0.12:8081";
  return o;
}

publisher::State EngineState(publisher::Phase phase, const std::string& reason,
                             const std::string& message = "") {
  publisher::State s;
  s.id = "default/user-rpc";
  s.phase = phase;
  // The engine reports a publisher::Cause; its name is the reason the test table uses.
  for (publisher::Cause cause :
       {publisher::Cause::kRegistering, publisher::Cause::kRegistered, publisher::Cause::kPaused,
        publisher::Cause::kDryRun, publisher::Cause::kEtcdUnavailable, publisher::Cause::kLeaseLost,
        publisher::Cause::kKeyConflict, publisher::Cause::kAuthFailed,
        publisher::Cause::kRevoking}) {
    if (reason == publisher::CauseName(cause)) {
      s.cause = cause;
    }
  }
  s.message = message;
  if (phase == publisher::Phase::kRegistered || phase == publisher::Phase::kPending) {
    s.full_key = "user.rpc/7587869541230001234";
    s.lease_id = 7587869541230001234;
    s.granted_ttl = 10;
    s.value = "10.0.0.12:8081";
  }
  return s;
}

const Condition& Get(const Status& status, const std::string& type) {
  for (const Condition& c : status.conditions) {
    if (c.type == type) {
      return c;
    }
  }
  ADD_FAILURE() << "no condition " << type;
  static const Condition kMissing;
  return kMissing;
}

// Asserts one row of the table: phase, Ready/Reconciling/Stalled and the reason on every
// condition, with observedGeneration on each.
void ExpectRow(const Status& s, const std::string& phase, const char* ready,
               const char* reconciling, const char* stalled, const std::string& reason,
               int64_t generation = 3) {
  EXPECT_EQ(s.phase, phase);
  EXPECT_EQ(s.observed_generation, generation);
  ASSERT_EQ(s.conditions.size(), 3u);
  EXPECT_EQ(Get(s, "Ready").status, ready);
  EXPECT_EQ(Get(s, "Reconciling").status, reconciling);
  EXPECT_EQ(Get(s, "Stalled").status, stalled);
  for (const Condition& c : s.conditions) {
    EXPECT_EQ(c.reason, reason) << c.type;
    EXPECT_EQ(c.observed_generation, generation) << c.type;
    EXPECT_EQ(c.last_transition_time, kT0Text) << c.type;
  }
}

TEST(ComputeStatusTest, KeyLiveIsRegisteredAndReady) {
  Status s = ComputeStatus(Object(), EngineState(publisher::Phase::kRegistered, "Registered"),
                           std::nullopt, {}, kT0);
  ExpectRow(s, "Registered", "True", "False", "False", "Registered");
  EXPECT_EQ(s.full_key, "user.rpc/7587869541230001234");
  EXPECT_EQ(s.lease_id, "7587869541230001234");  // decimal string
  EXPECT_EQ(s.granted_ttl, 10);
  EXPECT_EQ(s.value, "10.0.0.12:8081");
  EXPECT_THAT(Get(s, "Ready").message, ::testing::HasSubstr("user.rpc/7587869541230001234"));
}

// Moving to another etcd target (endpoints or credentials changed): the key is live on the
// current one, so Ready; Reconciling until it is on the new one (before: Reconciling False with
// the new observedGeneration, as if the new spec were done).
TEST(ComputeStatusTest, MovingIsReadyAndReconciling) {
  publisher::State state = EngineState(publisher::Phase::kRegistered, "Registered");
  state.moving = true;
  Status s = ComputeStatus(Object(), state, std::nullopt, {}, kT0);
  EXPECT_EQ(s.phase, "Registered");
  EXPECT_EQ(Get(s, "Ready").status, "True");
  EXPECT_EQ(Get(s, "Ready").reason, "Registered");
  EXPECT_EQ(Get(s, "Reconciling").status, "True");
  EXPECT_EQ(Get(s, "Reconciling").reason, "Moving");
  EXPECT_EQ(Get(s, "Stalled").status, "False");
  EXPECT_EQ(s.lease_id, "7587869541230001234");
  // The new target not reachable yet: said in the Reconciling message.
  state.message = "the new etcd target is not reachable yet (connection refused)";
  s = ComputeStatus(Object(), state, std::nullopt, {}, kT0);
  EXPECT_EQ(Get(s, "Reconciling").reason, "Moving");
  EXPECT_THAT(Get(s, "Reconciling").message, ::testing::HasSubstr("not reachable yet"));
  EXPECT_EQ(Get(s, "Ready").status, "True");
}

// The new credentials of the Secret were rejected while the key is live with the previous ones:
// still Ready, and a warning naming the Secret (never its values).
TEST(ComputeStatusTest, RejectedNewCredentialsKeepReadyWithAWarningNamingTheSecret) {
  publisher::State state = EngineState(publisher::Phase::kRegistered, "Registered");
  state.moving = true;
  state.warning = "etcd rejected the new credentials (user bob)";
  ServiceRegistration o = Object();
  o.spec.etcd = EtcdTarget{};
  o.spec.etcd->endpoints = {"etcd-0:2379"};
  o.spec.etcd->credentials_secret_ref = SecretRef{.name = "etcd-auth"};
  Status s = ComputeStatus(o, state, std::nullopt, {}, kT0);
  EXPECT_EQ(s.phase, "Registered");
  EXPECT_EQ(Get(s, "Ready").status, "True");
  EXPECT_EQ(Get(s, "Reconciling").status, "True");
  EXPECT_EQ(Get(s, "Reconciling").reason, "CredentialsRejected");
  EXPECT_THAT(Get(s, "Reconciling").message, ::testing::HasSubstr("user bob"));
  EXPECT_THAT(Get(s, "Reconciling").message, ::testing::HasSubstr("Secret default/etcd-auth"));
  EXPECT_THAT(Get(s, "Ready").message, ::testing::HasSubstr("Secret default/etcd-auth"));
  EXPECT_EQ(Get(s, "Stalled").status, "False");
}

TEST(ComputeStatusTest, PausedIsNeitherReadyNorReconcilingNorStalled) {
  Status s = ComputeStatus(Object(), EngineState(publisher::Phase::kPaused, "Paused"), std::nullopt,
                           {}, kT0);
  ExpectRow(s, "Paused", "False", "False", "False", "Paused");
  EXPECT_EQ(s.lease_id, "");  // the lease is revoked
  EXPECT_EQ(s.value, "");
}

TEST(ComputeStatusTest, NotYetInTheEngineIsPendingRegistering) {
  Status s = ComputeStatus(Object(), std::nullopt, std::nullopt, {}, kT0);
  ExpectRow(s, "Pending", "False", "True", "False", "Registering");
  EXPECT_EQ(s.full_key, "");
  EXPECT_EQ(s.lease_id, "");
}

TEST(ComputeStatusTest, TemporaryFaultsArePendingAndReconciling) {
  for (const char* reason : {"Registering", "EtcdUnavailable", "LeaseLost"}) {
    SCOPED_TRACE(reason);
    Status s =
        ComputeStatus(Object(), EngineState(publisher::Phase::kPending, reason, "etcd is down"),
                      std::nullopt, {}, kT0);
    ExpectRow(s, "Pending", "False", "True", "False", reason);
    EXPECT_EQ(Get(s, "Reconciling").message, "etcd is down");
    EXPECT_EQ(Get(s, "Stalled").message, "");
  }
}

TEST(ComputeStatusTest, RefusalsAreFailedAndStalled) {
  for (const char* reason :
       {"InvalidSpec", "KeyNotAllowed", "EndpointNotAllowed", "SecretNotFound"}) {
    SCOPED_TRACE(reason);
    Refusal refusal{reason, std::string("because ") + reason};
    // The refusal wins over whatever the engine still reports.
    Status s = ComputeStatus(Object(), EngineState(publisher::Phase::kRegistered, "Registered"),
                             refusal, {}, kT0);
    ExpectRow(s, "Failed", "False", "False", "True", reason);
    EXPECT_EQ(Get(s, "Stalled").message, refusal.message);
    EXPECT_EQ(Get(s, "Ready").message, refusal.message);
    EXPECT_EQ(Get(s, "Reconciling").message, "");
    EXPECT_EQ(s.full_key, "");
    EXPECT_EQ(s.lease_id, "");
  }
}

TEST(ComputeStatusTest, EngineFailuresAreFailedAndStalled) {
  for (const char* reason : {"KeyConflict", "AuthFailed"}) {
    SCOPED_TRACE(reason);
    Status s =
        ComputeStatus(Object(), EngineState(publisher::Phase::kFailed, reason, "held by someone"),
                      std::nullopt, {}, kT0);
    ExpectRow(s, "Failed", "False", "False", "True", reason);
    EXPECT_EQ(Get(s, "Stalled").message, "held by someone");
  }
}

TEST(ComputeStatusTest, DeletionIsTerminatingRevoking) {
  ServiceRegistration o = Object();
  o.metadata.deletion_timestamp = "2026-01-02T03:04:00Z";
  Status s = ComputeStatus(o, EngineState(publisher::Phase::kRegistered, "Registered"),
                           std::nullopt, {}, kT0);
  ExpectRow(s, "Terminating", "False", "True", "False", "Revoking");
  // Deletion wins over a refusal too.
  s = ComputeStatus(o, std::nullopt, Refusal{"InvalidSpec", "bad"}, {}, kT0);
  ExpectRow(s, "Terminating", "False", "True", "False", "Revoking");
}

TEST(ComputeStatusTest, ObservedGenerationFollowsTheObject) {
  Status s = ComputeStatus(Object(/*generation=*/7),
                           EngineState(publisher::Phase::kRegistered, "Registered"), std::nullopt,
                           {}, kT0);
  ExpectRow(s, "Registered", "True", "False", "False", "Registered", /*generation=*/7);
}

TEST(ComputeStatusTest, LastTransitionTimeKeptWhileStatusUnchanged) {
  Status first = ComputeStatus(Object(), EngineState(publisher::Phase::kPending, "Registering"),
                               std::nullopt, {}, kT0);
  // Later, still pending but for another reason: no condition flipped.
  Status second =
      ComputeStatus(Object(4), EngineState(publisher::Phase::kPending, "EtcdUnavailable"),
                    std::nullopt, first, kT1);
  for (const Condition& c : second.conditions) {
    EXPECT_EQ(c.last_transition_time, kT0Text) << c.type;
    EXPECT_EQ(c.reason, "EtcdUnavailable") << c.type;
    EXPECT_EQ(c.observed_generation, 4) << c.type;
  }
}

TEST(ComputeStatusTest, LastTransitionTimeSetWhenStatusFlips) {
  Status pending = ComputeStatus(Object(), std::nullopt, std::nullopt, {}, kT0);
  Status registered =
      ComputeStatus(Object(), EngineState(publisher::Phase::kRegistered, "Registered"),
                    std::nullopt, pending, kT1);
  EXPECT_EQ(Get(registered, "Ready").last_transition_time, kT1Text);        // False -> True
  EXPECT_EQ(Get(registered, "Reconciling").last_transition_time, kT1Text);  // True -> False
  EXPECT_EQ(Get(registered, "Stalled").last_transition_time, kT0Text);      // False stays
}

TEST(FormatTimeTest, Rfc3339UtcSeconds) {
  EXPECT_EQ(FormatTime(kT0), kT0Text);
  EXPECT_EQ(FormatTime(kT0 + std::chrono::milliseconds(999)), kT0Text);
}

// FromEngine is the one translation of the publisher's state into the CRD's words: every phase
// and every cause the engine reports.
TEST(FromEngine, MapsEveryPhaseAndCause) {
  using publisher::Cause;
  using publisher::Phase;
  struct Case {
    Phase phase;
    Cause cause;
    PhaseAndReason want;
  };
  const Case cases[] = {
      {Phase::kPending, Cause::kRegistering, {"Pending", "Registering"}},
      {Phase::kPending, Cause::kEtcdUnavailable, {"Pending", "EtcdUnavailable"}},
      {Phase::kPending, Cause::kLeaseLost, {"Pending", "LeaseLost"}},
      {Phase::kPending, Cause::kDryRun, {"Pending", "DryRun"}},
      {Phase::kRegistered, Cause::kRegistered, {"Registered", "Registered"}},
      {Phase::kPaused, Cause::kPaused, {"Paused", "Paused"}},
      {Phase::kFailed, Cause::kKeyConflict, {"Failed", "KeyConflict"}},
      {Phase::kFailed, Cause::kAuthFailed, {"Failed", "AuthFailed"}},
      {Phase::kTerminating, Cause::kRevoking, {"Terminating", "Revoking"}},
  };
  for (const Case& c : cases) {
    publisher::State state;
    state.phase = c.phase;
    state.cause = c.cause;
    EXPECT_EQ(FromEngine(state), c.want) << publisher::CauseName(c.cause);
  }
}

}  // namespace
}  // namespace registrar::registration
