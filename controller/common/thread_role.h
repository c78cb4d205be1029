// File: controller/common/thread_role.h
//
// "Only the loop thread touches this", checked like a lock. A ThreadRole is a capability for
// clang's -Wthread-safety: state that one thread owns (an event loop's) is ABSL_GUARDED_BY(role_),
// helpers that run on that thread are ABSL_EXCLUSIVE_LOCKS_REQUIRED(role_), and each entry point
// on the thread (the closure the loop runs, a callback it receives) calls role_.AssertCurrent()
// first. AssertCurrent() aborts when called on any other thread (an invariant, not an error), and
// from there on clang treats the role as held, so the analysis catches a guarded field touched
// from a function that neither asserts nor requires the role.
//
// Flow: the owning thread calls Bind() before anything asserts (e.g. first thing in its run loop);
// a role bound to no thread yet fails every AssertCurrent().
//
// Thread-safety: Bind() and AssertCurrent() may be called from any thread. Not copyable (it holds
// an atomic). Cost: one atomic load and a thread-id compare per AssertCurrent().
#pragma once

#include <atomic>
#include <cstdlib>
#include <thread>

#include "absl/base/thread_annotations.h"

namespace registrar {

class ABSL_LOCKABLE ThreadRole {
 public:
  // Makes the calling thread the owner.
  void Bind() { owner_.store(std::this_thread::get_id(), std::memory_order_release); }

  // Aborts unless the calling thread is the owner.
  void AssertCurrent() const ABSL_ASSERT_EXCLUSIVE_LOCK() {
    if (!IsCurrent()) {
      std::abort();
    }
  }

  bool IsCurrent() const {
    return owner_.load(std::memory_order_acquire) == std::this_thread::get_id();
  }

 private:
  std::atomic<std::thread::id> owner_{};
};

}  // namespace registrar
