#include "tests/integration/kube/kube_api_harness.h"

#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "openssl/err.h"
#include "openssl/ssl.h"
#include "yaml-cpp/yaml.h"

namespace registrar::kube_testing {
namespace {

using json = nlohmann::json;
using registrar::testing::KubeControlPlane;

SSL* AsSsl(void* p) { return static_cast<SSL*>(p); }

// Reads until the end of the headers; returns status, fills headers and leftover bytes.
int ReadHead(Connection& conn, std::map<std::string, std::string>* headers, std::string* rest) {
  std::string buf;
  char tmp[4096];
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    long n = conn.Read(tmp, sizeof(tmp));
    if (n <= 0) return 0;
    buf.append(tmp, static_cast<size_t>(n));
  }
  std::vector<std::string> lines = absl::StrSplit(buf.substr(0, end), "\r\n");
  int status = 0;
  std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
  if (first.size() < 2 || !absl::SimpleAtoi(first[1], &status)) return 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    (*headers)[name] = std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  *rest = buf.substr(end + 4);
  return status;
}

// Decodes as much of a chunked body as `buf` holds; appends data to *out. Returns true at the
// last chunk.
bool DecodeChunks(std::string* buf, std::string* out) {
  for (;;) {
    size_t eol = buf->find("\r\n");
    if (eol == std::string::npos) return false;
    size_t size = std::stoul(buf->substr(0, eol), nullptr, 16);
    if (size == 0) return true;
    if (buf->size() < eol + 2 + size + 2) return false;
    out->append(*buf, eol + 2, size);
    buf->erase(0, eol + 2 + size + 2);
  }
}

json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : node) o[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& item : node) a.push_back(YamlToJson(item));
      return a;
    }
    case YAML::NodeType::Scalar: {
      std::string s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted
      if (s == "true") return true;
      if (s == "false") return false;
      int64_t i;
      if (absl::SimpleAtoi(s, &i)) return i;
      return s;
    }
    default:
      return nullptr;
  }
}

}  // namespace


std::string ApiTarget::url() const {
  return (tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

std::unique_ptr<Connection> Connection::Open(const ApiTarget& target, ssl_ctx_st* ctx,
                                             int receive_timeout_s) {
  auto conn = std::unique_ptr<Connection>(new Connection());
  conn->fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(target.port));
  if (::inet_pton(AF_INET, target.host.c_str(), &addr.sin_addr) != 1 ||
      ::connect(conn->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return nullptr;
  }
  timeval tv{.tv_sec = receive_timeout_s, .tv_usec = 0};
  ::setsockopt(conn->fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (!target.tls) return conn;
  SSL* ssl = SSL_new(ctx);
  conn->ssl_ = ssl;
  SSL_set_fd(ssl, conn->fd_);
  SSL_set_tlsext_host_name(ssl, target.host.c_str());
  SSL_set1_host(ssl, target.host.c_str());
  if (SSL_connect(ssl) != 1) {
    ADD_FAILURE() << "TLS handshake with " << target.url() << " failed: "
                  << ERR_error_string(ERR_get_error(), nullptr);
    return nullptr;
  }
  return conn;
}

Connection::~Connection() {
  if (ssl_ != nullptr) SSL_free(AsSsl(ssl_));
  if (fd_ >= 0) ::close(fd_);
}

bool Connection::WriteAll(const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    long n = ssl_ != nullptr
                 ? SSL_write(AsSsl(ssl_), data.data() + off, static_cast<int>(data.size() - off))
                 : ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

long Connection::Read(char* buf, size_t size) {
  if (ssl_ != nullptr) return SSL_read(AsSsl(ssl_), buf, static_cast<int>(size));
  return ::recv(fd_, buf, size, 0);
}

void Connection::Shutdown() { ::shutdown(fd_, SHUT_RDWR); }

Http::Http(ApiTarget target) : target_(std::move(target)) {
  if (!target_.tls) return;
  // SSL_write has no MSG_NOSIGNAL: a peer that closed first must not end the test binary.
  ::signal(SIGPIPE, SIG_IGN);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ctx_ = std::shared_ptr<SSL_CTX>(ctx, SSL_CTX_free);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx, target_.ca_file.c_str(), nullptr) != 1) {
    ADD_FAILURE() << "cannot load CA " << target_.ca_file;
  }
  if (!target_.client_cert_file.empty() &&
      (SSL_CTX_use_certificate_file(ctx, target_.client_cert_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx, target_.client_key_file.c_str(), SSL_FILETYPE_PEM) != 1)) {
    ADD_FAILURE() << "cannot load client certificate " << target_.client_cert_file;
  }
}

std::unique_ptr<Connection> Http::Connect(int receive_timeout_s) const {
  return Connection::Open(target_, ctx_.get(), receive_timeout_s);
}

std::string Http::RequestText(const std::string& method, const std::string& path,
                              const std::string& body, const RequestOptions& opts) const {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + target_.host + ":" +
                    std::to_string(target_.port) + "\r\n";
  req += "User-Agent: " + opts.user_agent + "\r\nAccept: " + opts.accept + "\r\n";
  if (!target_.bearer_token.empty()) req += "Authorization: Bearer " + target_.bearer_token + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req += "Content-Type: " + opts.content_type + "\r\n";
  }
  req += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  return req + body;
}

HttpResponse Http::Do(const std::string& method, const std::string& target,
                      const std::string& body, const RequestOptions& opts) const {
  HttpResponse resp;
  auto conn = Connect(20);
  if (!conn || !conn->WriteAll(RequestText(method, target, body, opts))) return resp;
  std::string rest;
  resp.status = ReadHead(*conn, &resp.headers, &rest);
  char tmp[65536];
  bool chunked = resp.Header("transfer-encoding") == "chunked";
  size_t want = 0;
  bool sized = absl::SimpleAtoi(resp.Header("content-length"), &want);
  for (;;) {
    if (chunked) {
      std::string copy = rest;
      std::string out;
      if (DecodeChunks(&copy, &out)) {
        resp.body = out;
        break;
      }
    } else if (sized && rest.size() >= want) {
      resp.body = rest.substr(0, want);
      break;
    }
    long n = conn->Read(tmp, sizeof(tmp));
    if (n <= 0) {
      resp.body = rest;
      break;
    }
    rest.append(tmp, static_cast<size_t>(n));
  }
  return resp;
}

std::unique_ptr<WatchReader> WatchReader::Open(const Http& http, const std::string& target,
                                               const std::string& accept) {
  auto w = std::unique_ptr<WatchReader>(new WatchReader());
  w->conn_ = http.Connect(0);  // the reader thread blocks until data or shutdown
  if (!w->conn_) return w;
  if (!w->conn_->WriteAll(http.RequestText("GET", target, "", {.accept = accept}))) return w;
  std::map<std::string, std::string> headers;
  w->status_ = ReadHead(*w->conn_, &headers, &w->pending_);
  if (w->status_ != 200) {
    w->error_body_ = w->pending_;
    absl::MutexLock lock(&w->mu_);
    w->ended_ = true;
    return w;
  }
  w->reader_ = std::jthread([raw = w.get()] { raw->ReadLoop(); });
  return w;
}

void WatchReader::ReadLoop() {
  std::string buf = pending_;
  std::string data;
  char tmp[65536];
  bool done = false;
  while (!done) {
    done = DecodeChunks(&buf, &data);
    size_t nl;
    while ((nl = data.find('\n')) != std::string::npos) {
      json ev = json::parse(data.substr(0, nl), nullptr, false);
      data.erase(0, nl + 1);
      absl::MutexLock lock(&mu_);
      events_.push_back(std::move(ev));
    }
    if (done) break;
    long n = conn_->Read(tmp, sizeof(tmp));
    if (n <= 0) break;
    buf.append(tmp, static_cast<size_t>(n));
  }
  absl::MutexLock lock(&mu_);
  ended_ = true;
}

WatchReader::~WatchReader() {
  if (conn_) conn_->Shutdown();
  if (reader_.joinable()) reader_.join();
}

std::optional<json> WatchReader::Next(std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !events_.empty() || ended_; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), absl::FromChrono(timeout));
  if (events_.empty()) return std::nullopt;
  json ev = std::move(events_.front());
  events_.pop_front();
  return ev;
}

