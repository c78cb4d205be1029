#include "controller/publisher/registration_plan.h"

namespace registrar::publisher {

const char* ActionName(Action action) {
  switch (action) {
    case Action::kNone:
      return "None";
    case Action::kRevokeOld:
      return "RevokeOld";
    case Action::kRevokeCurrent:
      return "RevokeCurrent";
    case Action::kErase:
      return "Erase";
    case Action::kAwaitRevoke:
      return "AwaitRevoke";
    case Action::kShowPaused:
      return "ShowPaused";
    case Action::kShowAuthFailed:
      return "ShowAuthFailed";
    case Action::kGrant:
      return "Grant";
    case Action::kGrantKeepOld:
      return "GrantKeepOld";
    case Action::kGrantDropCurrent:
      return "GrantDropCurrent";
    case Action::kPutKey:
      return "PutKey";
    case Action::kShowUnavailable:
      return "ShowUnavailable";
    case Action::kShowRejected:
      return "ShowRejected";
    case Action::kShowRegistered:
      return "ShowRegistered";
  }
  return "Unknown";
}

Action Plan(const PlanInput& in) {
  if (in.activity != Activity::kIdle || !in.adoption_done) {
    return Action::kNone;
  }
  if (in.removed || in.paused) {
    if (in.has_old) {
      return Action::kRevokeOld;
    }
    if (in.has_lease) {
      return Action::kRevokeCurrent;
    }
    if (in.revoke_pending && !(in.removed && in.let_go)) {
      return Action::kAwaitRevoke;
    }
    return in.removed ? Action::kErase : Action::kShowPaused;
  }
  if (!in.connectable) {
    return Action::kShowAuthFailed;
  }
  if (!in.has_lease || !in.lease_fits) {
    if (!in.has_lease) {
      return Action::kGrant;
    }
    return in.has_old ? Action::kGrantDropCurrent : Action::kGrantKeepOld;
  }
  if (!in.key_current) {
    return Action::kPutKey;
  }
  if (in.has_old) {
    return Action::kRevokeOld;
  }
  if (in.conn_rejected) {
    return Action::kShowRejected;
  }
  return in.conn_down ? Action::kShowUnavailable : Action::kShowRegistered;
}

bool HeldKeyShowsLive(const HeldKeyInput& in) {
  return in.lease_live && !(in.holder_rejected && in.target_failed);
}

KeyWriteMode PlanKeyWrite(bool holder, bool drop_old, bool no_batch, bool reput) {
  return !holder && !drop_old && !no_batch && !reput ? KeyWriteMode::kBatched
                                                     : KeyWriteMode::kAlone;
}

}  // namespace registrar::publisher
