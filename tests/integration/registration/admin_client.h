// File: tests/integration/registration/admin_client.h
//
// The product's REST client (kube::NewClient) as the shared control plane's admin (client
// certificate, no token), for tests of the registration module against the real API server.
// Thread-safety: the client is; AdminClient itself keeps no state.
#pragma once

#include <memory>

#include "absl/status/statusor.h"

#include "controller/kube/client.h"
#include "tests/integration/kube/kube_api_harness.h"

namespace registrar::registration::testing {

absl::StatusOr<std::unique_ptr<kube::Client>> AdminClient(const kube_testing::Backend& backend);

}  // namespace registrar::registration::testing
