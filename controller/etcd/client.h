// File: controller/etcd/client.h
//
// The etcd v3 client seam. Everything that talks to etcd (the lease keeper, the registration
// engine, the Kubernetes API test server) goes through `Client`; `ClientImpl` (client_impl.h)
// is the gRPC implementation. Integration tests wrap it to inject faults rather than mock etcd;
// ClientImpl's own unit tests drive it through the generated gRPC stub mocks. Options live in
// client_options.h (no protobuf), which this header includes.
//
// Flow: unary calls are asynchronous; each takes its request by value and a callback that runs
// exactly once, on a client-owned thread, with the response or an absl::Status carrying the gRPC
// code (kUnavailable / kDeadlineExceeded: retry; kNotFound "requested lease not found";
// kUnauthenticated / kPermissionDenied / kInvalidArgument "authentication failed": terminal for
// credentials). Callbacks must not block; they hand work to their owner's thread.
// The *Sync helpers block the calling thread (never call them from a callback).
//
// Streams (Watch, LeaseKeepAlive) use one gRPC stream each, with `hasleader` metadata, and deliver
// responses on the client's poller thread (handlers must not block); `on_closed` runs once when the
// stream ends for any reason other than the handle's own Close()/destruction. Opening a stream
// never blocks, not even while the client authenticates: the stream starts when a token is there,
// and requests sent before wait in its queue.
//
// Connection behaviour (ClientImpl): one channel per endpoint, fail-over to the next endpoint on
// kUnavailable, a deadline on every unary call, reconnect backoff capped near one second,
// Authenticate once per connection and again only when the token is rejected or expired.
//
// Thread-safety: all methods are safe to call from any thread. The client must outlive every
// stream handle and must not be destroyed from one of its callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "controller/etcd/client_options.h"
#include "controller/etcd/proto/etcd.pb.h"

namespace registrar::etcd {

namespace pb = ::etcdserverpb;

template <typename T>
using Callback = std::function<void(absl::StatusOr<T>)>;

// A live watch. Destroying it (or Close()) cancels the watch; no callback runs after Close returns.
// REQUIRES: Close() and the destructor are not called from any callback of this client (they wait
// for the client's poller thread); hand the close to the owner's thread.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  virtual void Close() = 0;
};
using WatchStreamPtr = std::unique_ptr<WatchStream>;

struct WatchHandler {
  // Every WatchResponse (created, events, progress), in order, on the client's poller thread.
  std::function<void(const pb::WatchResponse&)> on_response;
  // The stream ended: kOutOfRange when etcd cancelled it for compaction (message names the
  // compact revision), kUnavailable when the connection broke, other codes as etcd sent them.
  std::function<void(absl::Status)> on_closed;
};

// A LeaseKeepAlive stream. Send() queues one keep-alive request (non-blocking).
// REQUIRES: as for WatchStream, Close() and the destructor are not called from its callbacks.
class KeepAliveStream {
 public:
  virtual ~KeepAliveStream() = default;
  // Returns false when the stream is already closed.
  virtual bool Send(int64_t lease_id) = 0;
  virtual void Close() = 0;
};
using KeepAliveStreamPtr = std::unique_ptr<KeepAliveStream>;

struct KeepAliveHandler {
  // One response per request: TTL > 0 renewed, TTL <= 0 the lease does not exist.
  std::function<void(const pb::LeaseKeepAliveResponse&)> on_response;
  std::function<void(absl::Status)> on_closed;
};

class Client {
 public:
  virtual ~Client() = default;

  virtual void Range(pb::RangeRequest req, Callback<pb::RangeResponse> done) = 0;
  virtual void Put(pb::PutRequest req, Callback<pb::PutResponse> done) = 0;
  virtual void DeleteRange(pb::DeleteRangeRequest req, Callback<pb::DeleteRangeResponse> done) = 0;
  // A Txn whose compares failed is OK with succeeded=false. A put naming a lease that does not
  // exist fails the whole Txn with kNotFound.
  virtual void Txn(pb::TxnRequest req, Callback<pb::TxnResponse> done) = 0;
  virtual void Compact(pb::CompactionRequest req, Callback<pb::CompactionResponse> done) = 0;
  virtual void LeaseGrant(pb::LeaseGrantRequest req, Callback<pb::LeaseGrantResponse> done) = 0;
  virtual void LeaseRevoke(pb::LeaseRevokeRequest req, Callback<pb::LeaseRevokeResponse> done) = 0;
  virtual void LeaseTimeToLive(pb::LeaseTimeToLiveRequest req,
                               Callback<pb::LeaseTimeToLiveResponse> done) = 0;
  virtual void LeaseLeases(pb::LeaseLeasesRequest req, Callback<pb::LeaseLeasesResponse> done) = 0;
  virtual void Status(pb::StatusRequest req, Callback<pb::StatusResponse> done) = 0;

