#include "tests/schema/openapi_validator.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::schema {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

CrdSchema Make(const char* schema_json) {
  absl::StatusOr<CrdSchema> s = CrdSchema::FromSchema(json::parse(schema_json));
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

std::vector<std::string> Fields(const std::vector<Cause>& causes) {
  std::vector<std::string> out;
  for (const Cause& c : causes) {
    out.push_back(c.field);
  }
  return out;
}

std::string SourceDir() {
  const char* dir = std::getenv("ER_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

TEST(Validate, TypesWithKubernetesMessages) {
  CrdSchema s = Make(R"({"type": "object", "properties": {
      "o": {"type": "object"}, "a": {"type": "array"}, "s": {"type": "string"},
      "i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"}}})");
  EXPECT_THAT(
      s.Validate(json::parse(R"({"o": {}, "a": [], "s": "", "i": 3.0, "n": 1.5, "b": false})")),
      IsEmpty());
  std::vector<Cause> causes =
      s.Validate(json::parse(R"({"o": [], "a": {}, "s": 1, "i": 1.5, "n": "1", "b": "true"})"));
  EXPECT_THAT(Fields(causes), ElementsAre("a", "b", "i", "n", "o", "s"));
  EXPECT_EQ(causes[2],
            (Cause{"i", "FieldValueTypeInvalid",
                   "Invalid value: 1.5: i in body must be of type integer: \"number\""}));
  EXPECT_EQ(causes[5].message, "Invalid value: 1: s in body must be of type string: \"integer\"");
  EXPECT_THAT(
      s.Validate(json::array()),
      ElementsAre(Cause{"", "FieldValueTypeInvalid",
                        "Invalid value: []: <root> in body must be of type object: \"array\""}));
}

TEST(Validate, NullableAndNull) {
  CrdSchema s = Make(R"({"type": "object", "properties": {
      "a": {"type": "string", "nullable": true}, "b": {"type": "string"}}})");
  EXPECT_THAT(s.Validate(json::parse(R"({"a": null})")), IsEmpty());
  std::vector<Cause> causes = s.Validate(json::parse(R"({"b": null})"));
  EXPECT_THAT(causes, ElementsAre(Cause{"b", "FieldValueTypeInvalid",
                                        "Invalid value: null: b in body must be of type string: "
                                        "\"null\""}));
}

TEST(Validate, RequiredNestedAndInArrays) {
  CrdSchema s = Make(R"({"type": "object", "required": ["spec"], "properties": {
      "spec": {"type": "object", "required": ["key"], "properties": {
        "list": {"type": "array", "items": {"type": "object", "required": ["name"]}}}}}})");
  EXPECT_THAT(s.Validate(json::object()),
              ElementsAre(Cause{"spec", "FieldValueRequired", "Required value"}));
  EXPECT_THAT(Fields(s.Validate(json::parse(R"({"spec": {"list": [{"name": 1}, {}]}})"))),
              ElementsAre("spec.key", "spec.list[1].name"));
}

TEST(Validate, NumberBounds) {
  CrdSchema s = Make(R"({"type": "object", "properties": {
      "t": {"type": "integer", "minimum": 5, "maximum": 3600},
      "x": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1,
            "exclusiveMaximum": true},
      "m": {"type": "integer", "multipleOf": 5}}})");
  EXPECT_THAT(s.Validate(json::parse(R"({"t": 5, "x": 0.5, "m": 10})")), IsEmpty());
  EXPECT_THAT(
      s.Validate(json::parse(R"({"t": 3})")),
      ElementsAre(Cause{"t", "FieldValueInvalid",
                        "Invalid value: 3: t in body should be greater than or equal to 5"}));
  EXPECT_THAT(s.Validate(json::parse(R"({"t": 3601})"))[0].message,
              "Invalid value: 3601: t in body should be less than or equal to 3600");
  EXPECT_THAT(s.Validate(json::parse(R"({"x": 0})"))[0].message,
              HasSubstr("should be greater than 0"));
  EXPECT_THAT(s.Validate(json::parse(R"({"x": 1})"))[0].message,
              HasSubstr("should be less than 1"));
  EXPECT_THAT(s.Validate(json::parse(R"({"m": 7})"))[0].message,
              HasSubstr("should be a multiple of 5"));
}

