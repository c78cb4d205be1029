#include "tests/kube-test-server/http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <list>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace registrar::kts {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class BeastWriter : public ResponseWriter {
 public:
  BeastWriter(tcp::socket& socket, bool keep_alive) : socket_(socket), keep_alive_(keep_alive) {}

  bool Send(int status, const std::string& content_type, const std::string& body,
            const HttpHeaders& extra) override {
    status_ = status;
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, content_type);
    for (const auto& [k, v] : extra) res.set(k, v);
    res.keep_alive(keep_alive_);
    res.body() = body;
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(socket_, res, ec);
    return !ec;
  }

  bool BeginStream(int status, const std::string& content_type) override {
    status_ = status;
    http::response<http::empty_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-cache, private");
    res.keep_alive(keep_alive_);
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    boost::system::error_code ec;
    http::write_header(socket_, sr, ec);
    return !ec;
  }

  bool WriteChunk(const std::string& data) override {
    boost::system::error_code ec;
    net::write(socket_, http::make_chunk(net::buffer(data)), ec);
    return !ec;
  }

  void EndStream() override {
    boost::system::error_code ec;
    net::write(socket_, http::make_chunk_last(), ec);
  }

  bool PeerClosed() override {
    char c;
    ssize_t n = ::recv(socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  void Abort() override { ::shutdown(socket_.native_handle(), SHUT_RDWR); }

  int status() const override { return status_; }

 private:
  tcp::socket& socket_;
  bool keep_alive_;
  int status_ = 0;
};

void ParseQuery(const std::string& raw, std::multimap<std::string, std::string>* out) {
  size_t pos = 0;
  while (pos <= raw.size() && !raw.empty()) {
    size_t amp = raw.find('&', pos);
    std::string part = raw.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string k = PercentDecode(part.substr(0, eq), true);
      std::string v = eq == std::string::npos ? "" : PercentDecode(part.substr(eq + 1), true);
      out->emplace(std::move(k), std::move(v));
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
}

void ServeConnection(tcp::socket socket, const HttpHandler& handler) {
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    boost::system::error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec) return;
    auto& req = parser.get();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    size_t q = r.target.find('?');
    r.path = PercentDecode(r.target.substr(0, q), false);
    if (q != std::string::npos) {
      r.raw_query = r.target.substr(q + 1);
      ParseQuery(r.raw_query, &r.query);
    }
    for (const auto& field : req) {
      r.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
    }
    r.body = std::move(req.body());
    bool keep_alive = req.keep_alive();
    BeastWriter writer(socket, keep_alive);
    handler(r, writer);
    if (!keep_alive || writer.status() == 0) break;
  }
  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

class BeastServer : public HttpServer {
 public:
  BeastServer(HttpHandler handler) : handler_(std::move(handler)), acceptor_(io_) {}

  absl::Status Bind(int port) {
    boost::system::error_code ec;
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " +
                                    ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Serve() override {
    for (;;) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) {
        if (ec == net::error::operation_aborted) return;
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      Reap();
      auto conn = std::make_unique<Connection>();
      Connection* raw = conn.get();
      raw->thread = std::jthread([this, raw, s = std::move(socket)]() mutable {
        ServeConnection(std::move(s), handler_);
        raw->done.store(true);
      });
      connections_.push_back(std::move(conn));
    }
  }

 private:
  struct Connection {
    std::atomic<bool> done{false};
    std::jthread thread;
  };

  void Reap() {
    connections_.remove_if([](const std::unique_ptr<Connection>& c) { return c->done.load(); });
  }

  HttpHandler handler_;
  net::io_context io_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::list<std::unique_ptr<Connection>> connections_;  // accept thread only
};

}  // namespace

std::string HttpRequest::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? "" : it->second;
}

std::string HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::string PercentDecode(const std::string& in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size() &&
        std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<HttpServer>> ListenHttp(int port, HttpHandler handler) {
  auto server = std::make_unique<BeastServer>(std::move(handler));
  absl::Status st = server->Bind(port);
  if (!st.ok()) return st;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace registrar::kts