  // Opens a watch with `req` without blocking. Fails only for invalid arguments; connection and
  // authentication problems arrive through handler.on_closed.
  virtual absl::StatusOr<WatchStreamPtr> Watch(pb::WatchCreateRequest req,
                                               WatchHandler handler) = 0;
  virtual absl::StatusOr<KeepAliveStreamPtr> KeepAlive(KeepAliveHandler handler) = 0;

  // The highest header revision seen in any response on this connection, and how many times a
  // response came back with a lower one (etcd lost its data, or is a new cluster).
  virtual int64_t max_revision() const = 0;
  virtual int64_t revision_regressions() const = 0;

  // Human-readable target for logs: "127.0.0.1:2379,127.0.0.1:22379" (no credentials).
  virtual std::string target() const = 0;

  // Rejected credentials are held down before etcd is asked again (token_source.h); this ends
  // the hold-down, so the next call authenticates. Returns whether one was held down. The
  // default (clients without auth, fakes): nothing held.
  virtual bool RetryCredentials() { return false; }

  // ---- Blocking helpers built on the async calls. Never call them from a callback. ----
  absl::StatusOr<pb::RangeResponse> RangeSync(pb::RangeRequest req) {
    return Await<pb::RangeResponse>(
        [&](Callback<pb::RangeResponse> cb) { Range(std::move(req), std::move(cb)); });
  }
  absl::StatusOr<pb::PutResponse> PutSync(pb::PutRequest req) {
    return Await<pb::PutResponse>(
        [&](Callback<pb::PutResponse> cb) { Put(std::move(req), std::move(cb)); });
  }
  absl::StatusOr<pb::DeleteRangeResponse> DeleteRangeSync(pb::DeleteRangeRequest req) {
    return Await<pb::DeleteRangeResponse>(
        [&](Callback<pb::DeleteRangeResponse> cb) { DeleteRange(std::move(req), std::move(cb)); });
  }
  absl::StatusOr<pb::TxnResponse> TxnSync(pb::TxnRequest req) {
    return Await<pb::TxnResponse>(
        [&](Callback<pb::TxnResponse> cb) { Txn(std::move(req), std::move(cb)); });
  }
  absl::StatusOr<pb::CompactionResponse> CompactSync(pb::CompactionRequest req) {
    return Await<pb::CompactionResponse>(
        [&](Callback<pb::CompactionResponse> cb) { Compact(std::move(req), std::move(cb)); });
  }
  absl::StatusOr<pb::LeaseGrantResponse> LeaseGrantSync(pb::LeaseGrantRequest req) {
    return Await<pb::LeaseGrantResponse>(
        [&](Callback<pb::LeaseGrantResponse> cb) { LeaseGrant(std::move(req), std::move(cb)); });
  }
  absl::StatusOr<pb::LeaseRevokeResponse> LeaseRevokeSync(pb::LeaseRevokeRequest req) {
    return Await<pb::LeaseRevokeResponse>(
        [&](Callback<pb::LeaseRevokeResponse> cb) { LeaseRevoke(std::move(req), std::move(cb)); });
  }
  absl::StatusOr<pb::LeaseTimeToLiveResponse> LeaseTimeToLiveSync(pb::LeaseTimeToLiveRequest req) {
    return Await<pb::LeaseTimeToLiveResponse>([&](Callback<pb::LeaseTimeToLiveResponse> cb) {
      LeaseTimeToLive(std::move(req), std::move(cb));
    });
  }
  absl::StatusOr<pb::LeaseLeasesResponse> LeaseLeasesSync(pb::LeaseLeasesRequest req) {
    return Await<pb::LeaseLeasesResponse>(
        [&](Callback<pb::LeaseLeasesResponse> cb) { LeaseLeases(std::move(req), std::move(cb)); });
  }
  absl::StatusOr<pb::StatusResponse> StatusSync(pb::StatusRequest req) {
    return Await<pb::StatusResponse>(
        [&](Callback<pb::StatusResponse> cb) { Status(std::move(req), std::move(cb)); });
  }

 private:
  template <typename T, typename Start>
  static absl::StatusOr<T> Await(Start&& start) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
    auto future = promise->get_future();
    start([promise](absl::StatusOr<T> result) { promise->set_value(std::move(result)); });
    return future.get();
  }
};
using ClientPtr = std::unique_ptr<Client>;

// "<prefix>" -> the range_end that selects every key starting with it (etcd's prefix rule).
std::string PrefixRangeEnd(const std::string& prefix);

// The gRPC client (ClientImpl). Fails with kInvalidArgument when no endpoint is given or a TLS
// file (CA, cert, key) cannot be read; connecting happens lazily, so a down etcd is not an error.
absl::StatusOr<ClientPtr> NewClient(const ClientOptions& options);

}  // namespace registrar::etcd
