// File: tests/integration/kube/kube_client_fixture.h
//
// What the tests of controller/kube/client_impl.h share: the real control plane
// (KubeControlPlane::Shared(), one per test binary) with the CRD, a namespace, a ServiceAccount
// bound to cluster-admin and one with no RBAC at all; ClusterConfigs built by hand (admin client
// certificate, or a bearer token); a Credentials whose token changes after each Invalidate().
//
// Thread-safety: the suite is set up on the main thread; TestCredentials may be used from any.
// Ownership: the control plane belongs to Shared(); the suite's strings live for the binary.
#pragma once

#include <dirent.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

#include "controller/common/clock.h"
#include "controller/kube/api.h"
#include "controller/kube/client.h"
#include "controller/kube/config.h"
#include "controller/kube/credentials.h"
#include "tests/fixtures/kube_control_plane.h"
#include "tests/integration/kube/kube_api_harness.h"

namespace registrar::kube {

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The threads of this process (entries of /proc/self/task).
inline int ThreadCount() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      n += e->d_name[0] != '.';
    }
    closedir(d);
  }
  return n;
}

// Token i after i Invalidate() calls (the last one once the list is used up).
class TestCredentials final : public Credentials {
 public:
  explicit TestCredentials(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}
  absl::StatusOr<std::string> Token() override {
    absl::MutexLock lock(&mu_);
    return tokens_[std::min<size_t>(invalidations_, tokens_.size() - 1)];
  }
  void Invalidate() override {
    absl::MutexLock lock(&mu_);
    ++invalidations_;
  }
  int invalidations() {
    absl::MutexLock lock(&mu_);
    return invalidations_;
  }

 private:
  absl::Mutex mu_;
  const std::vector<std::string> tokens_;
  int invalidations_ ABSL_GUARDED_BY(mu_) = 0;
};

class KubeClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto plane = testing::KubeControlPlane::Shared();
    ASSERT_TRUE(plane.ok()) << plane.status();
    plane_ = *plane;
    auto backend = kube_testing::Backend::Start();
    ASSERT_NE(backend, nullptr);
    ASSERT_TRUE(kube_testing::EnsureCrd(backend->http()));
    auto ns = plane_->CreateNamespace("kclient");
    ASSERT_TRUE(ns.ok()) << ns.status();
    ns_ = new std::string(*ns);
    ASSERT_TRUE(plane_->CreateServiceAccount(*ns_, "robot").ok());
    ASSERT_TRUE(plane_->BindClusterRole(*ns_, "robot", "cluster-admin").ok());
    ASSERT_TRUE(plane_->CreateServiceAccount(*ns_, "nobody").ok());
    auto robot = plane_->RequestToken(*ns_, "robot");
    ASSERT_TRUE(robot.ok()) << robot.status();
    robot_token_ = new std::string(*robot);
    auto nobody = plane_->RequestToken(*ns_, "nobody");
    ASSERT_TRUE(nobody.ok()) << nobody.status();
    nobody_token_ = new std::string(*nobody);
  }
  static void TearDownTestSuite() {
    delete ns_;
    delete robot_token_;
    delete nobody_token_;
    ns_ = robot_token_ = nobody_token_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(robot_token_, nullptr) << "suite setup failed"; }

  // The API server with the admin client certificate (O=system:masters).
  static ClusterConfig AdminConfig() {
    ClusterConfig c;
    c.server = plane_->server();
    c.ca_pem = ReadWholeFile(plane_->ca_file());
    c.client_cert_pem = ReadWholeFile(plane_->dir() + "/admin.crt");
    c.client_key_pem = ReadWholeFile(plane_->dir() + "/admin.key");
    c.origin = "test admin";
    return c;
  }
  // `server` (the API server by default) trusting the plane's CA, no client certificate.
  static ClusterConfig TokenConfig(const std::string& server = "") {
    ClusterConfig c;
    c.server = server.empty() ? plane_->server() : server;
    c.ca_pem = ReadWholeFile(plane_->ca_file());
    c.origin = "test token";
    return c;
  }
  static std::unique_ptr<Client> MustClient(const ClusterConfig& config,
                                            std::vector<std::string> tokens,
                                            ClientOptions options = {},
                                            TestCredentials** creds = nullptr) {
    auto c = std::make_unique<TestCredentials>(std::move(tokens));
    if (creds != nullptr) {
      *creds = c.get();
    }
    auto client = NewClient(config, std::move(c), std::move(options), RealClock::Get());
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }
  static std::unique_ptr<Client> Admin(ClientOptions options = {}) {
    return MustClient(AdminConfig(), {""}, std::move(options));
  }
  static nlohmann::json NewRegistration(const std::string& name) {
    return {{"apiVersion", "registrar.dev/v1alpha1"},
            {"kind", "ServiceRegistration"},
            {"metadata", {{"name", name}}},
            {"spec", {{"key", "/svc/" + name}, {"value", "10.0.0.1:80"}}}};
  }
  static std::string Rv(const nlohmann::json& obj) { return obj["metadata"]["resourceVersion"]; }

  static inline testing::KubeControlPlane* plane_ = nullptr;
  static inline std::string* ns_ = nullptr;
  static inline std::string* robot_token_ = nullptr;
  static inline std::string* nobody_token_ = nullptr;
};

}  // namespace registrar::kube
