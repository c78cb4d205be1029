#include "controller/registration/field_errors.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::registration {
namespace {

using ::testing::IsEmpty;

struct FormatCase {
  std::vector<FieldError> errors;
  std::string want;
};

TEST(FormatErrors, RendersPathLineAndMessage) {
  const FormatCase cases[] = {
      {{}, ""},
      {{{"spec.key", "must not be empty"}}, "spec.key: must not be empty"},
      {{{"spec.ttlSeconds", "must be between 5 and 3600", 9}},
       "spec.ttlSeconds (line 9): must be between 5 and 3600"},
      {{{"", "must be a JSON object"}}, "must be a JSON object"},
      {{{"", "not a mapping", 4}}, "(line 4): not a mapping"},
      {{{"spec.key", "must not be empty"},
        {"spec.ttlSeconds", "must be between 5 and 3600", 9},
        {"", "must be a JSON object"}},
       "spec.key: must not be empty; spec.ttlSeconds (line 9): must be between 5 and 3600; "
       "must be a JSON object"},
  };
  for (const FormatCase& c : cases) {
    EXPECT_EQ(FormatErrors(c.errors), c.want);
  }
  EXPECT_THAT(FormatErrors({}), IsEmpty());
}

struct LineCase {
  std::string path;
  int want;
};

TEST(AttachLines, UsesTheNearestWrittenAncestor) {
  const LineMap lines = {{"", 1},
                         {"spec", 5},
                         {"spec.key", 6},
                         {"spec.etcd", 8},
                         {"spec.etcd.endpoints", 9},
                         {"spec.etcd.endpoints[0]", 10},
                         {"metadata", 2},
                         {"metadata.name", 0}};  // 0: unknown, as for a node without a mark
  const LineCase cases[] = {
      {"spec.key", 6},                     // written
      {"spec.id", 5},                      // absent: its parent
      {"spec.etcd.endpoints[0]", 10},      // a list item
      {"spec.etcd.endpoints[3]", 9},       // a missing item: the list
      {"spec.etcd.tlsSecretRef.name", 8},  // two levels up
      {"metadata.name", 2},                // line 0 counts as unknown
      {"status.phase", 1},                 // nothing written: the document
      {"", 1},                             // the object itself
  };
  for (const LineCase& c : cases) {
    std::vector<FieldError> errors = {{c.path, "m"}};
    AttachLines(lines, errors);
    EXPECT_EQ(errors[0].line, c.want) << c.path;
  }
}

TEST(AttachLines, LeavesLineZeroWithoutAnyLines) {
  std::vector<FieldError> errors = {{"spec.key", "m"}, {"", "n"}};
  AttachLines({}, errors);
  EXPECT_EQ(errors[0].line, 0);
  EXPECT_EQ(errors[1].line, 0);
}

}  // namespace
}  // namespace registrar::registration
