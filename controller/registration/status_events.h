// File: controller/registration/status_events.h
//
// Which core/v1 Events a reconcile records, from what changed: the status before and after
// (status.h ComputeStatus), and the engine's per-registration counters (publisher::State
// reregistrations, key_reputs) against the last ones the reconciler saw. Pure: no clock, no
// state; the reconciler keeps the counters per identity and writes the events (object_writer.h).
//
// Rules (before -> after; "reason" is the conditions' reason):
//   - Registered (Normal): after is Registered, before was not.
//   - Paused (Normal): after is Paused, before was not.
//   - Resumed (Normal): before was Paused, after is Pending or Registered (listed first when
//     both Resumed and Registered apply).
//   - a failure reason (Warning, the reason itself: InvalidSpec, KeyConflict, KeyNotAllowed,
//     EndpointNotAllowed, AuthFailed, EtcdUnavailable, EtcdTargetUnsupported,
//     SecretNotFound): on entering it (reason or phase differs from before), with the
//     condition's message.
//   - LeaseLost (Warning): reregistrations grew, or the reason became LeaseLost; one event.
//   - KeyRePut (Warning): key_reputs grew.
// A counter lower than the last seen (the engine started the registration afresh) records
// nothing. Revoked is recorded by the deletion path, not here.
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controller/registration/object_writer.h"
#include "controller/registration/types.h"

namespace registrar::registration {

struct EngineCounters {
  int64_t reregistrations = 0;
  int64_t key_reputs = 0;
  bool operator==(const EngineCounters&) const = default;
};

struct EventSpec {
  EventType type = EventType::kNormal;
  std::string reason;
  std::string message;
  bool operator==(const EventSpec&) const = default;
};

std::vector<EventSpec> StatusEvents(const Status& before, const Status& after,
                                    const EngineCounters& seen, const EngineCounters& now);

// True for the reasons that record a Warning on entry (the list above).
bool IsFailureReason(const std::string& reason);

}  // namespace registrar::registration
