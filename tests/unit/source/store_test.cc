#include "controller/source/store.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::source {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

ObjectPtr Object(const std::string& ns, const std::string& name) {
  auto object = std::make_shared<registration::ServiceRegistration>();
  object->metadata.namespace_ = ns;
  object->metadata.name = name;
  return object;
}

TEST(Store, ReplaceReportsAddedChangedAndRemovedIdentities) {
  Store store;
  ObjectPtr a = Object("default", "a");
  ObjectPtr b = Object("default", "b");
  EXPECT_THAT(store.Replace({{"default/a", a}, {"default/b", b}}),
              ElementsAre("default/a", "default/b"));
  EXPECT_THAT(store.Replace({{"default/a", a}, {"default/b", b}}), IsEmpty());

  ObjectPtr b2 = Object("default", "b");
  ObjectPtr c = Object("default", "c");
  EXPECT_THAT(store.Replace({{"default/b", b2}, {"default/c", c}}),
              ElementsAre("default/a", "default/b", "default/c"));
  EXPECT_EQ(store.Get("default/a"), nullptr);
  EXPECT_EQ(store.Get("default/b"), b2);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_THAT(store.List(), ElementsAre(b2, c));
}

TEST(Store, SetChangesOneIdentityAndSaysWhetherAnythingChanged) {
  Store store;
  ObjectPtr a = Object("default", "a");
  ObjectPtr b = Object("default", "b");
  ASSERT_THAT(store.Replace({{"default/a", a}}), ElementsAre("default/a"));
  EXPECT_TRUE(store.Set("default/b", b));
  EXPECT_FALSE(store.Set("default/b", b)) << "the same pointer is no change";
  ObjectPtr a2 = Object("default", "a");
  EXPECT_TRUE(store.Set("default/a", a2));
  EXPECT_TRUE(store.Set("default/b", nullptr));
  EXPECT_FALSE(store.Set("default/b", nullptr)) << "removing what is absent is no change";
  EXPECT_THAT(store.List(), ElementsAre(a2));
}

}  // namespace
}  // namespace registrar::source
