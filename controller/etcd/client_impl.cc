#include "controller/etcd/client_impl.h"

#include <chrono>
#include <deque>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "controller/common/clock.h"
#include "controller/common/status.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace registrar::etcd {
namespace {

constexpr int kInitialReconnectBackoffMs = 100;
constexpr int kKeepaliveTimeMs = 10000;  // etcd refuses pings more often than every 5 s
constexpr int kKeepaliveTimeoutMs = 5000;

absl::StatusOr<std::string> ReadFile(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read etcd TLS ", what, " file ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read etcd TLS ", what, " file ", path));
  }
  return buffer.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(
    const ClientOptions& options) {
  if (!options.tls()) {
    return grpc::InsecureChannelCredentials();
  }
  std::string ca;
  std::string cert;
  std::string key;
  if (!options.ca_file.empty()) {
    ASSIGN_OR_RETURN(ca, ReadFile("CA", options.ca_file));
  }
  if (!options.cert_file.empty()) {
    ASSIGN_OR_RETURN(cert, ReadFile("certificate", options.cert_file));
  }
  if (!options.key_file.empty()) {
    ASSIGN_OR_RETURN(key, ReadFile("key", options.key_file));
  }
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(
        "etcd TLS needs both a client certificate and its key, or neither");
  }
  if (!options.insecure_skip_verify) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca;
    ssl.pem_private_key = key;
    ssl.pem_cert_chain = cert;
    return grpc::SslCredentials(ssl);
  }
  std::vector<grpc::experimental::IdentityKeyCertPair> identity;
  if (!cert.empty()) {
    identity.push_back({key, cert});
  }
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  if (!ca.empty() || !identity.empty()) {
    tls.set_certificate_provider(
        std::make_shared<grpc::experimental::StaticDataCertificateProvider>(ca, identity));
    if (!ca.empty()) {
      tls.watch_root_certs();
    }
    if (!identity.empty()) {
      tls.watch_identity_key_cert_pairs();
    }
  }
  return grpc::experimental::TlsCredentials(tls);
}

absl::Status ToStatus(const char* method, const grpc::Status& status) {
  return FromGrpcCode(status.error_code(), absl::StrCat(method, ": ", status.error_message()));
}

void SetDeadline(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.set_deadline(RealClock::Get().WallNow() + timeout);
}

// One gRPC bidi stream on the client's completion queue: reads, writes and the end of the call
// complete on the client's poller thread, so streams cost no threads of their own and no thread
// hand-offs per message. One write in flight at a time (gRPC's rule); queued requests follow each
// other with buffer hints. Open() may block once for an auth token. Close() cancels the call and
// returns when no tag of the stream is outstanding; no callback runs after it returns.
// REQUIRES: callbacks never call Close() (it would wait for itself).
template <typename Req, typename Resp>
class AsyncStream {
 public:
  using Opener = std::unique_ptr<grpc::ClientAsyncReaderWriter<Req, Resp>> (*)(
      ClientImpl::Endpoint&, grpc::ClientContext*, grpc::CompletionQueue*);
  // `on_response` returns OK to go on, or the status to end the stream with.
  AsyncStream(ClientImpl& client, const char* method, Opener open,
              std::function<absl::Status(const Resp&)> on_response,
              std::function<void(absl::Status)> on_closed)
      : client_(client),
        method_(method),
        open_(open),
        on_response_(std::move(on_response)),
        on_closed_(std::move(on_closed)) {}
  ~AsyncStream() { Close(); }

  void Open() {
    std::string token;
    if (client_.auth_enabled()) {
      std::stop_source never;
      auto got = client_.TokenBlocking(never.get_token());
      if (!got.ok()) {
        {
          absl::MutexLock lock(&mu_);
          done_ = true;
        }
        Deliver([&] { on_closed_(got.status()); });
        return;
      }
      token = *std::move(got);
    }
    token_ = token;
    ctx_.AddMetadata("hasleader", "true");
    if (!token.empty()) {
      ctx_.AddMetadata("token", token);
    }
    endpoint_ = client_.CurrentEndpoint();
    floor_ = client_.revisions().Begin();
    absl::MutexLock lock(&mu_);
    stream_ = open_(client_.endpoint(endpoint_), &ctx_, &client_.cq());
    stream_->StartCall(new CqTag([this](bool ok) { OnStarted(ok); }));
  }

  bool Send(Req request) {
    absl::MutexLock lock(&mu_);
    if (closed_ || read_done_ || done_) {
      return false;
    }
    queue_.push_back(std::move(request));
    MaybeWriteLocked();
    return true;
  }