bool WatchReader::WaitEnded(std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ended_; };
  return mu_.AwaitWithTimeout(absl::Condition(&ended), absl::FromChrono(timeout));
}

std::unique_ptr<Connection> SendAndNeverRead(const Http& http, const std::string& target) {
  auto conn = http.Connect(0);
  if (!conn) return conn;
  int small = 4096;
  ::setsockopt(conn->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  conn->WriteAll(http.RequestText("GET", target, "", {}));
  return conn;
}

std::unique_ptr<Backend> Backend::Start() {
  auto b = std::unique_ptr<Backend>(new Backend());
  auto plane = KubeControlPlane::Shared();
  if (!plane.ok()) {
    ADD_FAILURE() << "control plane did not start: " << plane.status();
    return nullptr;
  }
  b->plane_ = *plane;
  b->target_.port = b->plane_->port();
  b->target_.tls = true;
  b->target_.ca_file = b->plane_->ca_file();
  b->target_.client_cert_file = b->plane_->dir() + "/admin.crt";
  b->target_.client_key_file = b->plane_->dir() + "/admin.key";
  return b;
}

std::vector<std::string> Backend::KubectlConnectionArgs() const {
  return {"--kubeconfig", plane_->admin_kubeconfig()};
}

json LoadCrd() {
  const char* dir = std::getenv("ER_SOURCE_DIR");
  std::string path = std::string(dir ? dir : ".") + "/crds/serviceregistrations.yaml";
  return YamlToJson(YAML::LoadFile(path));
}

bool EnsureCrd(const Http& http) {
  HttpResponse r = http.Post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", LoadCrd());
  if (r.status != 201 && r.status != 409) {
    ADD_FAILURE() << "CRD create: " << r.status << " " << r.body;
    return false;
  }
  // The real server serves a new CRD's resource only once it is Established.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (http.Get("/apis/registrar.dev/v1alpha1/serviceregistrations?limit=1").status == 200) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "registrar.dev/v1alpha1 serviceregistrations not served within 30 s";
  return false;
}

bool CreateNamespace(const Http& http, const std::string& name) {
  HttpResponse r = http.Post("/api/v1/namespaces", {{"apiVersion", "v1"},
                                                    {"kind", "Namespace"},
                                                    {"metadata", {{"name", name}}}});
  if (r.status != 201) {
    ADD_FAILURE() << "namespace " << name << ": " << r.status << " " << r.body;
    return false;
  }
  return true;
}

}  // namespace registrar::kube_testing
