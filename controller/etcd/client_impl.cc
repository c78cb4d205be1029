#include "controller/etcd/client_impl.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "controller/common/status.h"
#include "controller/common/thread_name.h"
#include "controller/etcd/async_stream.h"
#include "controller/etcd/credentials.h"
#include "controller/etcd/event_engine.h"

namespace registrar::etcd {
namespace {

constexpr int kInitialReconnectBackoffMs = 100;
constexpr int kKeepaliveTimeMs = 10000;  // etcd refuses pings more often than every 5 s
constexpr int kKeepaliveTimeoutMs = 5000;

absl::Status ToStatus(const char* method, const grpc::Status& status) {
  return FromGrpcCode(status.error_code(), absl::StrCat(method, ": ", status.error_message()));
}

// Identifies one version of a file: inode, size, mtime; "" when it cannot be stat'ed.
std::string FileStamp(const std::string& path) {
  struct stat st {};
  if (path.empty() || stat(path.c_str(), &st) != 0) {
    return "";
  }
  return absl::StrCat(st.st_dev, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
}

std::vector<std::unique_ptr<ClientImpl::Endpoint>> Own(std::vector<ClientImpl::Endpoint> in) {
  std::vector<std::unique_ptr<ClientImpl::Endpoint>> out;
  out.reserve(in.size());
  for (ClientImpl::Endpoint& endpoint : in) {
    out.push_back(std::make_unique<ClientImpl::Endpoint>(std::move(endpoint)));
  }
  return out;
}

}  // namespace

// One unary call and its retries. Not locked: its steps hand it on one at a time (the caller's
// thread sends the first attempt, then each completion tag runs on the poller thread and may send
// the next), so no two threads touch it at once; the completion queue orders the hand-offs.
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
  std::unique_ptr<grpc::ClientAsyncResponseReaderInterface<Resp>> reader;
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
  // Before gRPC initializes (the credentials do): its EventEngine is ours (event_engine.h).
  InstallEventEngine();
  RouteGrpcLogging();
  ASSIGN_OR_RETURN(auto credentials, MakeChannelCredentials(options));
  grpc::ChannelArguments args;
  const int max_backoff_ms = static_cast<int>(options.max_reconnect_backoff.count());
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, max_backoff_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // No gRPC retry filter: this client retries and fails over itself (above and in the stream
  // owners), and the filter's transparent retries in grpc 1.51 left every long etcd stall
  // (> the keep-alive) with 10-25 MiB more heap that was never given back, in the call arenas of
  // the watches reopened meanwhile (the fault soak, docs/testing.md; gone without the filter).
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // No BDP probing: gRPC pings after reads to size the HTTP/2 window for bulk transfers and arms
  // a timer for the next probe; our messages are small, and on an idle connection those pings and
  // timers were most of the process's wake-ups (docs/architecture.md, "Threads").
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetMaxReceiveMessageSize(-1);
  std::vector<Endpoint> endpoints;
  for (const std::string& address : options.endpoints) {
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(address, credentials, args);
    Endpoint endpoint;
    endpoint.address = address;
    endpoint.kv = pb::KV::NewStub(channel);
    endpoint.lease = pb::Lease::NewStub(channel);
    endpoint.watch = pb::Watch::NewStub(channel);
    endpoint.auth = pb::Auth::NewStub(channel);
    endpoint.maintenance = pb::Maintenance::NewStub(channel);
    endpoints.push_back(std::move(endpoint));
  }
  return Create(options, std::move(endpoints), RealClock::Get());
}

absl::StatusOr<std::unique_ptr<ClientImpl>> ClientImpl::Create(const ClientOptions& options,
                                                               std::vector<Endpoint> endpoints,
                                                               Clock& clock) {
  if (endpoints.empty()) {
    return absl::InvalidArgumentError("etcd client needs at least one endpoint");
  }
  for (const Endpoint& e : endpoints) {
    if (!e.kv || !e.lease || !e.watch || !e.auth || !e.maintenance) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd endpoint ", e.address, " lacks a service stub"));
    }
  }
  auto client = std::unique_ptr<ClientImpl>(new ClientImpl(options, std::move(endpoints), clock));
  client->poller_ = std::jthread([raw = client.get()] { raw->Poll(); });
  client->poller_id_ = client->poller_.get_id();
  return client;
}

