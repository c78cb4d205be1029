#include "tests/kube-test-server/tests/kts_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace registrar::kts::testing {
namespace {

using json = nlohmann::json;

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{.tv_sec = 20, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string RequestText(const std::string& method, const std::string& target,
                        const std::string& body, const RequestOptions& opts) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  req += "User-Agent: " + opts.user_agent + "\r\nAccept: " + opts.accept + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req += "Content-Type: " + opts.content_type + "\r\n";
  }
  req += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  return req + body;
}

// Reads until the end of the headers; returns status, fills headers and leftover bytes.
int ReadHead(int fd, std::map<std::string, std::string>* headers, std::string* rest) {
  std::string buf;
  char tmp[4096];
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
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

HttpResponse Http::Do(const std::string& method, const std::string& target,
                      const std::string& body, const RequestOptions& opts) const {
  HttpResponse resp;
  int fd = Connect(port_);
  if (fd < 0) return resp;
  if (!WriteAll(fd, RequestText(method, target, body, opts))) {
    ::close(fd);
    return resp;
  }
  std::string rest;
  resp.status = ReadHead(fd, &resp.headers, &rest);
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
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      resp.body = rest;
      break;
    }
    rest.append(tmp, static_cast<size_t>(n));
  }
  ::close(fd);
  return resp;
}

std::unique_ptr<WatchReader> WatchReader::Open(int port, const std::string& target,
                                               const std::string& accept) {
  auto w = std::unique_ptr<WatchReader>(new WatchReader());
  w->fd_ = Connect(port);
  if (w->fd_ < 0) return w;
  timeval tv{.tv_sec = 0, .tv_usec = 0};  // the reader thread blocks until data or shutdown
  ::setsockopt(w->fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (!WriteAll(w->fd_, RequestText("GET", target, "", {.accept = accept}))) return w;
  std::map<std::string, std::string> headers;
  w->status_ = ReadHead(w->fd_, &headers, &w->pending_);
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
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) break;
    buf.append(tmp, static_cast<size_t>(n));
  }
  absl::MutexLock lock(&mu_);
  ended_ = true;
}

WatchReader::~WatchReader() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) ::close(fd_);
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

int SendAndNeverRead(int port, const std::string& target) {
  int fd = Connect(port);
  if (fd < 0) return fd;
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  WriteAll(fd, RequestText("GET", target, "", {}));
  return fd;
}

std::unique_ptr<KtsServer> KtsServer::Start(const std::vector<std::string>& extra_flags) {
  auto s = std::unique_ptr<KtsServer>(new KtsServer());
  auto etcd = registrar::testing::EtcdProcess::Start();
  if (!etcd.ok()) {
    ADD_FAILURE() << "etcd did not start: " << etcd.status();
    return nullptr;
  }
  s->etcd_ = std::move(*etcd);
  s->flags_ = extra_flags;
  if (!s->Launch()) return nullptr;
  return s;
}

bool KtsServer::RestartServer() {
  server_.reset();  // SIGKILL + reap
  return Launch();
}

bool KtsServer::Launch() {
  const char* dir = std::getenv("ER_BINARY_DIR");
  if (dir == nullptr) {
    ADD_FAILURE() << "ER_BINARY_DIR is not set; run the test through ctest";
    return false;
  }
  std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--etcd-endpoints",
                                    etcd_->endpoint()};
  args.insert(args.end(), flags_.begin(), flags_.end());
  auto child = registrar::testing::ChildProcess::Start(
      std::string(dir) + "/tests/kube-test-server/kube-test-server", args);
  if (!child.ok()) {
    ADD_FAILURE() << "kube-test-server did not start: " << child.status();
    return false;
  }
  server_ = std::move(*child);
  auto line = server_->WaitForOutputMatching(
      std::regex("^listening on http://127\\.0\\.0\\.1:[0-9]+$"), std::chrono::seconds(15));
  if (!line.ok()) {
    ADD_FAILURE() << "kube-test-server did not print its address: " << line.status();
    return false;
  }
  port_ = std::stoi(line->substr(line->rfind(':') + 1));
  return true;
}

json LoadCrd() {
  const char* dir = std::getenv("ER_SOURCE_DIR");
  std::string path = std::string(dir ? dir : ".") + "/crds/serviceregistrations.yaml";
  return YamlToJson(YAML::LoadFile(path));
}

}  // namespace registrar::kts::testing
