#include "controller/etcd/async_stream.h"

#include <atomic>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

#include "controller/common/status.h"
#include "controller/etcd/client_impl.h"
#include "controller/etcd/credentials.h"
#include "spdlog/spdlog.h"

namespace registrar::etcd {
namespace {

std::atomic<int64_t> live_objects{0};
std::atomic<int64_t> live_calls{0};

absl::Status ToStatus(const char* method, const grpc::Status& status) {
  return FromGrpcCode(status.error_code(), absl::StrCat(method, ": ", status.error_message()));
}

// One gRPC bidi stream on the client's completion queue: reads, writes and the end of the call
// complete on the client's poller thread, so streams cost no threads of their own and no thread
// hand-offs per message. One write in flight at a time (gRPC's rule); queued requests follow each
// other with buffer hints. Open() never blocks: the call starts when a token is there. Close()
// cancels the call (or the wait for a token) and returns when no tag of the stream is
// outstanding; no callback runs after it returns.
// REQUIRES: callbacks never call Close() (it would wait for itself).
template <typename Req, typename Resp>
class AsyncStream {
 public:
  using Opener = std::unique_ptr<grpc::ClientAsyncReaderWriterInterface<Req, Resp>> (*)(
      ClientImpl::Endpoint&, grpc::ClientContext*, grpc::CompletionQueue*);
  // `on_response` returns OK to go on, or the status to end the stream with.
  AsyncStream(ClientImpl& client, const char* method, Opener open,
              std::function<absl::Status(const Resp&)> on_response,
              std::function<void(absl::Status)> on_closed)
      : client_(client),
        method_(method),
        open_(open),
        on_response_(std::move(on_response)),
        on_closed_(std::move(on_closed)) {
    live_objects.fetch_add(1, std::memory_order_relaxed);
  }
  ~AsyncStream() {
    Close();
    live_objects.fetch_sub(1, std::memory_order_relaxed);
  }

  void Open() {
    if (!client_.auth_enabled()) {
      Start("");
      return;
    }
    auto wait = std::make_shared<TokenWait>(this);
    {
      absl::MutexLock lock(&mu_);
      token_wait_ = wait;
    }
    client_.tokens().Get([wait](absl::StatusOr<std::string> token) {
      absl::MutexLock lock(&wait->mu);
      if (wait->stream != nullptr) {
        wait->stream->OnToken(std::move(token));
      }
    });
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
    std::shared_ptr<TokenWait> wait;
    {
      absl::MutexLock lock(&mu_);
      if (closed_) {
        return;
      }
      closed_ = true;
      if (stream_ == nullptr) {
        done_ = true;  // Start() sees closed_ and will not start the call
      }
      wait = std::move(token_wait_);
    }
    if (wait != nullptr) {
      absl::MutexLock lock(&wait->mu);  // a token callback under way finishes first
      wait->stream = nullptr;
    }
    ctx_.TryCancel();
    { absl::MutexLock callbacks(&callback_mu_); }  // a callback under way finishes first
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

 private:
  // The pending token request of a stream; Close() detaches the stream from it.
  struct TokenWait {
    explicit TokenWait(AsyncStream* s) : stream(s) {}
    absl::Mutex mu;
    AsyncStream* stream ABSL_GUARDED_BY(mu);  // null once the stream closed
  };

  void OnToken(absl::StatusOr<std::string> token) {
    if (token.ok()) {
      Start(*std::move(token));
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    Deliver([&] { on_closed_(token.status()); });
  }

  void Start(const std::string& token) {
    absl::MutexLock lock(&mu_);
    if (closed_) {
      return;
    }
    token_ = token;
    ctx_.AddMetadata("hasleader", "true");
    if (!token.empty()) {
      ctx_.AddMetadata("token", token);
    }
    endpoint_ = client_.CurrentEndpoint();
    floor_ = client_.revisions().Begin();
    stream_ = open_(client_.endpoint(endpoint_), &ctx_, &client_.cq());
    live_calls.fetch_add(1, std::memory_order_relaxed);
    stream_->StartCall(new CqTag([this](bool ok) { OnStarted(ok); }));
  }

  // The tag handlers below run on the client's poller thread only; response_ and status_ are
  // touched by gRPC and by them alone.
  void AssertOnPoller() const {
    if (!client_.OnPollerThread()) {
      spdlog::critical("etcd {}: stream tag handled off the client's poller thread", method_);
      std::abort();
    }
  }

  void OnStarted(bool ok) {
    AssertOnPoller();
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
    AssertOnPoller();
    if (ok) {
      {
        absl::MutexLock lock(&mu_);
        client_.revisions().Observe(floor_, response_.header().revision());
      }
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
    AssertOnPoller();
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
    AssertOnPoller();
    absl::Status end;
    std::string token;
    size_t endpoint;
    {
      absl::MutexLock lock(&mu_);
      end = end_;
      token = token_;
      endpoint = endpoint_;
    }
    if (client_.IsTokenRejected(status_)) {
      client_.tokens().Invalidate(token);
    } else if (status_.error_code() == grpc::StatusCode::UNAVAILABLE) {
      client_.MarkUnavailable(endpoint);
    }
    if (end.ok()) {
      end = status_.ok() ? absl::UnavailableError(absl::StrCat(method_, ": stream ended by etcd"))
                         : ExplainTlsFailure(client_.options(), ToStatus(method_, status_));
    }
    if (absl::IsUnauthenticated(end) ||
        (token.empty() && client_.auth_enabled() && absl::IsPermissionDenied(end))) {
      client_.tokens().Invalidate(token);  // "": etcd without auth enabled it meanwhile
    }
    Deliver([&] { on_closed_(end); });
    live_calls.fetch_sub(1, std::memory_order_relaxed);
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
  grpc::ClientContext ctx_;  // thread-safe for TryCancel; metadata added once, in Start
  Resp response_;            // poller thread only: owned by the one read in flight
  grpc::Status status_;      // poller thread only: filled by Finish

  absl::Mutex callback_mu_;
  absl::Mutex mu_;
  std::shared_ptr<TokenWait> token_wait_ ABSL_GUARDED_BY(mu_);
  std::string token_ ABSL_GUARDED_BY(mu_);    // the token the call was started with
  size_t endpoint_ ABSL_GUARDED_BY(mu_) = 0;  // the endpoint it was started on
  RevisionTracker::Floor floor_ ABSL_GUARDED_BY(mu_){};
  std::unique_ptr<grpc::ClientAsyncReaderWriterInterface<Req, Resp>> stream_ ABSL_GUARDED_BY(mu_);
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

WatchStreamPtr OpenWatchStream(ClientImpl& client, pb::WatchCreateRequest req,
                               WatchHandler handler) {
  return std::make_unique<WatchStreamImpl>(client, std::move(req), std::move(handler));
}

KeepAliveStreamPtr OpenKeepAliveStream(ClientImpl& client, KeepAliveHandler handler) {
  return std::make_unique<KeepAliveStreamImpl>(client, std::move(handler));
}

LiveStreams CountLiveStreams() {
  return {live_objects.load(std::memory_order_relaxed), live_calls.load(std::memory_order_relaxed)};
}

}  // namespace registrar::etcd
