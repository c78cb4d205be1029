#include "controller/source/manifest_file.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"
#include "tests/unit/source/test_files.h"

namespace registrar::source {
namespace {

using ::registrar::source::testing::Manifest;
using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;


absl::StatusOr<std::vector<ManifestDocument>> Parse(const std::string& text) {
  return ParseManifestFile("test.yaml", text);
}

std::string Message(const absl::StatusOr<std::vector<ManifestDocument>>& parsed) {
  return std::string(parsed.status().message());
}

TEST(ParseManifestFile, MultiDocumentSkipsOtherKindsAndDefaultsTheNamespace) {
  std::string text = Manifest("a", "10.0.0.1:80") +
                     "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {x: y}\n"
                     "---\n" +
                     Manifest("b", "10.0.0.2:80", "order.rpc", "shop") + "---\n";
  auto parsed = Parse(text);
  ASSERT_THAT(parsed, IsOk());
  ASSERT_THAT(*parsed, SizeIs(2));
  const auto& a = (*parsed)[0];
  EXPECT_EQ(a.object.Identity(), "default/a");
  EXPECT_EQ(a.object.metadata.uid, "manifest:default/a");
  EXPECT_EQ(a.object.spec.key, "user.rpc");
  EXPECT_EQ(a.object.spec.value, "10.0.0.1:80");
  EXPECT_EQ(a.object.spec.ttl_seconds, 10);
  EXPECT_EQ(a.index, 1);
  EXPECT_EQ(a.line, 1);
  const auto& b = (*parsed)[1];
  EXPECT_EQ(b.object.Identity(), "shop/b");
  EXPECT_EQ(b.object.metadata.uid, "manifest:shop/b");
  EXPECT_EQ(b.index, 3);
  EXPECT_GT(b.line, 10);
}

TEST(ParseManifestFile, AcceptsJsonWithTabs) {
  auto parsed = Parse(
      "{\n\t\"apiVersion\": \"registrar.dev/v1alpha1\",\n\t\"kind\": \"ServiceRegistration\",\n"
      "\t\"metadata\": {\"name\": \"j\"},\n\t\"spec\": {\"key\": \"k\", \"value\": \"v:1\", "
      "\"id\": 7}\n}\n");
  ASSERT_THAT(parsed, IsOk());
  ASSERT_THAT(*parsed, SizeIs(1));
  EXPECT_EQ((*parsed)[0].object.Identity(), "default/j");
  EXPECT_EQ((*parsed)[0].object.spec.id, 7);
}

TEST(ParseManifestFile, SyntaxErrorNamesTheLine) {
  auto parsed = Parse(Manifest("a", "v:1") + "  bad: [unclosed\n");
  EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Message(parsed), HasSubstr("line "));
}

TEST(ParseManifestFile, WrongTypeNamesFieldAndLine) {
  auto parsed = Parse(Manifest("a", "v:1") + "  ttlSeconds: ten\n");
  EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Message(parsed), HasSubstr("document 1 (line 1)"));
  EXPECT_THAT(Message(parsed), HasSubstr("spec.ttlSeconds (line 8)"));
}

TEST(ParseManifestFile, MissingKeyIsAnError) {
  auto parsed = Parse(
      "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata: {name: a}\n"
      "spec:\n  value: v:1\n");
  EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Message(parsed), HasSubstr("spec.key"));
}

TEST(ParseManifestFile, OneBadDocumentFailsTheWholeFile) {
  auto parsed = Parse(Manifest("a", "v:1") + "---\n" + Manifest("b", "v:2", "bad key"));
  EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Message(parsed), HasSubstr("document 2"));
  EXPECT_THAT(Message(parsed), HasSubstr("spec.key"));
}

// A key under the owner prefix is refused for its registration alone (by the reconciler), not
// for the file: before, the other, valid document of the file was rejected with it.
TEST(ParseManifestFile, KeyUnderTheOwnerPrefixDoesNotFailTheOtherDocuments) {
  auto parsed =
      Parse(Manifest("a", "v:1") + "---\n" + Manifest("b", "v:2", "/etcd-registrar/owners/x"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(*parsed, SizeIs(2));
}

TEST(ParseManifestFile, MissingKindIsAnError) {
  auto parsed = Parse("metadata: {name: a}\nspec: {key: k, value: v}\n");
  EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Message(parsed), HasSubstr("apiVersion and kind are required"));
}

TEST(ParseManifestFile, ScalarDocumentIsNotAMapping) {
  auto parsed = Parse("just some words\n");
  EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Message(parsed), HasSubstr("not a mapping"));
}

TEST(ParseManifestFile, BinaryContentIsRejected) {
  auto nul =
      Parse(std::string("\x7f"
                        "ELF\x02\x01\x00\x00garbage",
                        14));
  EXPECT_THAT(Message(nul), HasSubstr("binary content (NUL byte at offset 6)"));
  auto latin1 = Parse("name: caf\xe9\n");
  EXPECT_THAT(Message(latin1), HasSubstr("not UTF-8 text (invalid byte at offset 9)"));
}

TEST(ParseManifestFile, EtcdAndValueFromAreRejectedWithTheReason) {
  auto etcd = Parse(Manifest("a", "v:1") + "  etcd: {endpoints: [\"e:2379\"]}\n");
  EXPECT_THAT(Message(etcd), HasSubstr("spec.etcd"));
  EXPECT_THAT(Message(etcd), HasSubstr("not supported with --manifests"));
  auto value_from = Parse(
      "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata: {name: a}\n"
      "spec:\n  key: k\n  valueFrom: {serviceRef: {name: s, port: 80}}\n");
  EXPECT_THAT(Message(value_from), HasSubstr("spec.valueFrom"));
  EXPECT_THAT(Message(value_from), HasSubstr("needs a cluster"));
}

TEST(ParseManifestFile, CommentsOnlyFileHasNoDocuments) {
  auto parsed = Parse("# nothing here yet\n---\n");
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(*parsed, SizeIs(0));
}

}  // namespace
}  // namespace registrar::source
