// File: tests/integration/registration/admin_client.h
//
// The product's REST client (kube::NewClient) as the shared control plane's admin (client
// certificate, no token), for tests of the registration module against the real API server;
// and AdminApiTest, the fixture both of those tests share: the backend and the client once per
// suite (CRD applied), a fresh namespace per test.
// Thread-safety: the client is; AdminClient itself keeps no state; the fixture is driven by
// the gtest thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#include "controller/kube/client.h"
#include "tests/integration/kube/kube_api_harness.h"

namespace registrar::registration::testing {

absl::StatusOr<std::unique_ptr<kube::Client>> AdminClient(const kube_testing::Backend& backend);

class AdminApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  // Sets ns_ to `prefix`<n> (n counts the tests of the suite) and creates that namespace.
  void NewNamespace(const std::string& prefix);

  static kube_testing::Backend* backend_;
  static kube::Client* client_;
  static int counter_;
  std::string ns_;
};

}  // namespace registrar::registration::testing
