// File: controller/registration/conditions.h
//
// The CRD's status vocabulary (DESIGN.md §1; crds/serviceregistrations.yaml enumerates the
// phases and condition statuses): phases, condition types and reasons, as written into status
// and shown by /registrations, metrics and logs. Product code names them through these
// constants; no other module spells them.
//
// Flow: the reconciler refuses with a reason of its own (InvalidSpec, KeyNotAllowed, ...);
// everything else comes from the publisher's state, which status.h's FromEngine maps into these
// words (the only place that reads the publisher's vocabulary).
//
// kstatus convention (so Flux, Argo CD and `kubectl wait` read health):
//   phase        Ready  Reconciling  Stalled  reasons
//   Registered   True   False        False    Registered
//   Registered   True   True         False    Moving, CredentialsRejected (the key is live on its
//                                             current etcd connection while it moves to another:
//                                             new endpoints, or new credentials from a Secret;
//                                             also while the holding connection stopped renewing
//                                             and the lease can still be alive)
//   Paused       False  False        False    Paused
//   Pending      False  True         False    Registering, EtcdUnavailable, LeaseLost, DryRun
//   Failed       False  False        True     InvalidSpec, KeyConflict, KeyNotAllowed,
//                                             EndpointNotAllowed, AuthFailed, SecretNotFound,
//                                             EtcdTargetUnsupported, ValueFromUnsupported
//   Terminating  False  True         False    Revoking
//
// Plain constants: thread-safe, no ownership.
#pragma once

namespace registrar::registration {

// status.phase
inline constexpr char kPhasePending[] = "Pending";
inline constexpr char kPhaseRegistered[] = "Registered";
inline constexpr char kPhasePaused[] = "Paused";
inline constexpr char kPhaseFailed[] = "Failed";
inline constexpr char kPhaseTerminating[] = "Terminating";
// Every phase, in the CRD's enum order (for metrics that list each phase, zeros included).
inline constexpr const char* kPhases[] = {kPhasePending, kPhaseRegistered, kPhasePaused,
                                          kPhaseFailed, kPhaseTerminating};

// status.conditions[].type, and their status values.
inline constexpr char kConditionReady[] = "Ready";
inline constexpr char kConditionReconciling[] = "Reconciling";
inline constexpr char kConditionStalled[] = "Stalled";
inline constexpr char kConditionTrue[] = "True";
inline constexpr char kConditionFalse[] = "False";

// status.conditions[].reason
inline constexpr char kReasonRegistered[] = "Registered";
inline constexpr char kReasonPaused[] = "Paused";
inline constexpr char kReasonRegistering[] = "Registering";
inline constexpr char kReasonEtcdUnavailable[] = "EtcdUnavailable";
inline constexpr char kReasonLeaseLost[] = "LeaseLost";
// Under --dry-run, where the etcd operations are logged instead of done (not in DESIGN.md's
// table).
inline constexpr char kReasonDryRun[] = "DryRun";
inline constexpr char kReasonInvalidSpec[] = "InvalidSpec";
inline constexpr char kReasonKeyConflict[] = "KeyConflict";
inline constexpr char kReasonKeyNotAllowed[] = "KeyNotAllowed";
inline constexpr char kReasonEndpointNotAllowed[] = "EndpointNotAllowed";
inline constexpr char kReasonAuthFailed[] = "AuthFailed";
inline constexpr char kReasonSecretNotFound[] = "SecretNotFound";
inline constexpr char kReasonRevoking[] = "Revoking";
// Registered, and moving to another etcd connection (Reconciling True until the key is written
// through it); CredentialsRejected: the move waits because etcd rejects the new credentials.
inline constexpr char kReasonMoving[] = "Moving";
inline constexpr char kReasonCredentialsRejected[] = "CredentialsRejected";
// Kubernetes mode: spec.etcd (a per-registration etcd target) where no Secret reader is wired
// (never in the binary, docs/operations.md); such a resource is refused rather than registered
// on the controller's own etcd.
inline constexpr char kReasonEtcdTargetUnsupported[] = "EtcdTargetUnsupported";
// Kubernetes mode: spec.valueFrom (every ready endpoint of a Service) is not implemented yet;
// such a resource is refused rather than registered with an empty value.
inline constexpr char kReasonValueFromUnsupported[] = "ValueFromUnsupported";

// Event reasons (core/v1 Events in Kubernetes mode) besides the condition reasons above.
inline constexpr char kEventResumed[] = "Resumed";
inline constexpr char kEventRevoked[] = "Revoked";
inline constexpr char kEventKeyRePut[] = "KeyRePut";

}  // namespace registrar::registration
