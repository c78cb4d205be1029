#include "controller/http/server.h"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "controller/common/thread_name.h"
#include "controller/http/request_reader.h"
#include "spdlog/spdlog.h"

namespace registrar::http {

namespace {

namespace asio = boost::asio;
using Tcp = asio::ip::tcp;
using boost::system::error_code;

// What the acceptor and its connections share; server thread only.
struct Shared {
  const Limits& limits;
  const Routes& routes;
  size_t open = 0;  // connections alive
};

std::string Describe(const Tcp::socket& socket) {
  error_code ec;
  const Tcp::endpoint peer = socket.remote_endpoint(ec);
  return ec ? std::string("?") : absl::StrCat(peer.address().to_string(), ":", peer.port());
}

// One accepted connection: read a head, answer, repeat; each phase has its deadline.
// Kept alive by the handlers of its pending operations (shared_from_this).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Tcp::socket socket, Shared& shared)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        shared_(shared),
        reader_(shared.limits),
        peer_(Describe(socket_)) {
    ++shared_.open;
  }
  ~Connection() { --shared_.open; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&&) = delete;
  Connection& operator=(Connection&&) = delete;

  void Start() {
    phase_ = Phase::kHeader;
    Arm(limits().header_timeout);
    Read();
  }

 private:
  enum class Phase { kIdle, kHeader, kWriting, kLingering, kClosed };

  const Limits& limits() const { return shared_.limits; }

