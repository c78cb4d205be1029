#include "controller/common/backoff.h"

#include "gtest/gtest.h"

namespace registrar {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesFromBaseAndStopsAtTheCap) {
  Backoff backoff(milliseconds(100), milliseconds(1000), [] { return 0.999999; });
  EXPECT_EQ(backoff.Next(), milliseconds(99));  // the top of [50, 100)
  EXPECT_EQ(backoff.Next(), milliseconds(199));
  EXPECT_EQ(backoff.Next(), milliseconds(399));
  EXPECT_EQ(backoff.Next(), milliseconds(799));
  EXPECT_EQ(backoff.Next(), milliseconds(999));  // capped near one second, never more
  EXPECT_EQ(backoff.Next(), milliseconds(999));
  EXPECT_EQ(backoff.attempt(), 6);
}

TEST(Backoff, JitterStaysInTheUpperHalf) {
  Backoff low(milliseconds(100), milliseconds(1000), [] { return 0.0; });
  EXPECT_EQ(low.Next(), milliseconds(50));
  EXPECT_EQ(low.Next(), milliseconds(100));
  Backoff mid(milliseconds(100), milliseconds(1000), [] { return 0.5; });
  EXPECT_EQ(mid.Next(), milliseconds(75));
}

TEST(Backoff, AGivenDrawIsUsedAndClamped) {
  Backoff backoff(milliseconds(800), milliseconds(30000), [] { return 0.0; });
  EXPECT_EQ(backoff.Next(0.5), milliseconds(600));
  EXPECT_EQ(backoff.Next(1.0), milliseconds(1600));
  EXPECT_EQ(backoff.Next(-3.0), milliseconds(1600));  // half of 3 200
  EXPECT_EQ(backoff.Next(7.0), milliseconds(6400));
  EXPECT_EQ(backoff.attempt(), 4);
}

TEST(Backoff, ResetStartsOver) {
  Backoff backoff(milliseconds(100), milliseconds(1000), [] { return 0.0; });
  backoff.Next();
  backoff.Next();
  backoff.Next();
  backoff.Reset();
  EXPECT_EQ(backoff.attempt(), 0);
  EXPECT_EQ(backoff.Next(), milliseconds(50));
}

TEST(Backoff, CeilingNeverExceedsTheCap) {
  Backoff backoff(milliseconds(5), milliseconds(1000));
  EXPECT_EQ(backoff.Ceiling(0), milliseconds(5));
  EXPECT_EQ(backoff.Ceiling(3), milliseconds(40));
  EXPECT_EQ(backoff.Ceiling(60), milliseconds(1000));  // no overflow for large attempts
}

}  // namespace
}  // namespace registrar
