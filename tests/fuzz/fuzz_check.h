// File: tests/fuzz/fuzz_check.h
//
// FUZZ_CHECK(cond, what): an invariant of a fuzz target; a violation prints `what` and aborts,
// which libFuzzer reports as a crash with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s: %s\n", #cond, (what));     \
      std::abort();                                                           \
    }                                                                         \
  } while (0)