ClientImpl::ClientImpl(const ClientOptions& options, std::vector<Endpoint> endpoints, Clock& clock)
    : options_(options),
      endpoints_(Own(std::move(endpoints))),
      clock_(clock),
      password_(options.password),
      password_stamp_(FileStamp(options.password_file)),
      tokens_(
          options.username, target(), clock,
          [this](TokenSource::TokenCallback done) { Authenticate(std::move(done)); },
          [this] { return RefreshPassword(); }) {}

bool ClientImpl::RefreshPassword() {
  if (options_.password_file.empty()) {
    return false;
  }
  std::string stamp = FileStamp(options_.password_file);
  absl::MutexLock lock(&password_mu_);
  if (stamp.empty() || stamp == password_stamp_) {
    return false;
  }
  password_stamp_ = stamp;
  std::ifstream in(options_.password_file, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  std::string password = content.str();
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
    password.pop_back();
  }
  if (!in || password.empty() || password == password_) {
    return false;
  }
  password_ = std::move(password);
  return true;
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
  SetCurrentThreadName("etcd-cq");
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
    std::unique_ptr<CqTag> done(static_cast<CqTag*>(tag));
    (*done)(ok);
  }
}

std::string ClientImpl::target() const {
  return absl::StrJoin(endpoints_, ",", [](std::string* out, const std::unique_ptr<Endpoint>& e) {
    out->append(e->address);
  });
}

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
  Attempt(std::move(call));
}

template <typename Req, typename Resp>
void ClientImpl::Attempt(std::shared_ptr<UnaryCall<Req, Resp>> call) {
  // The endpoint is chosen when the attempt goes out: authenticating may have moved it.
  if (!call->needs_token) {
    call->endpoint = current_.load();
    Send(std::move(call));
    return;
  }
  tokens_.Get([this, call](absl::StatusOr<std::string> token) {
    if (!token.ok()) {
      Finish(call, token.status());
      return;
    }
    call->token = *std::move(token);
    call->endpoint = current_.load();
    Send(call);
  });
}

template <typename Req, typename Resp>
void ClientImpl::Send(std::shared_ptr<UnaryCall<Req, Resp>> call) {
  call->reader.reset();
  call->ctx = std::make_unique<grpc::ClientContext>();
  call->ctx->set_deadline(clock_.WallNow() + options_.request_timeout);
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
    tokens_.Invalidate(call->token);
    Attempt(call);
    return;
  }
  absl::Status error = ToStatus(call->method, status);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    error = absl::UnavailableError(
        absl::StrCat(error.message(), " (endpoint ", endpoints_[call->endpoint]->address, ")"));
  }
  Finish(call, ExplainTlsFailure(options_, std::move(error)));
}

template <typename Req, typename Resp>
void ClientImpl::Finish(std::shared_ptr<UnaryCall<Req, Resp>> call,
                        std::type_identity_t<absl::StatusOr<Resp>> result) {
  Callback<Resp> done = std::move(call->done);
  done(std::move(result));
  absl::MutexLock lock(&inflight_mu_);
  --inflight_;
}

void ClientImpl::Authenticate(TokenSource::TokenCallback done) {
  pb::AuthenticateRequest req;
  req.set_name(options_.username);
  RefreshPassword();
  {
    absl::MutexLock lock(&password_mu_);
    req.set_password(password_);
  }
  Call<pb::AuthenticateRequest, pb::AuthenticateResponse>(
      "Authenticate", /*idempotent=*/true, /*needs_token=*/false,
      +[](Endpoint& e, grpc::ClientContext* c, const pb::AuthenticateRequest& q,
          grpc::CompletionQueue* cq) { return e.auth->PrepareAsyncAuthenticate(c, q, cq); },
      std::move(req),
      [done = std::move(done)](absl::StatusOr<pb::AuthenticateResponse> result) {
        if (!result.ok()) {
          done(result.status());
          return;
        }
        done(std::move(*result->mutable_token()));
      });
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
  return OpenWatchStream(*this, std::move(req), std::move(handler));
}

absl::StatusOr<KeepAliveStreamPtr> ClientImpl::KeepAlive(KeepAliveHandler handler) {
  if (!handler.on_response || !handler.on_closed) {
    return absl::InvalidArgumentError("LeaseKeepAlive: handler needs on_response and on_closed");
  }
  return OpenKeepAliveStream(*this, std::move(handler));
}

}  // namespace registrar::etcd
