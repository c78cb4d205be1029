// File: controller/publisher/registration_plan.h
//
// What one registration does next, as a pure function of what it wants and holds: the engine
// describes the registration (PlanInput), Plan() names the one action to take, and the engine
// carries it out (engine_impl.cc). At most one etcd operation per registration is in flight.
//
// The plan, in order:
//   1. Nothing while an operation is in flight, a retry is pending, or adoption is not done.
//   2. Not wanted (removed or paused): revoke the lease being replaced, then the current one;
//      while a failed revoke of its lease waits in the revoke debt (revoke_debt.h), await it
//      (a removed one at most until one TTL after Remove: deletion never hangs); then erase
//      (removed) or show Paused.
//   3. Wanted but its etcd cannot be reached (bad TLS files): show AuthFailed.
//   4. No lease, or one on another connection or with another TTL: grant one. Make before
//      break: a current lease becomes the one being replaced; a second replacement revokes the
//      intermediate lease first.
//   5. The key, value or record differs from what is written: write the key (KeyWriteMode says
//      whether it may share a batched Txn).
//   6. Then revoke the lease being replaced; then show AuthFailed while etcd rejects the
//      connection's credentials (the password was changed in etcd: the key lasts until its lease
//      ends), Registered, or EtcdUnavailable while the connection's keep-alive stream is down.
//
// HeldKeyShowsLive: a registration moving to another connection (make before break) whose key
// is held through a connection that stopped renewing it (its keep-alive stream is down, or etcd
// now rejects its credentials: a same-user password rotation on etcd 3.5/3.6) still shows
// Registered and moving (Ready True, Reconciling True) while its lease may still be alive and
// some connection may still work; otherwise the honest not-Ready state.
//
// Thread-safety: pure functions. Ownership: none.
#pragma once

namespace registrar::publisher {

// What a registration is waiting for; replaces the former `busy` / `retry_pending` flags.
enum class Activity {
  kIdle,
  kInFlight,    // one etcd operation of it is in flight
  kBackingOff,  // a retry is scheduled
};

struct PlanInput {
  Activity activity = Activity::kIdle;
  bool adoption_done = true;
  bool removed = false;
  bool paused = false;
  bool connectable = true;  // its target's connection exists or could be made
  bool has_old = false;     // a lease is being replaced (make before break)
  bool has_lease = false;
  bool lease_fits = false;      // the lease is on the wanted connection with the wanted TTL
  bool key_current = false;     // key present with the wanted full key, value and record
  bool conn_down = false;       // the keep-alive stream of its connection is down
  bool conn_rejected = false;   // etcd rejects its connection's credentials
  bool revoke_pending = false;  // its lease's revoke failed and waits in the revoke debt
  bool let_go = false;          // removed, and one TTL has passed since Remove
};

enum class Action {
  kNone,
  kRevokeOld,
  kRevokeCurrent,
  kErase,
  kAwaitRevoke,  // removed or paused, its revoke owed: show why, wait (removed: until let go)
  kShowPaused,
  kShowAuthFailed,
  kGrant,             // no lease yet
  kGrantKeepOld,      // the current lease becomes the one being replaced, then grant
  kGrantDropCurrent,  // revoke the current (intermediate) lease, then grant
  kPutKey,
  kShowUnavailable,
  kShowRejected,  // its connection's credentials are rejected: AuthFailed, the lease still held
  kShowRegistered,
};

const char* ActionName(Action action);

struct HeldKeyInput {
  // The holding lease's last renewal (or, before any, its grant) plus its granted TTL is still
  // ahead: etcd cannot have expired it yet.
  bool lease_live = false;
  bool holder_rejected = false;  // etcd rejects the holding connection's credentials
  bool target_failed = false;    // the wanted connection's last attempt failed (since then)
};

// True: Registered and moving. False once the lease may have ended, or when neither connection
// works (the holder's credentials rejected and the target failing). A holder whose stream is
// merely down is reopened by its keeper (within about a second), so it still counts as working
// until its lease may have ended.
bool HeldKeyShowsLive(const HeldKeyInput& in);

Action Plan(const PlanInput& in);

enum class KeyWriteMode {
  kBatched,  // a new key: shares the connection's next batched Txn
  kAlone,    // a Txn of its own, where a failure is told apart
};

// `holder`: some lease of ours holds the key now; `drop_old`: the full key changes on the same
// lease; `no_batch`: its last batch failed; `reput`: the key is put back after a delete.
KeyWriteMode PlanKeyWrite(bool holder, bool drop_old, bool no_batch, bool reput);

}  // namespace registrar::publisher
