// File: controller/etcd/client_impl.h
//
// The gRPC implementation of Client (client.h).
//
// Flow: one gRPC channel per endpoint (reconnect backoff 100 ms .. max_reconnect_backoff, HTTP/2
// keepalive pings, gRPC's own retries off), reached through the generated StubInterfaces, so
// unit tests inject the generated Mock*Stubs (Create with endpoints). Unary calls are
// asynchronous on one completion queue polled by one client thread (the "poller"), which runs
// every callback; each call lives in a heap object until its callback. (Not gRPC's callback API: in
// grpc 1.51 on Linux it runs on a process-wide "nexting" queue that aborts in
// grpc_cq_internal_unref when channels are destroyed while it works, and its generated mocks do not
// cover it.) Every attempt carries a deadline of request_timeout from the injected Clock. A call
// failing with UNAVAILABLE marks its endpoint bad (the next call starts on the next endpoint) and,
// when it is safe to repeat (Range, LeaseTimeToLive, LeaseLeases, Status, Authenticate), is retried
// once on the next endpoint; writes report kUnavailable. With a username, a TokenSource
// (token_source.h) authenticates once per connection and the token goes out as `token` metadata on
// every call and stream; a call rejected for its token re-authenticates once (concurrent rejections
// share one Authenticate) and is retried once. etcd without auth needs no token (token_source.h);
// rejected credentials are not sent again for a while unless the password file changed (read again
// then). Streams (Watch, LeaseKeepAlive; async_stream.h) carry `hasleader: true`, run on the
// completion queue (no threads of their own), wait for the token without blocking anyone, and a
// stream refused for its token drops the token so the owner's reopen authenticates again. Every
// response header revision goes through a RevisionTracker (max_revision, revision_regressions).
//
// Ownership: streams and in-flight calls refer to the client; it must outlive every stream
// handle. The destructor waits for in-flight unary calls (bounded by request_timeout).
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "controller/common/clock.h"
#include "controller/etcd/client.h"
#include "controller/etcd/proto/etcd.grpc.pb.h"
#include "controller/etcd/revision_tracker.h"
#include "controller/etcd/token_source.h"
#include "grpcpp/grpcpp.h"

namespace registrar::etcd {

// A completion-queue tag: heap-allocated, run once on the client's poller thread, then deleted.
using CqTag = std::function<void(bool ok)>;

class ClientImpl final : public Client {
 public:
  // The services of one etcd endpoint. Real stubs share the endpoint's channel.
  struct Endpoint {
    std::string address;  // for logs and errors
    std::unique_ptr<pb::KV::StubInterface> kv;
    std::unique_ptr<pb::Lease::StubInterface> lease;
    std::unique_ptr<pb::Watch::StubInterface> watch;
    std::unique_ptr<pb::Auth::StubInterface> auth;
    std::unique_ptr<pb::Maintenance::StubInterface> maintenance;
  };

  // Opens one channel per options.endpoints entry; deadlines from RealClock.
  // Fails with kInvalidArgument when `options` has no endpoint or a TLS file cannot be read.
  static absl::StatusOr<std::unique_ptr<ClientImpl>> Create(const ClientOptions& options);
  // Uses `endpoints` as given (options.endpoints and the TLS settings are ignored); `clock` gives
  // the deadlines and must outlive the client. Fails with kInvalidArgument when `endpoints` is
  // empty or a stub is missing.
  static absl::StatusOr<std::unique_ptr<ClientImpl>> Create(const ClientOptions& options,
                                                            std::vector<Endpoint> endpoints,
                                                            Clock& clock);
  ~ClientImpl() override;

  void Range(pb::RangeRequest req, Callback<pb::RangeResponse> done) override;
  void Put(pb::PutRequest req, Callback<pb::PutResponse> done) override;
  void DeleteRange(pb::DeleteRangeRequest req, Callback<pb::DeleteRangeResponse> done) override;
  void Txn(pb::TxnRequest req, Callback<pb::TxnResponse> done) override;
  void Compact(pb::CompactionRequest req, Callback<pb::CompactionResponse> done) override;
  void LeaseGrant(pb::LeaseGrantRequest req, Callback<pb::LeaseGrantResponse> done) override;
  void LeaseRevoke(pb::LeaseRevokeRequest req, Callback<pb::LeaseRevokeResponse> done) override;
  void LeaseTimeToLive(pb::LeaseTimeToLiveRequest req,
                       Callback<pb::LeaseTimeToLiveResponse> done) override;
  void LeaseLeases(pb::LeaseLeasesRequest req, Callback<pb::LeaseLeasesResponse> done) override;
  void Status(pb::StatusRequest req, Callback<pb::StatusResponse> done) override;

