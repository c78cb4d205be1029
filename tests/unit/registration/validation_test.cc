#include "controller/registration/validation.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::registration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

ServiceRegistration Valid() {
  ServiceRegistration r;
  r.metadata.name = "user-rpc";
  r.metadata.namespace_ = "default";
  r.spec.key = "user.rpc";
  r.spec.value = "10.0.0.12:8081";
  return r;
}

std::vector<std::string> Paths(const ServiceRegistration& r,
                               SourceMode mode = SourceMode::kKubernetes,
                               std::string_view owner_prefix = kDefaultOwnerPrefix) {
  std::vector<std::string> paths;
  for (const FieldError& e : Validate(r, mode, owner_prefix)) {
    paths.push_back(e.path);
  }
  return paths;
}

TEST(Validate, AcceptsAPlainRegistrationInBothModes) {
  EXPECT_THAT(Validate(Valid(), SourceMode::kKubernetes), IsEmpty());
  EXPECT_THAT(Validate(Valid(), SourceMode::kManifests), IsEmpty());
}

TEST(Validate, MetadataNameIsARfc1123Subdomain) {
  ServiceRegistration r = Valid();
  for (const std::string& name :
       std::vector<std::string>{"", "User", "a_b", "-a", "a.", std::string(254, 'a')}) {
    r.metadata.name = name;
    EXPECT_THAT(Paths(r), ElementsAre("metadata.name")) << name;
  }
  for (const std::string& name :
       std::vector<std::string>{"a", "user-rpc.v2", std::string(253, 'a')}) {
    r.metadata.name = name;
    EXPECT_THAT(Paths(r), IsEmpty()) << name;
  }
}

TEST(Validate, NamespaceWhenSetIsALabel) {
  ServiceRegistration r = Valid();
  r.metadata.namespace_ = "team.a";
  EXPECT_THAT(Paths(r), ElementsAre("metadata.namespace"));
  r.metadata.namespace_ = "";
  EXPECT_THAT(Paths(r), IsEmpty());
}

TEST(Validate, KeyRules) {
  ServiceRegistration r = Valid();
  for (const std::string& key :
       std::vector<std::string>{"", "user rpc", "user\trpc", "user\x01rpc", "user.rpc/",
                                std::string(kMaxKeyLength + 1, 'k')}) {
    r.spec.key = key;
    EXPECT_THAT(Paths(r), ElementsAre("spec.key")) << key;
  }
  for (const std::string& key : std::vector<std::string>{"a", "/services/user.rpc", "été",
                                                         std::string(kMaxKeyLength, 'k')}) {
    r.spec.key = key;
    EXPECT_THAT(Paths(r), IsEmpty()) << key;
  }
}

TEST(Validate, KeyMustNotOverlapTheOwnerPrefix) {
  ServiceRegistration r = Valid();
  for (const char* key :
       {"/etcd-registrar/owners/x", "/etcd-registrar/owners", "/etcd-registrar"}) {
    r.spec.key = key;
    std::vector<FieldError> errors = Validate(r, SourceMode::kManifests);
    ASSERT_EQ(errors.size(), 1u) << key;
    EXPECT_EQ(errors[0].path, "spec.key");
    EXPECT_THAT(errors[0].message, HasSubstr("owner prefix \"/etcd-registrar/owners/\""));
  }
  for (const char* key : {"/etcd-registrar/ownersX", "/etcd-registrar/other", "/etcd"}) {
    r.spec.key = key;
    EXPECT_THAT(Paths(r), IsEmpty()) << key;
  }
  r.spec.key = "/etcd-registrar/owners/x";
  EXPECT_THAT(Paths(r, SourceMode::kKubernetes, "/mine/"), IsEmpty());
  r.spec.key = "/mine/a";
  EXPECT_THAT(Paths(r, SourceMode::kKubernetes, "/mine/"), ElementsAre("spec.key"));
}

TEST(Validate, ExactlyOneOfValueAndValueFrom) {
  ServiceRegistration r = Valid();
  r.spec.value_from = ValueFrom{ServiceRef{"user-rpc", "grpc"}};
  EXPECT_THAT(Paths(r), ElementsAre("spec"));
  r.spec.value.reset();
  EXPECT_THAT(Paths(r), IsEmpty());
  r.spec.value_from.reset();
  EXPECT_THAT(Paths(r), ElementsAre("spec.value"));
}

TEST(Validate, ValueRules) {
  ServiceRegistration r = Valid();
  for (const std::string& value :
       std::vector<std::string>{std::string(), std::string("a\nb"), std::string("a\x7f"),
                                std::string(kMaxValueLength + 1, 'v')}) {
    r.spec.value = value;
    EXPECT_THAT(Paths(r), ElementsAre("spec.value")) << value;
  }
  r.spec.value = std::string(kMaxValueLength, 'v');
  EXPECT_THAT(Paths(r), IsEmpty());
  r.spec.value = R"({"addr": "10.0.0.1:80", "zone": "été"})";
  EXPECT_THAT(Paths(r), IsEmpty());
}

