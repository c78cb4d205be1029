// EventAggregator: create, patch, window, spam filter and LRU bound (event_aggregation.h),
// driven by explicit times.
#include "controller/registration/event_aggregation.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace registrar::registration {
namespace {

using Kind = EventWrite::Kind;
using std::chrono::minutes;
using std::chrono::seconds;

const std::chrono::system_clock::time_point kT0{std::chrono::seconds(1767225600)};

EventOccurrence Ev(const std::string& reason, const std::string& message = "m",
                   const std::string& name = "user-rpc") {
  return {"default", name, "uid-" + name, "Warning", reason, message};
}

struct Step {
  const char* what;
  EventOccurrence event;
  std::chrono::seconds at;  // after kT0
  Kind want;
  int64_t want_count;
  std::string want_name;
};

TEST(EventAggregator, Table) {
  EventAggregator agg;
  const std::vector<Step> steps = {
      {"first occurrence: create", Ev("KeyConflict"), seconds(0), Kind::kCreate, 1, "n0"},
      {"repeat: patch of the same event", Ev("KeyConflict"), seconds(30), Kind::kPatch, 2, "n0"},
      {"repeat again", Ev("KeyConflict"), seconds(60), Kind::kPatch, 3, "n0"},
      {"another message: its own event", Ev("KeyConflict", "other"), seconds(61), Kind::kCreate,
       1, "n3"},
      {"another reason: its own event", Ev("AuthFailed"), seconds(62), Kind::kCreate, 1, "n4"},
      {"another object: its own event", Ev("KeyConflict", "m", "b"), seconds(63), Kind::kCreate,
       1, "n5"},
      {"within the hour of the last: patch", Ev("KeyConflict"), seconds(60 + 3600), Kind::kPatch,
       4, "n0"},
      {"after an hour of silence: a new event", Ev("KeyConflict"), seconds(60 + 3600 + 3601),
       Kind::kCreate, 1, "n7"},
  };
  int i = 0;
  for (const Step& s : steps) {
    EventWrite w = agg.Observe(s.event, kT0 + s.at, "n" + std::to_string(i++));
    EXPECT_EQ(w.kind, s.want) << s.what;
    EXPECT_EQ(w.count, s.want_count) << s.what;
    EXPECT_EQ(w.event_name, s.want_name) << s.what;
  }
}

TEST(EventAggregator, PatchCarriesTheFirstTimestamp) {
  EventAggregator agg;
  agg.Observe(Ev("LeaseLost"), kT0, "a");
  EventWrite w = agg.Observe(Ev("LeaseLost"), kT0 + minutes(3), "b");
  EXPECT_EQ(w.kind, Kind::kPatch);
  EXPECT_EQ(w.first_timestamp, kT0);
}

TEST(EventAggregator, ForgetAfterAFailedWriteCreatesAgain) {
  EventAggregator agg;
  agg.Observe(Ev("LeaseLost"), kT0, "a");
  agg.Forget(Ev("LeaseLost"));
  EventWrite w = agg.Observe(Ev("LeaseLost"), kT0 + seconds(1), "b");
  EXPECT_EQ(w.kind, Kind::kCreate);
  EXPECT_EQ(w.event_name, "b");
  EXPECT_EQ(w.count, 1);
}

TEST(EventAggregator, SpamFilterAllowsABurstThenOnePerFiveMinutesPerObject) {
  EventAggregator agg;
  int written = 0;
  for (int i = 0; i < 40; ++i) {  // 40 flaps in 40 seconds
    EventWrite w = agg.Observe(Ev(i % 2 ? "EtcdUnavailable" : "Registered"), kT0 + seconds(i),
                               "n" + std::to_string(i));
    written += w.kind != Kind::kDrop;
  }
  EXPECT_EQ(written, EventAggregator::kSpamBurst);
  // Another object has its own bucket.
  EXPECT_NE(agg.Observe(Ev("Registered", "m", "other"), kT0 + seconds(41), "x").kind,
            Kind::kDrop);
  // One token back after five minutes, not two.
  EXPECT_NE(agg.Observe(Ev("Registered"), kT0 + seconds(39) + minutes(5), "y").kind,
            Kind::kDrop);
  EXPECT_EQ(agg.Observe(Ev("Registered"), kT0 + seconds(40) + minutes(5), "z").kind,
            Kind::kDrop);
}

TEST(EventAggregator, CacheIsBoundedAndEvictsTheLeastRecentlyUsed) {
  EventAggregator agg(/*capacity=*/3);
  agg.Observe(Ev("A", "m", "o1"), kT0, "a");
  agg.Observe(Ev("B", "m", "o2"), kT0 + seconds(1), "b");
  agg.Observe(Ev("C", "m", "o3"), kT0 + seconds(2), "c");
  // A is used again, so B is now the least recent.
  EXPECT_EQ(agg.Observe(Ev("A", "m", "o1"), kT0 + seconds(3), "a2").kind, Kind::kPatch);
  agg.Observe(Ev("D", "m", "o4"), kT0 + seconds(4), "d");
  EXPECT_EQ(agg.size(), 3u);
  EXPECT_EQ(agg.Observe(Ev("A", "m", "o1"), kT0 + seconds(5), "a3").kind, Kind::kPatch);
  EXPECT_EQ(agg.Observe(Ev("B", "m", "o2"), kT0 + seconds(6), "b2").kind, Kind::kCreate);
}

}  // namespace
}  // namespace registrar::registration
