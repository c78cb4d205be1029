// Unit tests of the kube-test-server's pure pieces: selectors, patches, JSONPath, ages, object
// rules. No processes, no sleeping.
#include "gtest/gtest.h"
#include "tests/kube-test-server/object_rules.h"
#include "tests/kube-test-server/patch.h"
#include "tests/kube-test-server/selectors.h"
#include "tests/kube-test-server/table.h"

namespace registrar::kts {
namespace {

using json = nlohmann::json;

json WithLabels(json labels) { return {{"metadata", {{"name", "n"}, {"labels", labels}}}}; }

TEST(LabelSelector, SetBasedAndEqualityTerms) {
  auto sel = LabelSelector::Parse("app in (a, b),tier!=db,!legacy,env");
  ASSERT_TRUE(sel.ok()) << sel.status();
  EXPECT_TRUE(sel->Matches(WithLabels({{"app", "a"}, {"tier", "web"}, {"env", "x"}})));
  EXPECT_FALSE(sel->Matches(WithLabels({{"app", "c"}, {"env", "x"}})));
  EXPECT_FALSE(sel->Matches(WithLabels({{"app", "a"}, {"env", "x"}, {"legacy", "1"}})));
  EXPECT_FALSE(sel->Matches(WithLabels({{"app", "a"}, {"tier", "db"}, {"env", "x"}})));
  EXPECT_FALSE(sel->Matches(WithLabels({{"app", "a"}})));
  EXPECT_FALSE(LabelSelector::Parse("app in (a").ok());
  EXPECT_FALSE(LabelSelector::Parse("app with (a)").ok());
  EXPECT_TRUE(LabelSelector::Parse("")->empty());
}

TEST(FieldSelector, KindSpecificFields) {
  json ev = {{"metadata", {{"name", "e"}, {"namespace", "d"}}},
             {"involvedObject", {{"name", "x"}, {"kind", "K"}}},
             {"source", {{"component", "c"}}},
             {"type", "Normal"}};
  auto sel = FieldSelector::Parse("involvedObject.name=x,type!=Warning,source=c", "Event");
  ASSERT_TRUE(sel.ok()) << sel.status();
  EXPECT_TRUE(sel->Matches(ev));
  EXPECT_EQ(sel->RequiredValue("involvedObject.name"), "x");
  auto not_supported = FieldSelector::Parse("involvedObject.name=x", "Secret");
  EXPECT_EQ(not_supported.status().message(), "field label not supported: involvedObject.name");
  EXPECT_FALSE(FieldSelector::Parse("metadata.name", "Secret").ok());
}

TEST(Patch, ContentTypesAndJsonPatchTest) {
  EXPECT_EQ(PatchTypeFromContentType("application/merge-patch+json; charset=utf-8"), PatchType::kMerge);
  EXPECT_EQ(PatchTypeFromContentType("application/apply-patch+yaml"), PatchType::kApply);
  EXPECT_EQ(PatchTypeFromContentType("application/json"), PatchType::kUnsupported);
  json obj = {{"a", {1, 2}}, {"b", "x"}};
  auto merged = ApplyPatch(PatchType::kMerge, obj, R"({"b":null,"c":3})");
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(*merged, json({{"a", {1, 2}}, {"c", 3}}));
  auto failed = ApplyPatch(PatchType::kJson, obj, R"([{"op":"test","path":"/b","value":"y"}])");
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ApplyPatch(PatchType::kJson, obj, R"({"op":"add"})").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyPatch(PatchType::kMerge, obj, "{").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Table, JsonPathFormsUsedByPrinterColumns) {
  json obj = {{"status", {{"conditions", {{{"type", "Other"}, {"status", "False"}},
                                          {{"type", "Ready"}, {"status", "True"}}}}}},
              {"spec", {{"key", "/k"}}}};
  EXPECT_EQ(EvalJsonPath(obj, ".spec.key"), "/k");
  EXPECT_EQ(EvalJsonPath(obj, "{.spec.key}"), "/k");
  EXPECT_EQ(EvalJsonPath(obj, ".status.conditions[1].type"), "Ready");
  EXPECT_EQ(EvalJsonPath(obj, R"(.status.conditions[?(@.type=="Ready")].status)"), "True");
  EXPECT_TRUE(EvalJsonPath(obj, ".status.phase").is_null());
  EXPECT_TRUE(EvalJsonPath(obj, ".status.conditions[5]").is_null());
  EXPECT_EQ(HumanAge("not a time"), "<unknown>");
  EXPECT_TRUE(WantsTable("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
  EXPECT_FALSE(WantsTable("application/json"));
}

TEST(ObjectRules, GenerationAndStatusRules) {
  ResourceType t;
  t.group = "g";
  t.version = "v1";
  t.kind = "K";
  t.plural = "ks";
  t.status_subresource = true;
  t.has_generation = true;
  t.custom = true;
  json old = {{"apiVersion", "g/v1"}, {"kind", "K"},
              {"metadata", {{"name", "a"}, {"uid", "u"}, {"generation", 3}, {"creationTimestamp", "t"}}},
              {"spec", {{"x", 1}}}, {"status", {{"phase", "P"}}}};
  json incoming = old;
  incoming["metadata"]["labels"] = {{"l", "1"}};
  incoming["metadata"]["uid"] = "changed";
  incoming["status"] = {{"phase", "Q"}};
  json updated = ApplyMainUpdate(t, old, incoming);
  EXPECT_EQ(updated["metadata"]["generation"], 3);
  EXPECT_EQ(updated["metadata"]["uid"], "u");
  EXPECT_EQ(updated["status"]["phase"], "P");
  incoming["spec"]["x"] = 2;
  EXPECT_EQ(ApplyMainUpdate(t, old, incoming)["metadata"]["generation"], 4);
  json status = ApplyStatusUpdate(old, incoming);
  EXPECT_EQ(status["spec"]["x"], 1);
  EXPECT_EQ(status["status"]["phase"], "Q");
  EXPECT_FALSE(status["metadata"].contains("labels"));
  json terminating = old;
  terminating["metadata"]["deletionTimestamp"] = "t";
  terminating["metadata"]["finalizers"] = {"a"};
  json more = terminating;
  more["metadata"]["finalizers"] = {"a", "b"};
  EXPECT_TRUE(CheckFinalizers(t, terminating, more).has_value());
  json fewer = terminating;
  fewer["metadata"]["finalizers"] = json::array();
  EXPECT_FALSE(CheckFinalizers(t, terminating, fewer).has_value());
  json create = {{"apiVersion", "g/v1"}, {"kind", "K"}, {"metadata", {{"generateName", "web-"}}},
                 {"status", {{"phase", "X"}}}};
  ASSERT_FALSE(PrepareCreate(t, create).has_value());
  EXPECT_EQ(create["metadata"]["name"].get<std::string>().size(), 9u);
  EXPECT_FALSE(create.contains("status"));
  EXPECT_EQ(create["metadata"]["generation"], 1);
}

}  // namespace
}  // namespace registrar::kts
