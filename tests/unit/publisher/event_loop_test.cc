// The engine thread's loop run by hand, and the state board readers see.
#include "controller/publisher/event_loop.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/publisher/state_board.h"
#include "tests/testing/fake_clock.h"

namespace registrar::publisher {
namespace {

using ::registrar::testing::FakeClock;
using std::chrono::milliseconds;
using ::testing::ElementsAre;

TEST(EventLoop, RunsClosuresInOrderAndTimersOnlyWhenDue) {
  FakeClock clock;
  EventLoop loop(clock);
  std::vector<std::string> ran;
  loop.PostAfter(milliseconds(200), [&] { ran.push_back("late"); });
  loop.PostAfter(milliseconds(100), [&] { ran.push_back("soon"); });
  loop.Post([&] {
    ran.push_back("first");
    loop.Post([&] { ran.push_back("posted by first"); });
  });
  loop.Post([&] { ran.push_back("second"); });
  EXPECT_EQ(loop.RunUntilIdle(), 3u);
  EXPECT_THAT(ran, ElementsAre("first", "second", "posted by first"));
  EXPECT_EQ(loop.timers(), 2u);
  clock.Advance(milliseconds(150));
  loop.RunUntilIdle();
  EXPECT_THAT(ran, ElementsAre("first", "second", "posted by first", "soon"));
  clock.Advance(milliseconds(50));
  loop.RunUntilIdle();
  EXPECT_EQ(ran.back(), "late");
  EXPECT_EQ(loop.timers(), 0u);
}

TEST(StateBoard, PublishSaysWhetherReadersSeeAChangeAndKeepsTheRenewal) {
  StateBoard board;
  State s;
  s.id = "ns/a";
  s.lease_id = 7;
  EXPECT_TRUE(board.Publish(s));  // new id
  EXPECT_FALSE(board.Publish(s));
  s.reregistrations = 3;  // not something a listener is told about
  EXPECT_FALSE(board.Publish(s));
  s.cause = Cause::kLeaseLost;
  EXPECT_TRUE(board.Publish(s));

  auto when = std::chrono::system_clock::time_point(std::chrono::seconds(100));
  board.NoteRenewal(7, when);
  EXPECT_EQ(board.Get("ns/a")->last_renewal, when);
  board.ForgetRenewal(7);
  EXPECT_FALSE(board.Get("ns/a")->last_renewal.has_value());
  board.Erase("ns/a");
  EXPECT_FALSE(board.Get("ns/a").has_value());

  board.Count(&EngineStats::lease_losses);
  EXPECT_EQ(board.stats().lease_losses, 1);
  EXPECT_TRUE(board.SetReachable(true));
  EXPECT_FALSE(board.SetReachable(true));
}

}  // namespace
}  // namespace registrar::publisher
