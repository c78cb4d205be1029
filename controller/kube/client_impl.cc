#include "controller/kube/client_impl.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include <cpprest/uri.h>

#include "controller/kube/api_status.h"
#include "controller/kube/watch_stream_impl.h"

namespace registrar::kube {

struct ClientImpl::Answer {
  int code = 0;
  std::string body;
  std::string retry_after;
  web::http::http_response response;  // a watch's 2xx answer: its body is the stream
  std::shared_ptr<pplx::cancellation_token_source> cancel;
};

namespace {

using TimePoint = Clock::TimePoint;

absl::Duration Remaining(TimePoint deadline, TimePoint now) {
  return deadline > now ? absl::FromChrono(deadline - now) : absl::ZeroDuration();
}

std::string Format(std::chrono::milliseconds d) {
  return absl::FormatDuration(absl::FromChrono(d));
}

// The certificates in a PEM string; 0 when there are none.
int CountCertificates(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) {
    return 0;
  }
  int n = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_free(cert);
    ++n;
  }
  BIO_free(bio);
  ERR_clear_error();
  return n;
}

struct TlsMaterial {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

// Loads `tls` into a context; the first failure as "<what>: <OpenSSL's words>".
absl::Status LoadTls(boost::asio::ssl::context& ctx, const TlsMaterial& tls) {
  boost::system::error_code ec;
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  if (!tls.ca_pem.empty()) {
    // Only this CA: drop the system roots cpprest loaded.
    SSL_CTX_set_cert_store(ctx.native_handle(), X509_STORE_new());
    ctx.add_certificate_authority(boost::asio::buffer(tls.ca_pem), ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat("certificate-authority: ", ec.message()));
    }
  }
  if (!tls.cert_pem.empty()) {
    ctx.use_certificate_chain(boost::asio::buffer(tls.cert_pem), ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat("client-certificate: ", ec.message()));
    }
    ctx.use_private_key(boost::asio::buffer(tls.key_pem), boost::asio::ssl::context::pem, ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat("client-key: ", ec.message()));
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError("client-key does not match client-certificate");
    }
  }
  return absl::OkStatus();
}

