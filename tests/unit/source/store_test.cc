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

}  // namespace
}  // namespace registrar::source