  void Close() {
    {
      absl::MutexLock lock(&mu_);
      if (closed_) {
        return;
      }
      closed_ = true;
      if (stream_ == nullptr) {
        done_ = true;
      }
    }
    ctx_.TryCancel();
    { absl::MutexLock callbacks(&callback_mu_); }  // a callback under way finishes first
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

 private:
  void OnStarted(bool ok) {
    absl::MutexLock lock(&mu_);
    if (!ok) {
      read_done_ = true;
      MaybeFinishLocked();
      return;
    }
    started_ = true;
    stream_->Read(&response_, new CqTag([this](bool ok) { OnRead(ok); }));
    MaybeWriteLocked();
  }

  void OnRead(bool ok) {
    if (ok) {
      client_.revisions().Observe(floor_, response_.header().revision());
      absl::Status verdict;
      Deliver([&] { verdict = on_response_(response_); });
      absl::MutexLock lock(&mu_);
      if (!verdict.ok()) {
        end_ = verdict;
        ctx_.TryCancel();
      }
      stream_->Read(&response_, new CqTag([this](bool ok) { OnRead(ok); }));
      return;
    }
    absl::MutexLock lock(&mu_);
    read_done_ = true;
    MaybeFinishLocked();
  }

  void OnWritten(bool ok) {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      queue_.clear();  // the read side sees the end of the stream
    }
    MaybeWriteLocked();
    MaybeFinishLocked();
  }

  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!started_ || writing_ || read_done_ || queue_.empty()) {
      return;
    }
    write_request_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    grpc::WriteOptions options;
    if (!queue_.empty()) {
      options.set_buffer_hint();
    }
    stream_->Write(write_request_, options, new CqTag([this](bool ok) { OnWritten(ok); }));
  }

  // Finish once the read side is over and no write is in flight (gRPC's rule for Finish).
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!read_done_ || writing_ || finishing_) {
      return;
    }
    finishing_ = true;
    stream_->Finish(&status_, new CqTag([this](bool) { OnFinished(); }));
  }

  void OnFinished() {
    if (client_.IsTokenRejected(status_)) {
      client_.InvalidateToken(token_);
    } else if (status_.error_code() == grpc::StatusCode::UNAVAILABLE) {
      client_.MarkUnavailable(endpoint_);
    }
    absl::Status end;
    {
      absl::MutexLock lock(&mu_);
      end = end_;
    }
    if (end.ok()) {
      end = status_.ok() ? absl::UnavailableError(absl::StrCat(method_, ": stream ended by etcd"))
                         : ToStatus(method_, status_);
    }
    if (absl::IsUnauthenticated(end)) {
      client_.InvalidateToken(token_);
    }
    Deliver([&] { on_closed_(end); });
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

  // Runs a callback unless Close() was called; Close waits for one under way.
  template <typename F>
  void Deliver(F&& f) {
    absl::MutexLock callbacks(&callback_mu_);
    {
      absl::MutexLock lock(&mu_);
      if (closed_) {
        return;
      }
    }
    f();
  }

  ClientImpl& client_;
  const char* const method_;
  const Opener open_;
  const std::function<absl::Status(const Resp&)> on_response_;
  const std::function<void(absl::Status)> on_closed_;
  grpc::ClientContext ctx_;
  std::string token_;
  size_t endpoint_ = 0;
  RevisionTracker::Floor floor_{};
  Resp response_;        // owned by the one read in flight
  grpc::Status status_;  // filled by Finish

  absl::Mutex callback_mu_;
  absl::Mutex mu_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<Req, Resp>> stream_ ABSL_GUARDED_BY(mu_);
  std::deque<Req> queue_ ABSL_GUARDED_BY(mu_);
  Req write_request_ ABSL_GUARDED_BY(mu_);
  absl::Status end_ ABSL_GUARDED_BY(mu_);  // set when on_response ended the stream
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // no tag of this stream is outstanding any more
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class WatchStreamImpl final : public WatchStream {
 public:
  WatchStreamImpl(ClientImpl& client, pb::WatchCreateRequest req, WatchHandler handler)
      : handler_(std::move(handler)),
        stream_(
            client, "Watch",
            +[](ClientImpl::Endpoint& e, grpc::ClientContext* ctx, grpc::CompletionQueue* cq) {
              return e.watch->PrepareAsyncWatch(ctx, cq);
            },
            [this](const pb::WatchResponse& r) { return OnResponse(r); },
            [this](absl::Status s) { handler_.on_closed(std::move(s)); }) {
    pb::WatchRequest create;
    *create.mutable_create_request() = std::move(req);
    stream_.Open();
    stream_.Send(std::move(create));
  }
  void Close() override { stream_.Close(); }

 private:
  absl::Status OnResponse(const pb::WatchResponse& response) {
    handler_.on_response(response);
    if (!response.canceled()) {
      return absl::OkStatus();
    }
    if (response.compact_revision() > 0) {
      return absl::OutOfRangeError(
          absl::StrCat("Watch: compacted at revision ", response.compact_revision()));
    }
    if (absl::StrContains(response.cancel_reason(), "auth token")) {
      return absl::UnauthenticatedError(absl::StrCat("Watch: ", response.cancel_reason()));
    }
    if (absl::StrContains(response.cancel_reason(), "permission denied")) {
      return absl::PermissionDeniedError(absl::StrCat("Watch: ", response.cancel_reason()));
    }
    return absl::UnavailableError(
        absl::StrCat("Watch: cancelled by etcd: ", response.cancel_reason()));
  }

  const WatchHandler handler_;
  AsyncStream<pb::WatchRequest, pb::WatchResponse> stream_;
};

class KeepAliveStreamImpl final : public KeepAliveStream {
 public:
  KeepAliveStreamImpl(ClientImpl& client, KeepAliveHandler handler)
      : handler_(std::move(handler)),
        stream_(
            client, "LeaseKeepAlive",
            +[](ClientImpl::Endpoint& e, grpc::ClientContext* ctx, grpc::CompletionQueue* cq) {
              return e.lease->PrepareAsyncLeaseKeepAlive(ctx, cq);
            },
            [this](const pb::LeaseKeepAliveResponse& r) {
              handler_.on_response(r);
              return absl::OkStatus();
            },
            [this](absl::Status s) { handler_.on_closed(std::move(s)); }) {
    stream_.Open();
  }
  bool Send(int64_t lease_id) override {
    pb::LeaseKeepAliveRequest req;
    req.set_id(lease_id);
    return stream_.Send(std::move(req));
  }
  void Close() override { stream_.Close(); }

 private:
  const KeepAliveHandler handler_;
  AsyncStream<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse> stream_;
};

}  // namespace

