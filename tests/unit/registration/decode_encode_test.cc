// decode.h (JSON/YAML -> types) and encode.h (types -> JSON), which must round-trip.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/common/yaml_json.h"
#include "controller/registration/decode.h"
#include "controller/registration/encode.h"
#include "tests/testing/status_matchers.h"

namespace registrar::registration {
namespace {

using nlohmann::json;
using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

json Minimal() {
  return json::parse(R"({"apiVersion": "registrar.dev/v1alpha1", "kind": "ServiceRegistration",
                         "metadata": {"name": "user-rpc"},
                         "spec": {"key": "user.rpc", "value": "10.0.0.12:8081"}})");
}

// The single document of `text`.
YamlDocument Document(const std::string& text) {
  absl::StatusOr<std::vector<YamlDocument>> docs = LoadYamlDocuments(text);
  EXPECT_THAT(docs, IsOk());
  EXPECT_EQ(docs.ok() ? docs->size() : 0u, 1u);
  return docs.ok() && !docs->empty() ? docs->front() : YamlDocument{};
}

std::vector<std::string> Paths(const std::vector<FieldError>& errors) {
  std::vector<std::string> paths;
  for (const FieldError& e : errors) {
    paths.push_back(e.path);
  }
  return paths;
}

TEST(ParseJson, AppliesDefaults) {
  absl::StatusOr<ServiceRegistration> r = ParseJson(Minimal());
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->metadata.name, "user-rpc");
  EXPECT_EQ(r->metadata.namespace_, "");
  EXPECT_EQ(r->spec.key, "user.rpc");
  EXPECT_EQ(r->spec.value, "10.0.0.12:8081");
  EXPECT_FALSE(r->spec.value_from.has_value());
  EXPECT_EQ(r->spec.id, 0);
  EXPECT_EQ(r->spec.ttl_seconds, 10);
  EXPECT_FALSE(r->spec.paused);
  EXPECT_FALSE(r->spec.etcd.has_value());
}

TEST(ParseJson, ReadsEveryField) {
  json object = Minimal();
  object["metadata"] = json::parse(R"({"name": "n", "namespace": "ns", "uid": "u-1",
      "generation": 4, "resourceVersion": "77", "labels": {"a": "b"},
      "annotations": {"c": "d"}, "finalizers": ["registrar.dev/revoke"],
      "deletionTimestamp": "2026-01-02T15:04:05Z", "creationTimestamp": "2026-01-01T00:00:00Z",
      "managedFields": [{"manager": "kubectl"}]})");
  object["spec"] = json::parse(R"({"key": "k", "valueFrom": {"serviceRef": {"name": "svc",
      "port": 8080}}, "ttlSeconds": 30, "paused": true, "etcd": {"endpoints": ["e:1"],
      "credentialsSecretRef": {"name": "auth"}, "tlsSecretRef": {"name": "tls"},
      "insecureSkipVerify": true}})");
  object["status"] = json::parse(R"({"observedGeneration": 4, "phase": "Registered",
      "fullKey": "k/1", "leaseID": "1", "grantedTTL": 30, "value": "v",
      "endpoints": [{"address": "a", "fullKey": "k/1", "leaseID": "1"}],
      "conditions": [{"type": "Ready", "status": "True", "reason": "Registered", "message": "m",
      "observedGeneration": 4, "lastTransitionTime": "2026-01-02T15:04:05Z"}]})");
  absl::StatusOr<ServiceRegistration> r = ParseJson(object);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->metadata.uid, "u-1");
  EXPECT_EQ(r->metadata.generation, 4);
  EXPECT_EQ(r->metadata.labels.at("a"), "b");
  EXPECT_THAT(r->metadata.finalizers, ElementsAre("registrar.dev/revoke"));
  EXPECT_EQ(r->metadata.deletion_timestamp, "2026-01-02T15:04:05Z");
  ASSERT_TRUE(r->spec.value_from.has_value());
  EXPECT_EQ(r->spec.value_from->service_ref.port, "8080");
  EXPECT_EQ(ToJson(*r)["spec"]["valueFrom"]["serviceRef"]["port"], 8080);
  ASSERT_TRUE(r->spec.etcd.has_value());
  EXPECT_EQ(r->spec.etcd->credentials_secret_ref->name, "auth");
  EXPECT_EQ(r->spec.etcd->tls_secret_ref->name, "tls");
  EXPECT_TRUE(r->spec.etcd->insecure_skip_verify);
  EXPECT_EQ(r->status.phase, "Registered");
  ASSERT_EQ(r->status.conditions.size(), 1u);
  EXPECT_EQ(r->status.conditions[0].observed_generation, 4);
  ASSERT_EQ(r->status.endpoints.size(), 1u);
  EXPECT_EQ(r->status.endpoints[0].address, "a");
}

