#include "controller/etcd/revision_tracker.h"

#include "gtest/gtest.h"

namespace registrar::etcd {
namespace {

TEST(RevisionTracker, TracksTheMaximum) {
  RevisionTracker tracker;
  auto floor = tracker.Begin();
  tracker.Observe(floor, 5);
  auto second = tracker.Begin();
  tracker.Observe(second, 9);
  EXPECT_EQ(tracker.max_revision(), 9);
  EXPECT_EQ(tracker.regressions(), 0);
}

TEST(RevisionTracker, ReorderedConcurrentResponsesAreNotRegressions) {
  RevisionTracker tracker;
  auto a = tracker.Begin();
  auto b = tracker.Begin();
  tracker.Observe(b, 11);  // a later write answered first
  tracker.Observe(a, 10);  // a read sent before it was seen
  EXPECT_EQ(tracker.regressions(), 0);
  EXPECT_EQ(tracker.max_revision(), 11);
}

TEST(RevisionTracker, LowerRevisionAfterAHigherOneWasSeenCountsOnce) {
  RevisionTracker tracker;
  auto first = tracker.Begin();
  tracker.Observe(first, 100);
  auto x = tracker.Begin();
  auto y = tracker.Begin();
  tracker.Observe(x, 2);  // etcd lost its data
  tracker.Observe(y, 3);  // same loss, sent in the same epoch: not counted again
  EXPECT_EQ(tracker.regressions(), 1);
  auto z = tracker.Begin();
  tracker.Observe(z, 4);
  EXPECT_EQ(tracker.max_revision(), 4);
  EXPECT_EQ(tracker.regressions(), 1);
}

TEST(RevisionTracker, ZeroRevisionIsIgnored) {
  RevisionTracker tracker;
  auto floor = tracker.Begin();
  tracker.Observe(floor, 7);
  auto next = tracker.Begin();
  tracker.Observe(next, 0);
  EXPECT_EQ(tracker.regressions(), 0);
  EXPECT_EQ(tracker.max_revision(), 7);
}

TEST(RevisionTracker, StreamFloorMovesWithItsResponses) {
  RevisionTracker tracker;
  auto stream = tracker.Begin();
  tracker.Observe(stream, 5);
  tracker.Observe(stream, 8);
  tracker.Observe(stream, 6);  // a stream never goes back on one cluster
  EXPECT_EQ(tracker.regressions(), 1);
}

}  // namespace
}  // namespace registrar::etcd
