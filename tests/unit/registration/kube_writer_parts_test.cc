// The pure parts of the Kubernetes writer: the status merge patch (every field named, null when
// empty, resourceVersion as precondition) and ValidUtf8 (what reaches nlohmann::json::dump).
#include <string>

#include "gtest/gtest.h"

#include "controller/registration/kube_event_recorder.h"
#include "controller/registration/kube_object_writer.h"

namespace registrar::registration {
namespace {

using json = nlohmann::json;

TEST(StatusPatch, NamesEveryFieldAndCarriesTheResourceVersion) {
  Status s;
  s.observed_generation = 3;
  s.phase = "Failed";
  Condition c;
  c.type = "Stalled";
  c.status = "True";
  c.reason = "KeyNotAllowed";
  c.message = "no";
  c.last_transition_time = "2026-01-02T03:04:05Z";
  s.conditions = {c};
  json patch = StatusPatch("42", s);
  EXPECT_EQ(patch["metadata"], json({{"resourceVersion", "42"}}));
  const json& st = patch["status"];
  EXPECT_EQ(st["phase"], "Failed");
  EXPECT_EQ(st["observedGeneration"], 3);
  for (const char* cleared : {"fullKey", "leaseID", "grantedTTL", "value", "endpoints"}) {
    ASSERT_TRUE(st.contains(cleared)) << cleared;
    EXPECT_TRUE(st[cleared].is_null()) << cleared;
  }
  EXPECT_EQ(st["conditions"][0]["reason"], "KeyNotAllowed");
}

TEST(ValidUtf8, KeepsValidTextAndReplacesOrCutsTheRest) {
  EXPECT_EQ(ValidUtf8("key user.rpc/42 ✓ ünïcode"), "key user.rpc/42 ✓ ünïcode");
  EXPECT_EQ(ValidUtf8("a\xff" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(ValidUtf8("ab\xE2\x9C"), "ab\xEF\xBF\xBD\xEF\xBF\xBD");  // cut sequence
  // The limit never splits a character.
  EXPECT_EQ(ValidUtf8("ab✓", 4), "ab");
  EXPECT_EQ(ValidUtf8("ab✓", 5), "ab✓");
  // Whatever comes out, dump() accepts it.
  std::string all;
  for (int b = 0; b < 256; ++b) {
    all += static_cast<char>(b);
  }
  EXPECT_NO_THROW(json(ValidUtf8(all)).dump());
}

}  // namespace
}  // namespace registrar::registration