template <typename Req, typename Resp>
struct ClientImpl::UnaryCall {
  const char* method;
  bool idempotent;
  bool needs_token;
  Invoker<Req, Resp> invoke;
  Req req;
  Callback<Resp> done;
  size_t endpoint = 0;
  int failovers_left = 1;
  bool reauthenticated = false;
  std::string token;
  RevisionTracker::Floor floor;
  std::unique_ptr<grpc::ClientContext> ctx;
  Resp resp;
  grpc::Status status;
  // Lives in the call's arena: declared after (so destroyed before) the context that owns it.
  std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> reader;
};

absl::StatusOr<std::unique_ptr<ClientImpl>> ClientImpl::Create(const ClientOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("etcd client needs at least one endpoint");
  }
  for (const std::string& address : options.endpoints) {
    if (address.empty()) {
      return absl::InvalidArgumentError("etcd endpoint is empty");
    }
  }
  ASSIGN_OR_RETURN(auto credentials, MakeCredentials(options));
  grpc::ChannelArguments args;
  const int max_backoff_ms = static_cast<int>(options.max_reconnect_backoff.count());
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, max_backoff_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetMaxReceiveMessageSize(-1);
  auto client = std::unique_ptr<ClientImpl>(new ClientImpl(options));
  for (const std::string& address : options.endpoints) {
    auto endpoint = std::make_unique<Endpoint>();
    endpoint->address = address;
    endpoint->channel = grpc::CreateCustomChannel(address, credentials, args);
    endpoint->kv = pb::KV::NewStub(endpoint->channel);
    endpoint->lease = pb::Lease::NewStub(endpoint->channel);
    endpoint->watch = pb::Watch::NewStub(endpoint->channel);
    endpoint->auth = pb::Auth::NewStub(endpoint->channel);
    endpoint->maintenance = pb::Maintenance::NewStub(endpoint->channel);
    client->endpoints_.push_back(std::move(endpoint));
  }
  client->poller_ = std::jthread([raw = client.get()] { raw->Poll(); });
  return client;
}

ClientImpl::~ClientImpl() {
  {
    absl::MutexLock lock(&inflight_mu_);
    inflight_mu_.Await(absl::Condition(
        +[](int64_t* n) { return *n == 0; }, &inflight_));
  }
  cq_.Shutdown();
  if (poller_.joinable()) {
    poller_.join();
  }
}

void ClientImpl::Poll() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
    std::unique_ptr<CqTag> done(static_cast<CqTag*>(tag));
    (*done)(ok);
  }
}

std::string ClientImpl::target() const { return absl::StrJoin(options_.endpoints, ","); }