TEST(Validate, StringLengthsCountCodePoints) {
  CrdSchema s = Make(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  EXPECT_THAT(s.Validate("été"), IsEmpty());  // 3 code points, 5 bytes
  EXPECT_THAT(
      s.Validate("a"),
      ElementsAre(Cause{"", "FieldValueInvalid",
                        "Invalid value: \"a\": <root> in body should be at least 2 chars long"}));
  EXPECT_THAT(s.Validate("abcd"), ElementsAre(Cause{"", "FieldValueTooLong",
                                                    "Too long: may not be more than 3 bytes"}));
}

TEST(Validate, PatternIsAnUnanchoredSearch) {
  CrdSchema s = Make(R"({"type": "object", "properties": {
      "a": {"type": "string", "pattern": "b+"}, "k": {"type": "string", "pattern": "^[^\\x00-\\x20\\x7F]*[^\\x00-\\x20\\x7F/]$"}}})");
  EXPECT_THAT(s.Validate(json::parse(R"({"a": "abba", "k": "user.rpc"})")), IsEmpty());
  EXPECT_THAT(s.Validate(json::parse(R"({"a": "ac"})")),
              ElementsAre(Cause{"a", "FieldValueInvalid",
                                "Invalid value: \"ac\": a in body should match 'b+'"}));
  for (const char* bad : {"user rpc", "user.rpc/", "a\tb", "", "a\u007fb"}) {
    EXPECT_THAT(Fields(s.Validate(json{{"k", bad}})), ElementsAre("k")) << bad;
  }
  EXPECT_THAT(s.Validate(json{{"k", "été/ü"}}), IsEmpty());
}

TEST(Validate, LongStringsAreMatchedInLinearTime) {
  CrdSchema s = Make(R"({"type": "string", "pattern": "^[^\\x00-\\x1F]*$"})");
  EXPECT_THAT(s.Validate(std::string(4096, 'v')), IsEmpty());
  EXPECT_THAT(s.Validate(std::string(10 * 1024 * 1024, 'v')), IsEmpty());
  EXPECT_EQ(s.Validate(std::string(10 * 1024 * 1024, 'v') + "\n").size(), 1u);
}

TEST(Validate, EnumIsNotSupported) {
  CrdSchema s = Make(R"({"type": "string", "enum": ["True", "False", "Unknown"]})");
  EXPECT_THAT(s.Validate("True"), IsEmpty());
  EXPECT_THAT(s.Validate("true"),
              ElementsAre(Cause{"", "FieldValueNotSupported",
                                "Unsupported value: \"true\": supported values: \"True\", "
                                "\"False\", \"Unknown\""}));
}

TEST(Validate, ArrayBoundsUniqueAndItems) {
  CrdSchema s = Make(R"({"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": true,
                         "items": {"type": "string"}})");
  EXPECT_THAT(s.Validate(json{"a", "b"}), IsEmpty());
  EXPECT_THAT(s.Validate(json::array())[0].message,
              HasSubstr("<root> in body should have at least 1 items"));
  EXPECT_THAT(
      s.Validate(json{"a", "b", "c"}),
      ElementsAre(Cause{"", "FieldValueTooMany", "Too many: 3: must have at most 2 items"}));
  EXPECT_THAT(Fields(s.Validate(json{"a", "a"})), ElementsAre("[1]"));
  EXPECT_THAT(Fields(s.Validate(json{"a", 1})), ElementsAre("[1]"));
}

TEST(Validate, AdditionalPropertiesAndPropertyCounts) {
  CrdSchema s = Make(R"({"type": "object", "maxProperties": 2,
                         "additionalProperties": {"type": "string"}})");
  EXPECT_THAT(s.Validate(json{{"a", "x"}}), IsEmpty());
  EXPECT_THAT(Fields(s.Validate(json{{"a", 1}})), ElementsAre("a"));
  EXPECT_THAT(s.Validate(json{{"a", "1"}, {"b", "2"}, {"c", "3"}})[0].reason, "FieldValueTooMany");
}

TEST(Validate, OneOfOfRequired) {
  CrdSchema s = Make(R"({"type": "object", "properties": {"value": {"type": "string"},
      "valueFrom": {"type": "object"}}, "oneOf": [{"required": ["value"]},
      {"required": ["valueFrom"]}]})");
  EXPECT_THAT(s.Validate(json{{"value", "v"}}), IsEmpty());
  EXPECT_THAT(s.Validate(json{{"valueFrom", json::object()}}), IsEmpty());
  std::vector<Cause> none = s.Validate(json::object());
  EXPECT_THAT(Fields(none), ElementsAre("", "value"));
  EXPECT_THAT(none[0].message,
              HasSubstr("must validate one and only one schema (oneOf). Found none valid"));
  std::vector<Cause> both = s.Validate(json{{"value", "v"}, {"valueFrom", json::object()}});
  EXPECT_THAT(Fields(both), ElementsAre(""));
  EXPECT_THAT(both[0].message, HasSubstr("Found 2 valid alternatives"));
}

