// File: controller/kube/client_impl.h
//
// The Client of client.h over cpprestsdk's http_client (Boost.Asio, OpenSSL), one per cluster.
//
// Flow of Call(): the client-side rate limit (rate_limiter.h) gives the start time; the calling
// thread sleeps until then outside any lock (a start later than the request's deadline is
// kDeadlineExceeded at once). The bearer token comes from Credentials::Token() (no Authorization
// header when it is empty). The request goes out with a pplx::cancellation_token; one task-based
// continuation reads the answer (status, Retry-After, the whole body) inside try/catch and hands
// it to the caller through a mutex, so nothing is thrown or waited for on a pplx thread. The
// caller waits until the request's deadline; past it the token is cancelled (cpprest closes the
// socket) and the answer is kDeadlineExceeded. A 401 calls Credentials::Invalidate() and retries
// once. Non-2xx answers become StatusFromResponse(code, body, Retry-After); transport failures
// are kUnavailable naming the server and the cause ("TLS handshake ..." for certificate trouble).
// Watch() does the same up to the response headers; a 2xx answer becomes a WatchStream reading
// the chunked body (see below); a watch counts against the rate limit when it opens only.
//
// TLS: every new connection gets a fresh boost::asio::ssl::context from cpprest, which first
// loads the system's default roots; the callback then replaces the trust store with `ca_pem` when
// it is set (only that CA is trusted, as client-go does), adds the client certificate and key,
// and requires TLS 1.2. The peer and host name are verified by cpprest (RFC 2818, IP SANs too)
// unless insecure_skip_tls_verify. cpprest verifies (and sends as SNI) the request's Host header
// when there is one, else the URL's host: so `tls_server_name` is sent as the Host header (the
// API server ignores Host; client-go sends the URL's host and verifies ServerName instead).
// The PEM material is checked once by NewClient, so the callback (on a pplx thread) cannot fail.
//
// cpprest's own timeout (http_client_config::set_timeout) is not a deadline for the request: its
// timer is restarted by every network event (connect, each chunk read), so it is an inactivity
// timeout that also runs while a watch body is streaming, and it would cut a watch that is quiet
// for longer (tests/integration/kube/kube_client_test.cc, CpprestTimeout*, shows both halves).
// The client therefore sets it to kTransportTimeout (a day) and enforces Request::timeout and the
// watch's idle timeout itself.
//
// The WatchStream is watch_stream_impl.h.
//
// Thread-safety: Call() and Watch() from any thread at once (the rate limiter is behind a mutex;
// http_client is thread-safe). A WatchStream is read by one thread; Cancel() from any thread.
// Ownership: the client owns the Credentials and the http_client; a WatchStream holds the
// response body, its cancellation source and a reference to the Clock, not the client (its
// request was counted when it opened); client.h still asks callers not to outlive the client.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include <cpprest/http_client.h>

#include "controller/common/clock.h"
#include "controller/kube/client.h"
#include "controller/kube/config.h"
#include "controller/kube/credentials.h"
#include "controller/kube/rate_limiter.h"

namespace registrar::kube {

// cpprest's inactivity timeout; deadlines are the client's own (see above).
inline constexpr std::chrono::hours kTransportTimeout{24};

// "path?k=v&..." with the path percent-encoded as a URI path ('/' kept) and every query key and
// value percent-encoded (everything but A-Z a-z 0-9 - . _ ~).
std::string RequestTarget(const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& query);

// Checks what the TLS callback will load: the server URL (http or https, a host), `ca_pem` (at
// least one certificate), the client certificate and key (both or neither, PEM, a matching
// pair). The error is kInvalidArgument naming the field and the config's origin.
absl::Status CheckClusterConfig(const ClusterConfig& config);

class ClientImpl final : public Client {
 public:
  static absl::StatusOr<std::unique_ptr<ClientImpl>> Create(const ClusterConfig& config,
                                                            std::unique_ptr<Credentials> credentials,
                                                            ClientOptions options, Clock& clock);

  absl::StatusOr<std::string> Call(const Request& request) override;
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(
      const Request& request, std::chrono::milliseconds idle_timeout) override;

  // What one HTTP exchange gave: the status line, Retry-After, the body (for a watch's 2xx answer
  // the body is left to the stream), or the transport error.
  struct Answer;

 private:
  ClientImpl(const ClusterConfig& config, std::unique_ptr<Credentials> credentials,
             ClientOptions options, Clock& clock);

  // Waits for the rate limiter; kDeadlineExceeded when the start would be after `deadline`.
  absl::Status Pace(const Request& request, Clock::TimePoint deadline);
  // One request/answer (with the 401 retry around it in Call/Watch).
  absl::StatusOr<Answer> Exchange(const Request& request, Clock::TimePoint deadline, bool stream);
  absl::StatusOr<Answer> ExchangeWithRetry(const Request& request, bool stream);
  void Count(const Request& request, int code, Clock::TimePoint started);

  const std::string server_;
  const std::string host_header_;  // tls_server_name, or empty
  const std::unique_ptr<Credentials> credentials_;
  const ClientOptions options_;
  Clock& clock_;
  std::unique_ptr<web::http::client::http_client> http_;

  absl::Mutex mu_;
  RateLimiter limiter_ ABSL_GUARDED_BY(mu_);
};

}  // namespace registrar::kube