void ClientImpl::MarkUnavailable(size_t index) {
  size_t expected = index;
  current_.compare_exchange_strong(expected, (index + 1) % endpoints_.size());
}

bool ClientImpl::IsTokenRejected(const grpc::Status& status) const {
  if (!auth_enabled()) {
    return false;
  }
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    return true;
  }
  return status.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
         (absl::StrContains(status.error_message(), "auth store is old") ||
          absl::StrContains(status.error_message(), "user name is empty"));
}

template <typename Req, typename Resp>
void ClientImpl::Call(const char* method, bool idempotent, bool needs_token,
                      Invoker<Req, Resp> invoke, Req req, Callback<Resp> done) {
  {
    absl::MutexLock lock(&inflight_mu_);
    ++inflight_;
  }
  auto call = std::make_shared<UnaryCall<Req, Resp>>();
  call->method = method;
  call->idempotent = idempotent;
  call->needs_token = needs_token && auth_enabled();
  call->invoke = invoke;
  call->req = std::move(req);
  call->done = std::move(done);
  call->endpoint = current_.load();
  Attempt(std::move(call));
}

template <typename Req, typename Resp>
void ClientImpl::Attempt(std::shared_ptr<UnaryCall<Req, Resp>> call) {
  if (!call->needs_token) {
    Send(std::move(call));
    return;
  }
  WithToken([this, call](absl::StatusOr<std::string> token) {
    if (!token.ok()) {
      Finish(call, token.status());
      return;
    }
    call->token = *std::move(token);
    Send(call);
  });
}

template <typename Req, typename Resp>
void ClientImpl::Send(std::shared_ptr<UnaryCall<Req, Resp>> call) {
  call->reader.reset();
  call->ctx = std::make_unique<grpc::ClientContext>();
  SetDeadline(*call->ctx, options_.request_timeout);
  if (!call->token.empty()) {
    call->ctx->AddMetadata("token", call->token);
  }
  call->resp.Clear();
  call->floor = revisions_.Begin();
  call->reader = call->invoke(*endpoints_[call->endpoint], call->ctx.get(), call->req, &cq_);
  call->reader->StartCall();
  auto* tag = new CqTag([this, call](bool) { OnDone(call, call->status); });
  call->reader->Finish(&call->resp, &call->status, tag);
}

template <typename Req, typename Resp>
void ClientImpl::OnDone(std::shared_ptr<UnaryCall<Req, Resp>> call, const grpc::Status& status) {
  if (status.ok()) {
    revisions_.Observe(call->floor, call->resp.header().revision());
    Finish(call, std::move(call->resp));
    return;
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    MarkUnavailable(call->endpoint);
    if (call->idempotent && call->failovers_left > 0 && endpoints_.size() > 1) {
      --call->failovers_left;
      call->endpoint = (call->endpoint + 1) % endpoints_.size();
      Send(call);
      return;
    }
  }
  if (call->needs_token && !call->reauthenticated && IsTokenRejected(status)) {
    call->reauthenticated = true;
    InvalidateToken(call->token);
    Attempt(call);
    return;
  }
  absl::Status error = ToStatus(call->method, status);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    error = absl::UnavailableError(
        absl::StrCat(error.message(), " (endpoint ", endpoints_[call->endpoint]->address, ")"));
  }
  Finish(call, error);
}

template <typename Req, typename Resp>
void ClientImpl::Finish(std::shared_ptr<UnaryCall<Req, Resp>> call,
                        std::type_identity_t<absl::StatusOr<Resp>> result) {
  Callback<Resp> done = std::move(call->done);
  done(std::move(result));
  absl::MutexLock lock(&inflight_mu_);
  --inflight_;
}

void ClientImpl::WithToken(std::function<void(absl::StatusOr<std::string>)> ready) {
  std::string token;
  bool start = false;
  {
    absl::MutexLock lock(&auth_mu_);
    if (!token_.empty()) {
      token = token_;
    } else {
      token_waiters_.push_back(std::move(ready));
      start = !auth_in_flight_;
      auth_in_flight_ = true;
    }
  }
  if (!token.empty()) {
    ready(std::move(token));
    return;
  }
  if (start) {
    pb::AuthenticateRequest req;
    req.set_name(options_.username);
    req.set_password(options_.password);
    Call<pb::AuthenticateRequest, pb::AuthenticateResponse>(
        "Authenticate", /*idempotent=*/true, /*needs_token=*/false,
        +[](Endpoint& e, grpc::ClientContext* c, const pb::AuthenticateRequest& q,
            grpc::CompletionQueue* cq) { return e.auth->PrepareAsyncAuthenticate(c, q, cq); },
        std::move(req),
        [this](absl::StatusOr<pb::AuthenticateResponse> result) {
          OnAuthenticated(std::move(result));
        });
  }
}