absl::Status WithContext(const absl::Status& status, const std::string& prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// A transport failure (no HTTP answer) as kUnavailable naming the server and the cause.
absl::Status TransportError(const std::string& server, const Request& request,
                            const std::string& what) {
  std::string cause = what;
  if (absl::StrContains(what, "SSL") || absl::StrContains(what, "handshake")) {
    cause = absl::StrCat("TLS handshake failed (", what,
                         "): check certificate-authority, tls-server-name and the client "
                         "certificate");
  }
  return absl::UnavailableError(
      absl::StrCat("kube API ", server, ": ", request.method, " ", request.path, ": ", cause));
}

// Where a request's continuation leaves the answer for the waiting caller. Shared by both: a
// caller that gave up (deadline) leaves it to the continuation.
struct Pending {
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  std::optional<ClientImpl::Answer> answer ABSL_GUARDED_BY(mu);
  std::string error ABSL_GUARDED_BY(mu);  // transport failure

  void Finish(ClientImpl::Answer a) {
    absl::MutexLock lock(&mu);
    answer = std::move(a);
    done = true;
  }
  void Fail(std::string what) {
    absl::MutexLock lock(&mu);
    error = std::move(what);
    done = true;
  }
};

std::string HeaderValue(const web::http::http_headers& headers, const std::string& name) {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

}  // namespace

std::string RequestTarget(const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& query) {
  std::string target = web::uri::encode_uri(path, web::uri::components::path);
  char sep = '?';
  for (const auto& [key, value] : query) {
    absl::StrAppend(&target, std::string(1, sep), web::uri::encode_data_string(key), "=",
                    web::uri::encode_data_string(value));
    sep = '&';
  }
  return target;
}

absl::Status CheckClusterConfig(const ClusterConfig& config) {
  const std::string origin = config.origin.empty() ? "" : absl::StrCat(" (", config.origin, ")");
  if (config.server.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("kube config", origin, ": server is empty"));
  }
  try {
    web::uri uri(config.server);
    if ((uri.scheme() != "https" && uri.scheme() != "http") || uri.host().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kube config", origin, ": server \"", config.server, "\" is not an http(s) URL"));
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("kube config", origin, ": server \"",
                                                   config.server, "\": ", e.what()));
  }
  if (!config.ca_pem.empty() && CountCertificates(config.ca_pem) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kube config", origin, ": certificate-authority holds no PEM certificate"));
  }
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kube config", origin, ": client-certificate and client-key must be given together"));
  }
  if (!config.client_cert_pem.empty() && CountCertificates(config.client_cert_pem) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kube config", origin, ": client-certificate holds no PEM certificate"));
  }
  try {
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
    absl::Status loaded =
        LoadTls(ctx, {config.ca_pem, config.client_cert_pem, config.client_key_pem});
    if (!loaded.ok()) {
      return WithContext(loaded, absl::StrCat("kube config", origin, ": "));
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("kube config", origin, ": TLS: ", e.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Client>> NewClient(const ClusterConfig& config,
                                                  std::unique_ptr<Credentials> credentials,
                                                  ClientOptions options, Clock& clock) {
  absl::StatusOr<std::unique_ptr<ClientImpl>> client =
      ClientImpl::Create(config, std::move(credentials), std::move(options), clock);
  if (!client.ok()) {
    return client.status();
  }
  return std::unique_ptr<Client>(std::move(*client));
}

absl::StatusOr<std::unique_ptr<ClientImpl>> ClientImpl::Create(
    const ClusterConfig& config, std::unique_ptr<Credentials> credentials, ClientOptions options,
    Clock& clock) {
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("kube client: no credentials");
  }
  if (absl::Status s = CheckClusterConfig(config); !s.ok()) {
    return s;
  }
  auto client = std::unique_ptr<ClientImpl>(
      new ClientImpl(config, std::move(credentials), std::move(options), clock));
  web::http::client::http_client_config http_config;
  http_config.set_timeout(std::chrono::duration_cast<std::chrono::seconds>(kTransportTimeout));
  http_config.set_validate_certificates(!config.insecure_skip_tls_verify);
  TlsMaterial tls{config.ca_pem, config.client_cert_pem, config.client_key_pem};
  http_config.set_ssl_context_callback([tls](boost::asio::ssl::context& ctx) {
    // Checked by CheckClusterConfig: cannot fail here (and must not throw on a pplx thread).
    try {
      (void)LoadTls(ctx, tls);
    } catch (...) {
    }
  });
  try {
    client->http_ = std::make_unique<web::http::client::http_client>(web::uri(config.server),
                                                                      http_config);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("kube client for ", config.server, ": ", e.what()));
  }
  return client;
}

ClientImpl::ClientImpl(const ClusterConfig& config, std::unique_ptr<Credentials> credentials,
                       ClientOptions options, Clock& clock)
    : server_(config.server),
      host_header_(config.tls_server_name),
      credentials_(std::move(credentials)),
      options_(std::move(options)),
      clock_(clock),
      limiter_(options_.qps, options_.burst, clock.Now()) {}

absl::Status ClientImpl::Pace(const Request& request, TimePoint deadline) {
  const TimePoint now = clock_.Now();
  TimePoint start;
  {
    absl::MutexLock lock(&mu_);
    start = limiter_.Reserve(now);
    if (start > deadline) {
      limiter_.Give(now);
    }
  }
  if (start > deadline) {
    return absl::DeadlineExceededError(absl::StrCat(
        "kube API ", server_, ": ", request.method, " ", request.path,
        ": the client-side rate limit (--kube-api-qps ", options_.qps, ", --kube-api-burst ",
        options_.burst, ") would start it after its deadline"));
  }
  if (start > now) {
    std::this_thread::sleep_for(start - now);
  }
  return absl::OkStatus();
}

void ClientImpl::Count(const Request& request, int code, TimePoint started) {
  if (options_.on_request) {
    options_.on_request(request.verb, request.resource, code,
                        std::chrono::duration<double>(clock_.Now() - started).count());
  }
}

absl::StatusOr<ClientImpl::Answer> ClientImpl::Exchange(const Request& request,
                                                         TimePoint deadline, bool stream) {
  absl::StatusOr<std::string> token = credentials_->Token();
  if (!token.ok()) {
    return WithContext(token.status(), absl::StrCat("kube API ", server_, ": credentials: "));
  }
  web::http::http_request msg{web::http::method(request.method)};
  try {
    msg.set_request_uri(web::uri(RequestTarget(request.path, request.query)));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("kube API request ", request.method, " ", request.path, ": ", e.what()));
  }
  msg.headers().add("Accept", "application/json");
  msg.headers().add("User-Agent", options_.user_agent);
  if (!token->empty()) {
    msg.headers().add("Authorization", absl::StrCat("Bearer ", *token));
  }
  if (!host_header_.empty()) {
    msg.headers().add("Host", host_header_);
  }
  if (!request.body.empty() || request.method == "POST" || request.method == "PATCH" ||
      request.method == "PUT") {
    msg.set_body(request.body, request.content_type.empty() ? std::string("application/json")
                                                            : request.content_type);
  }

  auto cancel = std::make_shared<pplx::cancellation_token_source>();
  auto pending = std::make_shared<Pending>();
  const TimePoint started = clock_.Now();
  try {
    http_->request(msg, cancel->get_token())
        .then([pending, stream, cancel](pplx::task<web::http::http_response> t) {
          try {
            web::http::http_response response = t.get();
            Answer answer;
            answer.code = response.status_code();
            answer.retry_after = HeaderValue(response.headers(), "Retry-After");
            if (stream && answer.code >= 200 && answer.code < 300) {
              answer.response = response;
              answer.cancel = cancel;
              pending->Finish(std::move(answer));
              return;
            }
            response.extract_utf8string(/*ignore_content_type=*/true)
                .then([pending, answer](pplx::task<std::string> body) mutable {
                  try {
                    answer.body = body.get();
                    pending->Finish(std::move(answer));
                  } catch (...) {
                    pending->Fail(absl::StrCat("reading the answer: ",
                                               DescribeException(std::current_exception())));
                  }
                });
          } catch (...) {
            pending->Fail(DescribeException(std::current_exception()));
          }
        });
  } catch (...) {
    pending->Fail(DescribeException(std::current_exception()));
  }

  std::optional<Answer> answer;
  std::string error;
  bool done = false;
  {
    absl::MutexLock lock(&pending->mu);
    done = pending->mu.AwaitWithTimeout(absl::Condition(&pending->done),
                                        Remaining(deadline, clock_.Now()));
    if (done) {
      answer = std::move(pending->answer);
      error = std::move(pending->error);
    }
  }
  if (!done) {
    cancel->cancel();
    Count(request, 0, started);
    return absl::DeadlineExceededError(
        absl::StrCat("kube API ", server_, ": ", request.method, " ", request.path,
                     ": no answer within ", Format(request.timeout), " (request cancelled)"));
  }
  if (!answer.has_value()) {
    Count(request, 0, started);
    return TransportError(server_, request, error);
  }
  Count(request, answer->code, started);
  return std::move(*answer);
}

