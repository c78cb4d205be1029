// File: controller/common/memory_trim.h
//
// Handing freed memory back to the operating system after the number of registrations fell a
// lot (issue 12: a folder of 10 000 registrations shrunk to 1 000 kept ~500 MB resident). It is
// not a leak: heaptrack saw a heap peak of 89 MB and 29 KB unfreed at exit; glibc's malloc keeps
// what the threads freed in their arenas, and malloc_trim(0) gave it back (558 MB -> 55 MB).
// bench/README.md, "Memory after a folder shrinks", has the figures.
//
// Flow: the controller's main thread calls TrimPolicy::Observe(count, now) every poll (10 s)
// with the number of declared registrations (the source's store, O(1)); when it answers true,
// ReturnFreeMemory() trims and the caller logs the resident size before and after
// (ResidentBytes()). The controller asks for 60 s of quiet: by then the engine has revoked and
// let go the removed ones (9 000 took 20-30 s on 2 busy cores).
// The rule: a trim is due when the count has fallen at least `min_drop` and at least
// `min_fraction` below the highest count seen since the last trim (or start), and has not
// changed for `quiet` (the engine has let the removed ones go; one trim per shrink, not one per
// erased registration). Growing never trims.
// Cost: Observe is O(1) and holds three numbers; ReturnFreeMemory walks every malloc arena
// (a few milliseconds per 100 MB freed).
// Thread-safety: TrimPolicy is not thread-safe (one caller); the two functions are.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace registrar {

class TrimPolicy {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Options {
    int64_t min_drop = 1000;
    double min_fraction = 0.25;
    std::chrono::steady_clock::duration quiet = std::chrono::seconds(10);
  };

  TrimPolicy() : TrimPolicy(Options{}) {}
  explicit TrimPolicy(Options options) : options_(options) {}

  // The count at `now`; true when a trim is due (the policy then starts over from `count`).
  bool Observe(int64_t count, TimePoint now);

 private:
  const Options options_;
  int64_t peak_ = 0;
  std::optional<int64_t> last_;
  TimePoint last_change_{};
};

// glibc's malloc_trim(0): every arena's free memory back to the OS. True when some was released.
bool ReturnFreeMemory();
// VmRSS of this process in bytes (from /proc/self/statm); 0 when unknown.
int64_t ResidentBytes();

}  // namespace registrar
