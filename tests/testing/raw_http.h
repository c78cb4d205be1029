// File: tests/testing/raw_http.h
//
// A raw TCP client for tests of an HTTP server's limits: it sends exactly the bytes a test
// writes (oversized lines, slow headers, TRACE, pipelined requests) and reads exactly what comes
// back, which an HTTP client library would not allow.
//
// Flow: RawConnection c(port); c.Send("GET / HTTP/1.1\r\n..."); RawReply r = c.ReadReply(2s);
// ReadUntilClosed(timeout) tells whether (and when) the server closed the connection.
// Sends never raise SIGPIPE (MSG_NOSIGNAL); every read has a deadline.
//
// Thread-safety: one thread per connection; distinct connections may be used from different
// threads. Ownership: the object owns its socket and closes it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace registrar::testing {

// One HTTP response as read off the wire: status 0 when none (or not parsable) came.
struct RawReply {
  int status = 0;
  std::string head;  // status line and header fields, through the empty line
  std::string body;
  bool closed = false;  // the server closed the connection after (or instead of) it
};

class RawConnection {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RawConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConnection() { Close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  // Sends all of `bytes`; false when the connection fails (closed or reset by the server).
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (head, then Content-Length bytes of body unless `head_only`, as for
  // HEAD) within `timeout`; what is read beyond it stays buffered for the next call.
  RawReply ReadReply(Clock::duration timeout, bool head_only = false) {
    const Clock::time_point deadline = Clock::now() + timeout;
    RawReply reply;
    size_t end = std::string::npos;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome(deadline)) {
        reply.closed = eof_;
        return reply;
      }
    }
    reply.head = pending_.substr(0, end + 4);
    pending_.erase(0, end + 4);
    if (reply.head.rfind("HTTP/1.", 0) == 0 && reply.head.size() > 12) {
      reply.status = std::atoi(reply.head.substr(9, 3).c_str());
    }
    size_t length = 0;
    const std::string lower = Lower(reply.head);
    if (size_t at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
      length = std::strtoul(lower.c_str() + at + 17, nullptr, 10);
    }
    if (head_only) {
      length = 0;
    }
    while (pending_.size() < length && ReadSome(deadline)) {
    }
    reply.body = pending_.substr(0, std::min(length, pending_.size()));
    pending_.erase(0, reply.body.size());
    reply.closed = eof_;
    return reply;
  }

  // Reads (and keeps in `*bytes` when given) until the server closes the connection; true when
  // it did within `timeout`.
  bool ReadUntilClosed(Clock::duration timeout, std::string* bytes = nullptr) {
    const Clock::time_point deadline = Clock::now() + timeout;
    while (!eof_ && ReadSome(deadline)) {
    }
    if (bytes != nullptr) {
      *bytes = pending_;
    }
    return eof_;
  }

  // Header field `name` of a reply head (case-insensitive name), or "" when absent.
  static std::string Header(const std::string& head, const std::string& name) {
    const std::string lower = Lower(head);
    const size_t at = lower.find("\r\n" + Lower(name) + ":");
    if (at == std::string::npos) {
      return "";
    }
    size_t begin = at + 3 + name.size();
    const size_t end = head.find("\r\n", begin);
    while (begin < end && head[begin] == ' ') {
      ++begin;
    }
    return head.substr(begin, end - begin);
  }

 private:
  static std::string Lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  }

  // One read within the deadline; false on timeout, close (eof_ set) or error (eof_ set).
  bool ReadSome(Clock::time_point deadline) {
    if (eof_) {
      return false;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      return false;
    }
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) {
      return false;
    }
    char buf[16 * 1024];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      eof_ = true;  // closed (0) or reset (-1)
      return false;
    }
    pending_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string pending_;
};

// VmRSS of process `pid` in KiB (from /proc/<pid>/status); 0 when it cannot be read.
inline long ReadRssKib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  return 0;
}

}  // namespace registrar::testing
