// File: controller/registration/status.h
//
// A ServiceRegistration's status from the engine's view of it, per the table of DESIGN.md §1
// (kstatus conditions Ready / Reconciling / Stalled, so Flux, Argo CD and `kubectl wait` read
// health). Pure functions: the caller supplies the previous status (for lastTransitionTime, which
// changes only when a condition's status flips) and the time.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "controller/publisher/engine.h"
#include "controller/registration/types.h"

namespace registrar::registration {

// A reason the controller refused the registration before it reached the engine.
struct Refusal {
  std::string reason;  // InvalidSpec, KeyNotAllowed, EndpointNotAllowed, SecretNotFound, ...
  std::string message;
};

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
