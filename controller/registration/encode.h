// File: controller/registration/encode.h
//
// The ServiceRegistration of types.h -> JSON, as the API server stores it: for the status
// subresource, /registrations and tests. The inverse of decode.h: ToJson followed by ParseJson
// gives back an equal object.
//
// Pure functions, thread-safe.
#pragma once

#include "controller/registration/types.h"
#include "nlohmann/json.hpp"

namespace registrar::registration {

// The full object, status included when not empty. Integers are JSON integers; leaseID stays a
// decimal string; a numeric serviceRef.port is an integer again. Empty optional fields are omitted
// (Kubernetes `omitempty`).
nlohmann::json ToJson(const ServiceRegistration& registration);

// The status stanza alone, empty fields omitted: write it with a full update of /status (PUT),
// not a merge patch, or a cleared field would survive.
nlohmann::json StatusToJson(const Status& status);

}  // namespace registrar::registration