  // Never blocks: with a username the stream starts once a token is there (see token_source.h);
  // an authentication failure arrives through handler.on_closed.
  absl::StatusOr<WatchStreamPtr> Watch(pb::WatchCreateRequest req, WatchHandler handler) override;
  absl::StatusOr<KeepAliveStreamPtr> KeepAlive(KeepAliveHandler handler) override;

  int64_t max_revision() const override { return revisions_.max_revision(); }
  int64_t revision_regressions() const override { return revisions_.regressions(); }
  std::string target() const override;
  bool RetryCredentials() override { return tokens_.RetryNow(); }
  // How many Authenticate calls succeeded (one per connection, plus one per rejected token).
  int64_t authentications() const { return tokens_.authentications(); }
  // How many Authenticate calls were sent, failed ones included.
  int64_t authentication_attempts() const { return tokens_.attempts(); }

  // ---- For the stream implementations (async_stream.cc). ----
  size_t CurrentEndpoint() const { return current_.load(); }
  Endpoint& endpoint(size_t index) { return *endpoints_[index]; }
  // Moves the preferred endpoint past `index` after an UNAVAILABLE answer from it.
  void MarkUnavailable(size_t index);
  bool auth_enabled() const { return !options_.username.empty(); }
  const ClientOptions& options() const { return options_; }
  TokenSource& tokens() { return tokens_; }
  // True when `status` means etcd refused the token (invalid, expired, stale auth revision).
  bool IsTokenRejected(const grpc::Status& status) const;
  RevisionTracker& revisions() { return revisions_; }
  // The completion queue polled by the poller thread; a tag is a CqTag* run there with `ok`.
  grpc::CompletionQueue& cq() { return cq_; }
  bool OnPollerThread() const { return std::this_thread::get_id() == poller_id_; }

 private:
  template <typename Req, typename Resp>
  struct UnaryCall;
  template <typename Req, typename Resp>
  using Invoker = std::unique_ptr<grpc::ClientAsyncResponseReaderInterface<Resp>> (*)(
      Endpoint&, grpc::ClientContext*, const Req&, grpc::CompletionQueue*);

  ClientImpl(const ClientOptions& options, std::vector<Endpoint> endpoints, Clock& clock);
  // Runs the completion of every unary call (and so every user callback) on the poller thread.
  void Poll();

  template <typename Req, typename Resp>
  void Call(const char* method, bool idempotent, bool needs_token, Invoker<Req, Resp> invoke,
            Req req, Callback<Resp> done);
  template <typename Req, typename Resp>
  void Attempt(std::shared_ptr<UnaryCall<Req, Resp>> call);
  template <typename Req, typename Resp>
  void Send(std::shared_ptr<UnaryCall<Req, Resp>> call);
  template <typename Req, typename Resp>
  void OnDone(std::shared_ptr<UnaryCall<Req, Resp>> call, const grpc::Status& status);
  template <typename Req, typename Resp>
  void Finish(std::shared_ptr<UnaryCall<Req, Resp>> call,
              std::type_identity_t<absl::StatusOr<Resp>> result);
  void Authenticate(TokenSource::TokenCallback done);
  // With options_.password_file: reads the file again when its inode, size or mtime changed;
  // true when it did and gave a new non-empty password.
  bool RefreshPassword();

  // Constant after construction.
  const ClientOptions options_;
  const std::vector<std::unique_ptr<Endpoint>> endpoints_;  // the stubs are thread-safe
  Clock& clock_;

  absl::Mutex password_mu_;
  std::string password_ ABSL_GUARDED_BY(password_mu_);        // never logged
  std::string password_stamp_ ABSL_GUARDED_BY(password_mu_);  // inode, size, mtime of the file

  std::atomic<size_t> current_{0};
  RevisionTracker revisions_;  // internally synchronized
  TokenSource tokens_;         // internally synchronized

  absl::Mutex inflight_mu_;
  int64_t inflight_ ABSL_GUARDED_BY(inflight_mu_) = 0;

  grpc::CompletionQueue cq_;  // thread-safe
  // Set once in Create before the client is handed out; only the destructor touches it after.
  std::jthread poller_;
  std::thread::id poller_id_;
};

}  // namespace registrar::etcd