void ClientImpl::OnAuthenticated(absl::StatusOr<pb::AuthenticateResponse> result) {
  absl::StatusOr<std::string> token;
  if (result.ok()) {
    ++authentications_;
    token = result->token();
  } else if (absl::IsInvalidArgument(result.status()) &&
             absl::StrContains(result.status().message(), "authentication failed")) {
    token = absl::UnauthenticatedError(absl::StrCat("etcd authentication failed for user ",
                                                    options_.username, ": ",
                                                    result.status().message()));
  } else {
    token = result.status();
  }
  std::vector<std::function<void(absl::StatusOr<std::string>)>> waiters;
  {
    absl::MutexLock lock(&auth_mu_);
    auth_in_flight_ = false;
    if (token.ok()) {
      token_ = *token;
    }
    waiters.swap(token_waiters_);
  }
  for (auto& waiter : waiters) {
    waiter(token);
  }
}

void ClientImpl::InvalidateToken(const std::string& token) {
  absl::MutexLock lock(&auth_mu_);
  if (token_ == token) {
    token_.clear();
  }
}

absl::StatusOr<std::string> ClientImpl::TokenBlocking(std::stop_token stop) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<std::string>>>();
  auto future = promise->get_future();
  WithToken([promise](absl::StatusOr<std::string> token) { promise->set_value(std::move(token)); });
  while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (stop.stop_requested()) {
      return absl::CancelledError("stream closed while authenticating");
    }
  }
  return future.get();
}

#define ER_ETCD_UNARY(Name, StubMember, Method, Req, Resp, Idempotent)                      \
  void ClientImpl::Name(Req req, Callback<Resp> done) {                                     \
    Call<Req, Resp>(                                                                        \
        #Method, Idempotent, /*needs_token=*/true,                                          \
        +[](Endpoint& e, grpc::ClientContext* c, const Req& q, grpc::CompletionQueue* cq) { \
          return e.StubMember->PrepareAsync##Method(c, q, cq);                              \
        },                                                                                  \
        std::move(req), std::move(done));                                                   \
  }

ER_ETCD_UNARY(Range, kv, Range, pb::RangeRequest, pb::RangeResponse, true)
ER_ETCD_UNARY(Put, kv, Put, pb::PutRequest, pb::PutResponse, false)
ER_ETCD_UNARY(DeleteRange, kv, DeleteRange, pb::DeleteRangeRequest, pb::DeleteRangeResponse, false)
ER_ETCD_UNARY(Txn, kv, Txn, pb::TxnRequest, pb::TxnResponse, false)
ER_ETCD_UNARY(Compact, kv, Compact, pb::CompactionRequest, pb::CompactionResponse, false)
ER_ETCD_UNARY(LeaseGrant, lease, LeaseGrant, pb::LeaseGrantRequest, pb::LeaseGrantResponse, false)
ER_ETCD_UNARY(LeaseRevoke, lease, LeaseRevoke, pb::LeaseRevokeRequest, pb::LeaseRevokeResponse,
              false)
ER_ETCD_UNARY(LeaseTimeToLive, lease, LeaseTimeToLive, pb::LeaseTimeToLiveRequest,
              pb::LeaseTimeToLiveResponse, true)
ER_ETCD_UNARY(LeaseLeases, lease, LeaseLeases, pb::LeaseLeasesRequest, pb::LeaseLeasesResponse,
              true)
ER_ETCD_UNARY(Status, maintenance, Status, pb::StatusRequest, pb::StatusResponse, true)

#undef ER_ETCD_UNARY

absl::StatusOr<WatchStreamPtr> ClientImpl::Watch(pb::WatchCreateRequest req, WatchHandler handler) {
  if (req.key().empty()) {
    return absl::InvalidArgumentError("Watch: key is empty");
  }
  if (!handler.on_response || !handler.on_closed) {
    return absl::InvalidArgumentError("Watch: handler needs on_response and on_closed");
  }
  return std::make_unique<WatchStreamImpl>(*this, std::move(req), std::move(handler));
}

absl::StatusOr<KeepAliveStreamPtr> ClientImpl::KeepAlive(KeepAliveHandler handler) {
  if (!handler.on_response || !handler.on_closed) {
    return absl::InvalidArgumentError("LeaseKeepAlive: handler needs on_response and on_closed");
  }
  return std::make_unique<KeepAliveStreamImpl>(*this, std::move(handler));
}

}  // namespace registrar::etcd
