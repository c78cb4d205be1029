// File: controller/registration/status.h
//
// A ServiceRegistration's status from the engine's view of it, per the table of DESIGN.md §1
// (kstatus conditions Ready / Reconciling / Stalled, so Flux, Argo CD and `kubectl wait` read
// health; the words are conditions.h's). FromEngine is the one place that translates the
// publisher's state into those words. Pure functions: the caller supplies the previous status
// (for lastTransitionTime, which changes only when a condition's status flips) and the time.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "controller/publisher/engine.h"
#include "controller/registration/conditions.h"
#include "controller/registration/types.h"

namespace registrar::registration {

// A reason the controller refused the registration before it reached the engine.
struct Refusal {
  std::string reason;  // kReasonInvalidSpec, kReasonKeyNotAllowed, kReasonEndpointNotAllowed, ...
  std::string message;
};

// The engine's phase and reason in the CRD's words (conditions.h).
struct PhaseAndReason {
  std::string phase;
  std::string reason;
  bool operator==(const PhaseAndReason&) const = default;
};

// The only function that reads the publisher's phase and reason. A reason it does not know is
// kept as the engine wrote it.
PhaseAndReason FromEngine(const publisher::State& state);

// `state` is the engine's state (nullopt: not registered yet, or revoked and gone). `refusal`
// wins over the engine state. A terminating object is Terminating/Revoking until the engine
// has let it go.
Status ComputeStatus(const ServiceRegistration& object,
                     const std::optional<publisher::State>& state,
                     const std::optional<Refusal>& refusal, const Status& previous,
                     std::chrono::system_clock::time_point now);

// RFC 3339 UTC with second precision, as Kubernetes writes timestamps.
std::string FormatTime(std::chrono::system_clock::time_point t);

}  // namespace registrar::registration