TEST(Validate, AnyOfAllOfNot) {
  CrdSchema any = Make(R"({"anyOf": [{"type": "integer"}, {"type": "string", "minLength": 2}]})");
  EXPECT_THAT(any.Validate(3), IsEmpty());
  EXPECT_THAT(any.Validate("ab"), IsEmpty());
  std::vector<Cause> causes = any.Validate("a");
  ASSERT_FALSE(causes.empty());
  EXPECT_THAT(causes[0].message, HasSubstr("must validate at least one schema (anyOf)"));

  CrdSchema all = Make(R"({"type": "string", "allOf": [{"minLength": 2}, {"pattern": "^a"}]})");
  EXPECT_THAT(all.Validate("ab"), IsEmpty());
  EXPECT_EQ(all.Validate("b").size(), 2u);

  CrdSchema n = Make(R"({"type": "object", "not": {"required": ["valueFrom", "id"]}})");
  EXPECT_THAT(n.Validate(json{{"id", 1}}), IsEmpty());
  EXPECT_THAT(n.Validate(json{{"valueFrom", 1}}), IsEmpty());
  causes = n.Validate(json{{"id", 1}, {"valueFrom", 1}});
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_THAT(causes[0].message, HasSubstr("must not validate the schema (not)"));
}

TEST(Validate, IntOrString) {
  CrdSchema s = Make(R"({"x-kubernetes-int-or-string": true, "minimum": 1, "maximum": 65535,
                         "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$"})");
  EXPECT_THAT(s.Validate(8080), IsEmpty());
  EXPECT_THAT(s.Validate("grpc"), IsEmpty());
  EXPECT_EQ(s.Validate(70000).size(), 1u);
  EXPECT_EQ(s.Validate("8080").size(), 1u);
  EXPECT_EQ(s.Validate(true)[0].reason, "FieldValueTypeInvalid");
}

TEST(UnknownFields, ListsAndPrunesUndeclaredFields) {
  CrdSchema s = Make(R"({"type": "object", "properties": {
      "apiVersion": {"type": "string"}, "metadata": {"type": "object", "properties": {"name": {}}},
      "spec": {"type": "object", "properties": {
        "list": {"type": "array", "items": {"type": "object", "properties": {"a": {}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "empty": {"type": "object"}}}}})");
  json object = json::parse(R"({"apiVersion": "v", "kind": "K",
      "metadata": {"name": "n", "namespace": "ns", "labels": {"x": "y"}},
      "spec": {"list": [{"a": 1, "b": 2}], "labels": {"any": "thing"}, "free": {"z": {"q": 1}},
               "empty": {"gone": 1}, "typo": 3},
      "extra": {}})");
  EXPECT_THAT(s.UnknownFields(object),
              ElementsAre("extra", "spec.empty.gone", "spec.list[0].b", "spec.typo"));
  s.Prune(object);
  EXPECT_EQ(object, json::parse(R"({"apiVersion": "v", "kind": "K",
      "metadata": {"name": "n", "namespace": "ns", "labels": {"x": "y"}},
      "spec": {"list": [{"a": 1}], "labels": {"any": "thing"}, "free": {"z": {"q": 1}},
               "empty": {}}})"));
  EXPECT_THAT(s.UnknownFields(object), IsEmpty());
}

TEST(ApplyDefaults, FillsAbsentAndNonNullableNullFields) {
  CrdSchema s = Make(R"({"type": "object", "properties": {
      "spec": {"type": "object", "properties": {
        "ttlSeconds": {"type": "integer", "default": 10},
        "paused": {"type": "boolean", "default": false},
        "opt": {"type": "string", "nullable": true, "default": "d"},
        "gone": {"type": "string"},
        "nested": {"type": "object", "default": {}, "properties": {
          "inner": {"type": "integer", "default": 7}}},
        "items": {"type": "array", "items": {"type": "object", "properties": {
          "port": {"type": "integer", "default": 80}}}}}},
      "status": {"type": "object", "properties": {"x": {"type": "integer", "default": 1}}}}})");
  json object = json::parse(R"({"spec": {"paused": null, "opt": null, "gone": null,
                                         "items": [{}, {"port": 81}]}})");
  s.ApplyDefaults(object);
  EXPECT_EQ(object, json::parse(R"({"spec": {"ttlSeconds": 10, "paused": false, "opt": null,
      "nested": {"inner": 7}, "items": [{"port": 80}, {"port": 81}]}})"));
}

