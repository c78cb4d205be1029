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
// etcd without auth: Authenticate answers "authentication is not enabled". As etcd's own Go
// client does, that means no token is needed: Get hands out the empty token (calls go without
// one) and the fact is logged once. When etcd later asks for a token (auth was enabled: a call
// refused for "user name is empty", or a tokenless stream refused), the caller's
// Invalidate("") makes the next Get authenticate.
//
// Rejected credentials: etcd's "authentication failed" (a wrong user or password) becomes
// kUnauthenticated naming the user (never the password) and is remembered for kRejectedHoldDown:
// Gets in that time fail at once with it, without asking etcd (an Authenticate is a raft write
// and a bcrypt check on etcd; a controller with many registrations would otherwise send one per
// retry). The hold-down ends early when `credentials_changed` (polled by such a Get) says the
// credentials changed (a new password file), or at once on RetryNow() (the caller learned that
// etcd's credentials changed: another connection to the same etcd had its own rejected, so the
// password was just changed there). Any other failure (kUnavailable,
// kDeadlineExceeded, ...) is passed on as Authenticate reported it and not remembered.
//
// Thread-safety: all methods are safe from any thread. Callbacks run on the thread that calls
// Get (token already known, or a remembered rejection) or on the thread that runs
// `authenticate`'s callback, never under the internal lock, so they may call Get or Invalidate.
// Ownership: `authenticate`, `credentials_changed` and `clock` must outlive the source.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "controller/common/clock.h"

namespace registrar::etcd {

// True for the error Get reports when etcd refused the user or password (kUnauthenticated
// "etcd authentication failed for user ..."), not for a token etcd no longer takes.
bool IsCredentialsRejected(const absl::Status& status);

class TokenSource {
 public:
  using TokenCallback = std::function<void(absl::StatusOr<std::string>)>;
  // Starts one Authenticate; `done` runs exactly once with the token or the error.
  using Authenticate = std::function<void(TokenCallback done)>;
  // True when the credentials changed since the last call (the caller re-read them).
  using CredentialsChanged = std::function<bool()>;

  static constexpr std::chrono::seconds kRejectedHoldDown{30};

  // `target` names the connection in the one log line about etcd without auth.
  TokenSource(std::string username, std::string target, Clock& clock, Authenticate authenticate,
              CredentialsChanged credentials_changed = {})
      : username_(std::move(username)),
        target_(std::move(target)),
        clock_(clock),
        authenticate_(std::move(authenticate)),
        credentials_changed_(std::move(credentials_changed)) {}

  // Runs `ready` exactly once with a token ("" when etcd has auth off) or the error (see the
  // file comment).
  void Get(TokenCallback ready);
  // Forgets `token` when it is still the current one; Invalidate("") ends "auth not enabled".
  void Invalidate(const std::string& token);
  // Ends the hold-down of a rejection: the next Get asks etcd again. Returns whether one was
  // held down.
  bool RetryNow();
  // How many Authenticate calls succeeded.
  int64_t authentications() const { return authentications_.load(); }
  // How many Authenticate calls were started.
  int64_t attempts() const { return attempts_.load(); }

 private:
  void OnAuthenticated(absl::StatusOr<std::string> token);

  const std::string username_;
  const std::string target_;
  Clock& clock_;
  const Authenticate authenticate_;
  const CredentialsChanged credentials_changed_;
  std::atomic<int64_t> authentications_{0};
  std::atomic<int64_t> attempts_{0};

  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  bool auth_disabled_ ABSL_GUARDED_BY(mu_) = false;  // etcd said auth is not enabled
  bool logged_disabled_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status rejected_ ABSL_GUARDED_BY(mu_);  // remembered until rejected_until_
  Clock::TimePoint rejected_until_ ABSL_GUARDED_BY(mu_){};
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<TokenCallback> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace registrar::etcd
