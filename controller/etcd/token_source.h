// File: controller/etcd/token_source.h
//
// The etcd auth token of one connection, fetched once and shared by every call and stream.
//
// Flow: Get(ready) runs `ready` at once with the current token; without one it queues `ready`
// and, unless an Authenticate is already under way, starts one through the injected
// `authenticate` function (single flight: any number of concurrent Gets cost one Authenticate).
// When it ends, every queued callback runs with the new token or the error. A call or stream
// whose token etcd rejected calls Invalidate(token); only that token is dropped, so concurrent
// rejections of one token lead to one new Authenticate, and a rejection of an already replaced
// token does not throw the new one away. Nothing here blocks or waits.
//
// Errors handed to callbacks: etcd's "authentication failed" (a wrong user or password) becomes
// kUnauthenticated naming the user (never the password); any other failure is passed on as
// Authenticate reported it (kUnavailable, kDeadlineExceeded, ...). A failure is not remembered:
// the next Get authenticates again.
//
// Thread-safety: all methods are safe from any thread. Callbacks run on the thread that calls
// Get (token already known) or on the thread that runs `authenticate`'s callback, never under
// the internal lock, so they may call Get or Invalidate.
// Ownership: `authenticate` must stay callable for the source's lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace registrar::etcd {

class TokenSource {
 public:
  using TokenCallback = std::function<void(absl::StatusOr<std::string>)>;
  // Starts one Authenticate; `done` runs exactly once with the token or the error.
  using Authenticate = std::function<void(TokenCallback done)>;

  TokenSource(std::string username, Authenticate authenticate)
      : username_(std::move(username)), authenticate_(std::move(authenticate)) {}

  // Runs `ready` exactly once with a token or the Authenticate error (see the file comment).
  void Get(TokenCallback ready);
  // Forgets `token` when it is still the current one.
  void Invalidate(const std::string& token);
  // How many Authenticate calls succeeded.
  int64_t authentications() const { return authentications_.load(); }

 private:
  void OnAuthenticated(absl::StatusOr<std::string> token);

  const std::string username_;
  const Authenticate authenticate_;
  std::atomic<int64_t> authentications_{0};

  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<TokenCallback> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace registrar::etcd