TEST(Validate, ValueFromRules) {
  ServiceRegistration r = Valid();
  r.spec.value.reset();
  r.spec.value_from = ValueFrom{ServiceRef{"user-rpc", "8080"}};
  EXPECT_THAT(Paths(r), IsEmpty());
  r.spec.value_from->service_ref = {"", ""};
  EXPECT_THAT(Paths(r),
              ElementsAre("spec.valueFrom.serviceRef.name", "spec.valueFrom.serviceRef.port"));
  r.spec.value_from->service_ref = {"User.RPC", "70000"};
  EXPECT_THAT(Paths(r),
              ElementsAre("spec.valueFrom.serviceRef.name", "spec.valueFrom.serviceRef.port"));
  r.spec.value_from->service_ref = {"user-rpc", "Grpc_"};
  EXPECT_THAT(Paths(r), ElementsAre("spec.valueFrom.serviceRef.port"));
  r.spec.value_from->service_ref = {"user-rpc", "grpc"};
  r.spec.id = 3;
  EXPECT_THAT(Paths(r), ElementsAre("spec.id"));
}

TEST(Validate, ValueFromIsRefusedInManifestModeWithTheReason) {
  ServiceRegistration r = Valid();
  r.spec.value.reset();
  r.spec.value_from = ValueFrom{ServiceRef{"user-rpc", "grpc"}};
  std::vector<FieldError> errors = Validate(r, SourceMode::kManifests);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.valueFrom");
  EXPECT_THAT(errors[0].message, HasSubstr("--manifests"));
}

TEST(Validate, IdIsAtLeastOneWhenSet) {
  ServiceRegistration r = Valid();
  r.spec.id = -1;
  EXPECT_THAT(Paths(r), ElementsAre("spec.id"));
  r.spec.id = 0;
  EXPECT_THAT(Paths(r), IsEmpty());
  r.spec.id = 1;
  EXPECT_THAT(Paths(r), IsEmpty());
}

TEST(Validate, TtlSecondsBounds) {
  ServiceRegistration r = Valid();
  for (int64_t ttl : {int64_t{-1}, int64_t{0}, int64_t{4}, int64_t{3601}}) {
    r.spec.ttl_seconds = ttl;
    EXPECT_THAT(Paths(r), ElementsAre("spec.ttlSeconds")) << ttl;
  }
  for (int64_t ttl : {int64_t{5}, int64_t{10}, int64_t{3600}}) {
    r.spec.ttl_seconds = ttl;
    EXPECT_THAT(Paths(r), IsEmpty()) << ttl;
  }
  r.spec.ttl_seconds = 4;
  EXPECT_EQ(FormatErrors(Validate(r, SourceMode::kKubernetes)),
            "spec.ttlSeconds: must be between 5 and 3600, got 4");
}

TEST(Validate, EtcdTargetRules) {
  ServiceRegistration r = Valid();
  r.spec.etcd = EtcdTarget{{"etcd-0.etcd:2379", "10.0.0.1:1", "[::1]:65535"},
                           SecretRef{"etcd-auth"},
                           SecretRef{"etcd-tls"},
                           false};
  EXPECT_THAT(Paths(r), IsEmpty());
  r.spec.etcd->endpoints = {};
  EXPECT_THAT(Paths(r), ElementsAre("spec.etcd.endpoints"));
  r.spec.etcd->endpoints = {"ok:1", "noport", "a:0", "a:65536", ":2379", "a b:1", "http://a:1"};
  EXPECT_THAT(Paths(r), ElementsAre("spec.etcd.endpoints[1]", "spec.etcd.endpoints[2]",
                                    "spec.etcd.endpoints[3]", "spec.etcd.endpoints[4]",
                                    "spec.etcd.endpoints[5]", "spec.etcd.endpoints[6]"));
  r.spec.etcd->endpoints = {std::string(kMaxEndpointLength - 5, 'a') + ":2379",
                            std::string(1024 * 1024, 'a') + ":2379"};
  EXPECT_THAT(Paths(r), ElementsAre("spec.etcd.endpoints[1]"));
  r.spec.etcd->endpoints = {"a:1"};
  r.spec.etcd->credentials_secret_ref = SecretRef{""};
  r.spec.etcd->tls_secret_ref = SecretRef{"Bad_Name"};
  EXPECT_THAT(Paths(r),
              ElementsAre("spec.etcd.credentialsSecretRef.name", "spec.etcd.tlsSecretRef.name"));
}

TEST(Validate, EtcdTargetIsRefusedInManifestModeWithTheReason) {
  ServiceRegistration r = Valid();
  r.spec.etcd = EtcdTarget{{"etcd-0.etcd:2379"}, std::nullopt, std::nullopt, false};
  std::vector<FieldError> errors = Validate(r, SourceMode::kManifests);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.etcd");
  EXPECT_THAT(errors[0].message, HasSubstr("controller's own --etcd-* settings"));
}

TEST(Validate, ReportsEveryViolation) {
  ServiceRegistration r;
  r.spec.ttl_seconds = 1;
  r.spec.id = -5;
  EXPECT_THAT(Paths(r),
              ElementsAre("metadata.name", "spec.key", "spec.value", "spec.id", "spec.ttlSeconds"));
}

}  // namespace
}  // namespace registrar::registration