TEST(CrdSchema, LoadsOurCrdWithPrinterColumns) {
  absl::StatusOr<CrdSchema> s =
      CrdSchema::FromFile(SourceDir() + "/crds/serviceregistrations.yaml", "v1alpha1");
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<std::string> names, paths;
  for (const PrinterColumn& c : s->printer_columns()) {
    names.push_back(c.name);
    paths.push_back(c.json_path);
  }
  EXPECT_THAT(names, ElementsAre("Key", "Value", "Paused", "Phase", "Full Key", "Age"));
  EXPECT_THAT(paths, ElementsAre(".spec.key", ".spec.value", ".spec.paused", ".status.phase",
                                 ".status.fullKey", ".metadata.creationTimestamp"));
  EXPECT_EQ(s->printer_columns().back().type, "date");
  EXPECT_TRUE(s->openapi_schema().contains("properties"));

  json object = json::parse(R"({"apiVersion": "registrar.dev/v1alpha1",
      "kind": "ServiceRegistration", "metadata": {"name": "x"},
      "spec": {"key": "user.rpc", "value": "v", "ttlSeconds": 3}})");
  std::vector<Cause> causes = s->Validate(object);
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(
      CauseToJson(causes[0]),
      json({{"reason", "FieldValueInvalid"},
            {"message",
             "Invalid value: 3: spec.ttlSeconds in body should be greater than or equal to 5"},
            {"field", "spec.ttlSeconds"}}));
}

TEST(CrdSchema, RejectsBadCrdsAndNonPortablePatterns) {
  EXPECT_FALSE(CrdSchema::FromCrd(json::object(), "v1").ok());
  json crd = json::parse(R"j({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema":
      {"type": "string", "pattern": "^(?!x)"}}}]}})j");
  EXPECT_FALSE(CrdSchema::FromCrd(crd, "v2").ok());
  absl::StatusOr<CrdSchema> s = CrdSchema::FromCrd(crd, "v1");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("pattern ^(?!x)"));
  EXPECT_FALSE(CrdSchema::FromSchema(json::parse(R"j({"pattern": "(a\\1)"})j")).ok());
  EXPECT_FALSE(CrdSchema::FromSchema(json::parse(R"({"pattern": "[a-"})")).ok());
  EXPECT_TRUE(CrdSchema::FromSchema(json::parse(R"j({"pattern": "(?:ab)+\\(?"})j")).ok());
  EXPECT_EQ(CrdSchema::FromFile("/nonexistent/crd.yaml", "v1").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(EvaluateJsonPath, SimplePaths) {
  json object = json::parse(R"({"spec": {"key": "k", "paused": false},
      "status": {"endpoints": [{"address": "a"}, {"address": "b"}]},
      "metadata": {"labels": {"app.kubernetes.io/name": "x"}}})");
  EXPECT_EQ(EvaluateJsonPath(object, ".spec.key"), json("k"));
  EXPECT_EQ(EvaluateJsonPath(object, "{.spec.paused}"), json(false));
  EXPECT_EQ(EvaluateJsonPath(object, ".status.endpoints[1].address"), json("b"));
  EXPECT_EQ(EvaluateJsonPath(object, "$.metadata.labels['app.kubernetes.io/name']"), json("x"));
  EXPECT_EQ(EvaluateJsonPath(object, ".status.phase"), std::nullopt);
  EXPECT_EQ(EvaluateJsonPath(object, ".status.endpoints[2].address"), std::nullopt);
  EXPECT_EQ(EvaluateJsonPath(object, ".spec.key.deeper"), std::nullopt);
  EXPECT_EQ(EvaluateJsonPath(object, "spec.key"), std::nullopt);
  EXPECT_EQ(EvaluateJsonPath(object, ".status.endpoints[?(@.address==\"a\")]"), std::nullopt);
}

}  // namespace
}  // namespace registrar::schema
