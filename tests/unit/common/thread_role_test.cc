#include "controller/common/thread_role.h"

#include <thread>

#include "absl/base/thread_annotations.h"
#include "gtest/gtest.h"

namespace registrar {
namespace {

// A loop-owned counter as the engine would keep one: the clang build fails if Touch() reads
// `count_` without asserting the role.
class LoopOwned {
 public:
  ThreadRole& role() { return role_; }
  int Touch() {
    role_.AssertCurrent();
    return ++count_;
  }

 private:
  ThreadRole role_;
  int count_ ABSL_GUARDED_BY(role_) = 0;
};

TEST(ThreadRole, OwnerPassesOthersDoNot) {
  ThreadRole role;
  EXPECT_FALSE(role.IsCurrent());  // bound to no thread yet
  role.Bind();
  EXPECT_TRUE(role.IsCurrent());
  bool other = true;
  std::thread([&] { other = role.IsCurrent(); }).join();
  EXPECT_FALSE(other);
}

TEST(ThreadRole, RebindMovesOwnership) {
  ThreadRole role;
  role.Bind();
  std::thread([&] { role.Bind(); }).join();
  EXPECT_FALSE(role.IsCurrent());
}

TEST(ThreadRoleDeathTest, AssertOffTheOwnerAborts) {
  LoopOwned owned;
  owned.role().Bind();
  EXPECT_EQ(owned.Touch(), 1);
  EXPECT_DEATH(std::thread([&] { owned.Touch(); }).join(), "");
}

}  // namespace
}  // namespace registrar
