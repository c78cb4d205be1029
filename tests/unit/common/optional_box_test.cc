#include "controller/common/optional_box.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace registrar {
namespace {

struct Big {
  std::string name;
  std::vector<std::string> endpoints = {};
  bool operator==(const Big&) const = default;
};

TEST(OptionalBox, EmptyIsOnePointer) {
  static_assert(sizeof(OptionalBox<Big>) == sizeof(void*));
  OptionalBox<Big> box;
  EXPECT_FALSE(box);
  EXPECT_FALSE(box.has_value());
  EXPECT_TRUE(box == std::nullopt);
  EXPECT_EQ(box.value_or(Big{.name = "fallback"}).name, "fallback");
  EXPECT_THROW(box.value(), std::bad_optional_access);
  EXPECT_EQ(box.ToOptional(), std::nullopt);
}

TEST(OptionalBox, SetLikeStdOptional) {
  OptionalBox<Big> box = Big{.name = "a", .endpoints = {"x"}};
  ASSERT_TRUE(box);
  EXPECT_EQ(box->name, "a");
  EXPECT_EQ((*box).endpoints, std::vector<std::string>{"x"});
  EXPECT_EQ(box.value().name, "a");
  box.emplace(Big{.name = "b"});
  EXPECT_EQ(box->name, "b");
  box = std::nullopt;
  EXPECT_FALSE(box);
  box = Big{.name = "c"};
  box.reset();
  EXPECT_FALSE(box);
}

TEST(OptionalBox, CopiesTheValueNotThePointer) {
  OptionalBox<Big> a = Big{.name = "a"};
  OptionalBox<Big> b = a;
  ASSERT_TRUE(b);
  EXPECT_NE(&*a, &*b);
  b->name = "changed";
  EXPECT_EQ(a->name, "a");
  a = b;
  EXPECT_EQ(a->name, "changed");
  EXPECT_NE(&*a, &*b);
  const OptionalBox<Big>& self = a;
  a = self;  // self-assignment keeps the value
  EXPECT_EQ(a->name, "changed");
  OptionalBox<Big> moved = std::move(a);
  EXPECT_EQ(moved->name, "changed");
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): a moved-from box is empty
}

TEST(OptionalBox, EqualityComparesValues) {
  struct Case {
    OptionalBox<Big> a;
    OptionalBox<Big> b;
    bool equal;
  };
  const std::vector<Case> cases = {
      {std::nullopt, std::nullopt, true},
      {Big{.name = "a"}, std::nullopt, false},
      {std::nullopt, Big{.name = "a"}, false},
      {Big{.name = "a"}, Big{.name = "a"}, true},
      {Big{.name = "a"}, Big{.name = "b"}, false},
      {Big{.name = "a", .endpoints = {"x"}}, Big{.name = "a", .endpoints = {"y"}}, false},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(cases[i].a == cases[i].b, cases[i].equal) << "case " << i;
  }
}

TEST(OptionalBox, ConvertsFromAndToStdOptional) {
  std::optional<Big> set = Big{.name = "s"};
  OptionalBox<Big> box = set;
  EXPECT_EQ(box->name, "s");
  EXPECT_EQ(box.ToOptional(), set);
  std::optional<Big> unset;
  box = unset;
  EXPECT_FALSE(box);
  box = std::optional<Big>(Big{.name = "moved"});
  EXPECT_EQ(box->name, "moved");
}

}  // namespace
}  // namespace registrar