TEST(ParseJson, WrongTypesAreNamedByPath) {
  json object = Minimal();
  object["spec"]["ttlSeconds"] = "10";
  object["spec"]["paused"] = 1;
  object["spec"]["key"] = 5;
  object["spec"]["etcd"] = {{"endpoints", {"a:1", 2}}};
  std::vector<FieldError> errors;
  absl::StatusOr<ServiceRegistration> r = ParseJson(object, &errors);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Paths(errors),
              ::testing::UnorderedElementsAre("spec.key", "spec.ttlSeconds", "spec.paused",
                                              "spec.etcd.endpoints[1]"));
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("spec.ttlSeconds: must be of type integer, got string"));
  EXPECT_THAT(errors, ::testing::Each(Field(&FieldError::line, 0)));
}

TEST(ParseJson, IntegralFloatsAreIntegersFractionsAreNot) {
  json object = Minimal();
  object["spec"]["ttlSeconds"] = 30.0;
  ASSERT_THAT(ParseJson(object), IsOk());
  EXPECT_EQ(ParseJson(object)->spec.ttl_seconds, 30);
  object["spec"]["ttlSeconds"] = 30.5;
  std::vector<FieldError> errors;
  EXPECT_FALSE(ParseJson(object, &errors).ok());
  EXPECT_THAT(Paths(errors), ElementsAre("spec.ttlSeconds"));
}

TEST(ParseJson, RejectsUnknownSpecFieldsButNotUnknownMetadataOrStatus) {
  json object = Minimal();
  object["spec"]["weight"] = 3;
  object["spec"]["etcd"] = {{"endpoints", {"a:1"}}, {"password", "x"}};
  object["status"] = {{"somethingNew", 1}};
  object["metadata"]["ownerReferences"] = json::array();
  object["extra"] = true;
  std::vector<FieldError> errors;
  EXPECT_FALSE(ParseJson(object, &errors).ok());
  EXPECT_THAT(Paths(errors),
              ::testing::UnorderedElementsAre("extra", "spec.weight", "spec.etcd.password"));
}

TEST(ParseJson, ChecksApiVersionAndKind) {
  json object = Minimal();
  object["apiVersion"] = "registrar.dev/v1";
  object.erase("kind");
  std::vector<FieldError> errors;
  absl::StatusOr<ServiceRegistration> r = ParseJson(object, &errors);
  EXPECT_THAT(Paths(errors), ElementsAre("apiVersion", "kind"));
  EXPECT_THAT(
      std::string(r.status().message()),
      HasSubstr("apiVersion: must be \"registrar.dev/v1alpha1\", got \"registrar.dev/v1\""));
}

TEST(ParseJson, RequiresAnObjectAndASpec) {
  std::vector<FieldError> errors;
  EXPECT_FALSE(ParseJson(json::array(), &errors).ok());
  EXPECT_THAT(Paths(errors), ElementsAre(""));
  json object = Minimal();
  object.erase("spec");
  errors.clear();
  EXPECT_FALSE(ParseJson(object, &errors).ok());
  EXPECT_THAT(Paths(errors), ElementsAre("spec"));
}

TEST(ParseJson, NullCountsAsAbsent) {
  json object = Minimal();
  object["spec"]["ttlSeconds"] = nullptr;
  object["spec"]["valueFrom"] = nullptr;
  absl::StatusOr<ServiceRegistration> r = ParseJson(object);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->spec.ttl_seconds, 10);
  EXPECT_FALSE(r->spec.value_from.has_value());
}

TEST(ToJson, RoundTripsThroughParseJson) {
  json object = Minimal();
  object["metadata"]["namespace"] = "ns";
  object["metadata"]["labels"] = {{"a", "b"}};
  object["metadata"]["finalizers"] = {"registrar.dev/revoke"};
  object["spec"]["id"] = 42;
  object["spec"]["etcd"] = {{"endpoints", {"e:1"}}, {"tlsSecretRef", {{"name", "t"}}}};
  absl::StatusOr<ServiceRegistration> r = ParseJson(object);
  ASSERT_THAT(r, IsOk());
  r->status.phase = "Registered";
  r->status.lease_id = "7587869541230001234";
  r->status.granted_ttl = 10;
  r->status.conditions.push_back(
      {"Ready", "True", "Registered", "live", 1, "2026-01-02T15:04:05Z"});
  json out = ToJson(*r);
  EXPECT_EQ(out["spec"]["id"], 42);
  EXPECT_TRUE(out["spec"]["id"].is_number_integer());
  EXPECT_TRUE(out["spec"]["ttlSeconds"].is_number_integer());
  EXPECT_EQ(out["status"]["leaseID"], "7587869541230001234");
  EXPECT_TRUE(out["status"]["grantedTTL"].is_number_integer());
  absl::StatusOr<ServiceRegistration> back = ParseJson(out);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, *r);
}