absl::StatusOr<ClientImpl::Answer> ClientImpl::ExchangeWithRetry(const Request& request,
                                                                  bool stream) {
  const std::chrono::milliseconds timeout =
      request.timeout > std::chrono::milliseconds(0) ? request.timeout
                                                     : std::chrono::milliseconds(30'000);
  const TimePoint deadline = clock_.Now() + timeout;
  for (int attempt = 0;; ++attempt) {
    if (absl::Status paced = Pace(request, deadline); !paced.ok()) {
      return paced;
    }
    absl::StatusOr<Answer> answer = Exchange(request, deadline, stream);
    if (answer.ok() && answer->code == 401 && attempt == 0) {
      credentials_->Invalidate();
      continue;
    }
    return answer;
  }
}

absl::StatusOr<std::string> ClientImpl::Call(const Request& request) {
  absl::StatusOr<Answer> answer = ExchangeWithRetry(request, /*stream=*/false);
  if (!answer.ok()) {
    return answer.status();
  }
  if (answer->code < 200 || answer->code >= 300) {
    return StatusFromResponse(answer->code, answer->body, answer->retry_after);
  }
  return std::move(answer->body);
}

absl::StatusOr<std::unique_ptr<WatchStream>> ClientImpl::Watch(
    const Request& request, std::chrono::milliseconds idle_timeout) {
  absl::StatusOr<Answer> answer = ExchangeWithRetry(request, /*stream=*/true);
  if (!answer.ok()) {
    return answer.status();
  }
  if (answer->code < 200 || answer->code >= 300) {
    return StatusFromResponse(answer->code, answer->body, answer->retry_after);
  }
  return NewWatchStream(absl::StrCat("kube API ", server_, ": watch ", request.path),
                        std::move(answer->response), std::move(answer->cancel), idle_timeout,
                        clock_);
}

}  // namespace registrar::kube
