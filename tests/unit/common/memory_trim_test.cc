#include "controller/common/memory_trim.h"

#include <cstdlib>
#include <vector>

#include "gtest/gtest.h"

namespace registrar {
namespace {

using std::chrono::seconds;
using TimePoint = TrimPolicy::TimePoint;

struct Step {
  int at_s;       // seconds from the start
  int64_t count;  // registrations at that time
  bool trim;      // Observe's answer
};

void Expect(const TrimPolicy::Options& options, const std::vector<Step>& steps) {
  TrimPolicy policy(options);
  const TimePoint start{};
  for (const Step& s : steps) {
    EXPECT_EQ(policy.Observe(s.count, start + seconds(s.at_s)), s.trim)
        << "at " << s.at_s << " s with " << s.count;
  }
}

constexpr TrimPolicy::Options kOptions{
    .min_drop = 1000, .min_fraction = 0.25, .quiet = seconds(10)};

TEST(TrimPolicy, ALargeShrinkTrimsOnceAfterTheCountIsQuiet) {
  Expect(kOptions, {{0, 10000, false},
                    {5, 1000, false},  // just fell: not quiet yet
                    {14, 1000, false},
                    {15, 1000, true},   // quiet for 10 s
                    {16, 1000, false},  // once per shrink
                    {100, 1000, false}});
}

TEST(TrimPolicy, TheQuietPeriodStartsOverWhileTheCountStillFalls) {
  Expect(kOptions, {{0, 10000, false},
                    {5, 6000, false},
                    {12, 2000, false},
                    {21, 2000, false},
                    {22, 2000, true}});
}

TEST(TrimPolicy, SmallOrRelativelySmallDropsNeverTrim) {
  Expect(kOptions, {{0, 900, false}, {1, 0, false}, {60, 0, false}});             // under min_drop
  Expect(kOptions, {{0, 100000, false}, {1, 90000, false}, {60, 90000, false}});  // 10 % < 25 %
}

TEST(TrimPolicy, GrowingNeverTrimsAndTheNextShrinkCountsFromTheNewPeak) {
  Expect(kOptions, {{0, 10000, false},
                    {1, 2000, false},
                    {11, 2000, true},
                    {12, 2500, false},
                    {30, 2500, false},  // grew a little: nothing to return
                    {31, 20000, false},
                    {40, 4000, false},
                    {50, 4000, true}});
}

TEST(TrimPolicy, ShrinkingInStepsAddsUpFromThePeak) {
  // 10 000 -> 8 000 (20 %: not enough) -> 7 000 (30 % below the peak): due once quiet.
  Expect(kOptions, {{0, 10000, false},
                    {1, 8000, false},
                    {20, 8000, false},
                    {21, 7000, false},
                    {31, 7000, true}});
}

TEST(MemoryTrim, ReturnFreeMemoryGivesBackWhatWasFreed) {
  // 64 MB in small blocks (below the mmap threshold, so they live in the heap), then freed.
  std::vector<void*> blocks;
  for (int i = 0; i < 64 * 1024; ++i) {
    blocks.push_back(std::malloc(1000));
    static_cast<char*>(blocks.back())[0] = 1;
  }
  for (void* b : blocks) {
    std::free(b);
  }
  const int64_t before = ResidentBytes();
  ASSERT_GT(before, 0);
  ReturnFreeMemory();
  EXPECT_LT(ResidentBytes(), before);
}

}  // namespace
}  // namespace registrar
