#include "tests/integration/registration/admin_client.h"

#include <fstream>
#include <sstream>
#include <string>

#include "controller/common/clock.h"
#include "controller/kube/credentials.h"

namespace registrar::registration::testing {

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class NoToken final : public kube::Credentials {
 public:
  absl::StatusOr<std::string> Token() override { return std::string(); }
  void Invalidate() override {}
};

}  // namespace

absl::StatusOr<std::unique_ptr<kube::Client>> AdminClient(const kube_testing::Backend& backend) {
  kube::ClusterConfig config;
  config.server = backend.plane().server();
  config.ca_pem = ReadFile(backend.target().ca_file);
  config.client_cert_pem = ReadFile(backend.target().client_cert_file);
  config.client_key_pem = ReadFile(backend.target().client_key_file);
  config.origin = "test admin";
  return kube::NewClient(config, std::make_unique<NoToken>(), kube::ClientOptions{},
                         RealClock::Get());
}

kube_testing::Backend* AdminApiTest::backend_ = nullptr;
kube::Client* AdminApiTest::client_ = nullptr;
int AdminApiTest::counter_ = 0;

void AdminApiTest::SetUpTestSuite() {
  backend_ = kube_testing::Backend::Start().release();
  ASSERT_NE(backend_, nullptr);
  ASSERT_TRUE(kube_testing::EnsureCrd(backend_->http()));
  auto client = AdminClient(*backend_);
  ASSERT_TRUE(client.ok()) << client.status();
  client_ = client->release();
}

void AdminApiTest::TearDownTestSuite() {
  delete client_;
  client_ = nullptr;
  delete backend_;
  backend_ = nullptr;
}

void AdminApiTest::NewNamespace(const std::string& prefix) {
  ASSERT_NE(client_, nullptr);
  ns_ = prefix + std::to_string(++counter_);
  ASSERT_TRUE(kube_testing::CreateNamespace(backend_->http(), ns_));
}

}  // namespace registrar::registration::testing