  void Read() {
    const size_t room = std::min(chunk_.size(), reader_.Room());
    if (room == 0) {  // the reader refuses before this; never read without a bound
      Refuse(Refusal::kHeadersTooLarge);
      return;
    }
    socket_.async_read_some(
        asio::buffer(chunk_.data(), room),
        [self = shared_from_this()](error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(error_code ec, size_t n) {
    if (phase_ == Phase::kLingering) {
      lingered_ += n;
      if (ec || lingered_ >= limits().linger_bytes) {
        Close();
      } else {
        Read();
      }
      return;
    }
    if (phase_ != Phase::kIdle && phase_ != Phase::kHeader) {
      return;  // a read cancelled by a timeout that is being answered, or a closed connection
    }
    if (ec) {
      Close();  // the client closed, reset, or the socket failed
      return;
    }
    if (phase_ == Phase::kIdle) {
      phase_ = Phase::kHeader;
      Arm(limits().header_timeout);
    }
    Next(reader_.Append(std::string_view(chunk_.data(), n)));
  }

  void Next(RequestReader::State state) {
    switch (state) {
      case RequestReader::State::kNeedMore:
        Read();
        return;
      case RequestReader::State::kRefused:
        Refuse(reader_.refusal());
        return;
      case RequestReader::State::kHead: {
        const RequestHead& head = reader_.head();
        Send(Route(RouteRequest{.method = head.method,
                                .target = head.target,
                                .keep_alive = head.keep_alive,
                                .has_body = head.has_body},
                   shared_.routes),
             head.version);
        return;
      }
    }
  }

  void Refuse(Refusal refusal) {
    spdlog::debug("http: {}: {}", peer_, RefusalName(refusal));
    Send(RefusalAnswer(refusal, limits()), 11);
  }

  void Send(const Answer& answer, unsigned version) {
    out_ = SerializeAnswer(answer, version);
    close_after_write_ = answer.close;
    phase_ = Phase::kWriting;
    Arm(limits().write_timeout);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](error_code ec, size_t) { self->OnWritten(ec); });
  }

  void OnWritten(error_code ec) {
    if (phase_ != Phase::kWriting) {
      return;
    }
    if (ec) {
      Close();
      return;
    }
    if (close_after_write_) {
      Linger();
      return;
    }
    const RequestReader::State state = reader_.Consume();
    if (reader_.buffered() == 0) {
      phase_ = Phase::kIdle;
      Arm(limits().idle_timeout);
    } else {  // a pipelined request has begun
      phase_ = Phase::kHeader;
      Arm(limits().header_timeout);
    }
    Next(state);
  }

  // Stop sending, drop what the client still sends for a moment, then close: a client still
  // writing its request sees the answer instead of a reset.
  void Linger() {
    phase_ = Phase::kLingering;
    error_code ignored;
    socket_.shutdown(Tcp::socket::shutdown_send, ignored);
    Arm(limits().linger_timeout);
    socket_.async_read_some(
        asio::buffer(chunk_),
        [self = shared_from_this()](error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  void Arm(Limits::Duration timeout) {
    const uint64_t generation = ++timer_generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this(), generation](error_code ec) {
      if (!ec && generation == self->timer_generation_) {
        self->OnTimeout();
      }
    });
  }

  void OnTimeout() {
    switch (phase_) {
      case Phase::kIdle:
        spdlog::debug("http: {}: idle keep-alive connection closed", peer_);
        Close();
        return;
      case Phase::kHeader:
        if (reader_.buffered() == 0) {
          spdlog::debug("http: {}: no request within the header timeout", peer_);
          Close();
          return;
        }
        {
          error_code ignored;
          socket_.cancel(ignored);  // the pending read completes as aborted and is ignored
        }
        Refuse(Refusal::kHeaderTimeout);
        return;
      case Phase::kWriting:
        spdlog::debug("http: {}: answer not read within the write timeout", peer_);
        Close();
        return;
      case Phase::kLingering:
      case Phase::kClosed:
        Close();
        return;
    }
  }

  void Close() {
    if (phase_ == Phase::kClosed) {
      return;
    }
    phase_ = Phase::kClosed;
    ++timer_generation_;
    timer_.cancel();
    error_code ignored;
    socket_.shutdown(Tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  Tcp::socket socket_;
  asio::steady_timer timer_;
  Shared& shared_;
  RequestReader reader_;
  const std::string peer_;
  std::array<char, size_t{16} * 1024> chunk_{};
  std::string out_;
  Phase phase_ = Phase::kHeader;
  bool close_after_write_ = false;
  uint64_t timer_generation_ = 0;
  size_t lingered_ = 0;
};

// Host and port of "host:port" / "[v6]:port"; false when `addr` is not that.
bool SplitHostPort(const std::string& addr, std::string* host, std::string* port) {
  const size_t colon = addr.rfind(':');
  int number = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(addr.substr(colon + 1), &number) || number < 1 || number > 65535) {
    return false;
  }
  *host = addr.substr(0, colon);
  *port = addr.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return !host->empty();
}

}  // namespace

struct Server::Running {
  Running(const Limits& limits, const Routes& routes) : shared{limits, routes} {}

  // Declared first so that it outlives the connections the io_context destroys.
  Shared shared;
  bool cap_reported = false;
  asio::io_context io{1};
  Tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  std::thread thread;

  void Accept() {
    acceptor.async_accept([this](error_code ec, Tcp::socket socket) {
      if (ec == asio::error::operation_aborted) {
        return;
      }
      if (ec) {  // e.g. out of file descriptors: try again shortly instead of spinning
        spdlog::warn("http: accept failed: {}", ec.message());
        accept_retry.expires_after(std::chrono::milliseconds(100));
        accept_retry.async_wait([this](error_code wait_ec) {
          if (!wait_ec) {
            Accept();
          }
        });
        return;
      }
      if (shared.open >= shared.limits.max_connections) {
        RefuseBusy(std::move(socket));
      } else {
        cap_reported = false;
        std::make_shared<Connection>(std::move(socket), shared)->Start();
      }
      Accept();
    });
  }

  // The 503 goes out without waiting (it fits in any socket buffer; if it does not, the client
  // only sees the close), and the connection is closed at once: a refused connection costs no
  // more than its accept.
  void RefuseBusy(Tcp::socket socket) {
    if (!cap_reported) {
      spdlog::warn(
          "http: {} connections open (the limit): new connections get 503 until some close",
          shared.open);
      cap_reported = true;
    }
    const std::string answer =
        SerializeAnswer(RefusalAnswer(Refusal::kTooManyConnections, shared.limits), 11);
    error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(answer), ignored);
    socket.shutdown(Tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  void Run() {
    SetCurrentThreadName("http");
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("http: server thread: {}", e.what());
      }
    }
  }
};

Server::Server(std::string addr, Limits limits) : addr_(std::move(addr)), limits_(limits) {}

Server::~Server() { Stop(); }

void Server::Handle(std::string path, Handler handler) {
  if (running_ != nullptr) {
    spdlog::critical("http: Handle({}) after Start()", path);
    std::abort();
  }
  handlers_[std::move(path)] = std::move(handler);
}

absl::Status Server::Start() {
  if (running_ != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("http server on ", addr_, " already started"));
  }
  std::string host;
  std::string port;
  if (!SplitHostPort(addr_, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-addr: \"", addr_, "\" is not host:port"));
  }
  auto running = std::make_unique<Running>(limits_, handlers_);
  error_code ec;
  Tcp::resolver resolver(running->io);
  const Tcp::resolver::results_type endpoints =
      resolver.resolve(host, port, Tcp::resolver::passive | Tcp::resolver::numeric_service, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("--http-addr: cannot listen on ", addr_, ": ", ec.message()));
  }
  ec = asio::error::host_not_found;
  for (const auto& entry : endpoints) {  // the first address that can listen
    error_code ignored;
    running->acceptor.close(ignored);
    ec.clear();
    running->acceptor.open(entry.endpoint().protocol(), ec);
    if (!ec) {
      running->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      running->acceptor.bind(entry.endpoint(), ec);
    }
    if (!ec) {
      running->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (!ec) {
      break;
    }
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("--http-addr: cannot listen on ", addr_, ": ", ec.message()));
  }
  running->Accept();
  Running* r = running.get();
  running->thread = std::thread([r] { r->Run(); });
  running_ = std::move(running);
  spdlog::info("http: listening on {}", addr_);
  return absl::OkStatus();
}

void Server::Stop() {
  if (running_ == nullptr) {
    return;
  }
  running_->io.stop();
  running_->thread.join();
  // Destroying the io_context destroys the pending handlers and with them every connection.
  running_.reset();
}

}  // namespace registrar::http
