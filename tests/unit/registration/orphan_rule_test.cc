#include "controller/registration/orphan_rule.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::registration {
namespace {

using ::testing::UnorderedElementsAre;

struct Case {
  const char* name;
  bool scoped;
  std::vector<std::string> listed;
  std::vector<UnclaimedRecord> unclaimed;
  std::map<std::string, Lookup> lookups;  // id -> what the GET says
  std::vector<std::string> want_known;
  int want_lookups;
};

TEST(OrphanRuleTest, Table) {
  const std::vector<Case> cases = {
      {"unscoped: the list is the truth, no GET", false, {"a/x"},
       {{"a/x", "u1"}, {"a/y", "u2"}}, {}, {"a/x"}, 0},
      {"scoped: listed ids are not looked up", true, {"a/x"}, {{"a/x", "u1"}}, {}, {"a/x"}, 0},
      {"scoped: unlisted but same UID is kept", true, {}, {{"b/y", "u2"}},
       {{"b/y", Lookup::kSameUid}}, {"b/y"}, 1},
      {"scoped: 404 is an orphan", true, {"a/x"}, {{"b/y", "u2"}},
       {{"b/y", Lookup::kNotFound}}, {"a/x"}, 1},
      {"scoped: another UID is an orphan", true, {}, {{"b/y", "u2"}},
       {{"b/y", Lookup::kOtherUid}}, {}, 1},
      {"scoped: a failed GET keeps the record", true, {}, {{"b/y", "u2"}},
       {{"b/y", Lookup::kFailed}}, {"b/y"}, 1},
      {"scoped: mixed", true, {"a/x"},
       {{"a/x", "u1"}, {"b/y", "u2"}, {"b/z", "u3"}, {"c/w", "u4"}},
       {{"b/y", Lookup::kNotFound}, {"b/z", Lookup::kSameUid}, {"c/w", Lookup::kFailed}},
       {"a/x", "b/z", "c/w"}, 3},
  };
  for (const Case& c : cases) {
    int lookups = 0;
    std::vector<std::string> known =
        KnownIds(c.listed, c.unclaimed, c.scoped, [&](const UnclaimedRecord& r) {
          ++lookups;
          return c.lookups.at(r.id);
        });
    std::sort(known.begin(), known.end());
    std::vector<std::string> want = c.want_known;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(known, want) << c.name;
    EXPECT_EQ(lookups, c.want_lookups) << c.name;
  }
}

}  // namespace
}  // namespace registrar::registration