TEST(ToJson, RoundTripsValueFrom) {
  ServiceRegistration r;
  r.metadata.name = "n";
  r.spec.key = "k";
  r.spec.value_from = ValueFrom{ServiceRef{"svc", "grpc"}};
  absl::StatusOr<ServiceRegistration> back = ParseJson(ToJson(r));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, r);
}

TEST(StatusToJson, OmitsEmptyFields) {
  Status status;
  status.phase = "Paused";
  EXPECT_EQ(StatusToJson(status), json({{"phase", "Paused"}}));
  EXPECT_FALSE(ToJson(ServiceRegistration{}).contains("status"));
}

TEST(ParseYaml, ErrorsCarryLineNumbers) {
  YamlDocument doc = Document(
      "apiVersion: registrar.dev/v1alpha1\n"  // 1
      "kind: ServiceRegistration\n"           // 2
      "metadata:\n"                           // 3
      "  name: x\n"                           // 4
      "spec:\n"                               // 5
      "  key: user.rpc\n"                     // 6
      "  value: 10.0.0.1:80\n"                // 7
      "  ttlSeconds: \"10\"\n"                // 8
      "  etcd:\n"                             // 9
      "    endpoints:\n"                      // 10
      "      - a:1\n"                         // 11
      "      - [b]\n"                         // 12
      "  bogus: 1\n");                        // 13
  std::vector<FieldError> errors;
  absl::StatusOr<ServiceRegistration> r = ParseYaml(doc, &errors);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(errors,
              ::testing::UnorderedElementsAre(
                  FieldError{"spec.bogus", "unknown field", 13},
                  FieldError{"spec.ttlSeconds", "must be of type integer, got string", 8},
                  FieldError{"spec.etcd.endpoints[1]", "must be of type string, got array", 12}));
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("spec.ttlSeconds (line 8): must be of type integer, got string"));
}

TEST(ParseYaml, ResolvesScalarsLikeJson) {
  std::vector<FieldError> errors;
  absl::StatusOr<ServiceRegistration> r = ParseYaml(
      Document(
          "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata: {name: x}\n"
          "spec: {key: '123', value: 0x1F, ttlSeconds: 0o17, paused: True}\n"),
      &errors);
  EXPECT_THAT(Paths(errors), ElementsAre("spec.value"));  // 0x1F is an integer, not a string

  r = ParseYaml(Document(
      "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata: {name: x}\n"
      "spec: {key: '123', value: '0x1F', ttlSeconds: 0o17, paused: True}\n"));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->spec.key, "123");
  EXPECT_EQ(r->spec.value, "0x1F");
  EXPECT_EQ(r->spec.ttl_seconds, 15);
  EXPECT_TRUE(r->spec.paused);
}

// YAML 1.1's booleans are strings: `paused: yes` is a type error, as in any YAML 1.2 reader.
TEST(ParseYaml, YesIsAStringNotABoolean) {
  std::vector<FieldError> errors;
  absl::StatusOr<ServiceRegistration> r = ParseYaml(
      Document(
          "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata: {name: x}\n"
          "spec:\n  key: k\n  value: v\n  paused: yes\n"),
      &errors);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(errors,
              ElementsAre(FieldError{"spec.paused", "must be of type boolean, got string", 7}));
}

TEST(ParseYaml, ValidationErrorsGetLinesFromTheDocument) {
  YamlDocument doc = Document(
      "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata:\n  name: x\n"
      "spec:\n  key: user.rpc\n  value: v\n  ttlSeconds: 3\n");
  ASSERT_THAT(ParseYaml(doc), IsOk());
  std::vector<FieldError> errors = {{"spec.ttlSeconds", "must be between 5 and 3600"},
                                    {"spec.id", "must be at least 1"},
                                    {"metadata.namespace", "bad"}};
  AttachLines(doc.lines, errors);
  EXPECT_EQ(errors[0].line, 8);
  EXPECT_EQ(errors[1].line, 5);  // absent: its parent `spec:`
  EXPECT_EQ(errors[2].line, 3);
}

}  // namespace
}  // namespace registrar::registration
