#include "controller/http/server.h"

#include <exception>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include <cpprest/http_listener.h>
#include <cpprest/http_msg.h>

#include "spdlog/spdlog.h"

namespace registrar::http {

namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::methods;
using web::http::experimental::listener::http_listener;

// Ends the pplx chain of a reply: a failed reply (client gone) is logged, never thrown.
void Reply(const http_request& request, const http_response& response) {
  try {
    request.reply(response).then(
        [](pplx::task<void> done) {  // NOLINT(performance-unnecessary-value-param)
          try {
            done.get();
          } catch (const std::exception& e) {
            spdlog::debug("http: reply failed: {}", e.what());
          }
        });
  } catch (const std::exception& e) {
    spdlog::debug("http: reply failed: {}", e.what());
  }
}

http_response ToHttp(const Response& response, bool with_body) {
  http_response out(static_cast<web::http::status_code>(response.status));
  if (with_body) {
    out.set_body(response.body, response.content_type);
  } else {
    out.headers().set_content_type(response.content_type);
  }
  return out;
}

}  // namespace

struct Server::Listener {
  std::unique_ptr<http_listener> listener;
};

Server::Server(std::string addr) : addr_(std::move(addr)) {}

Server::~Server() { Stop(); }

void Server::Handle(std::string path, Handler handler) {
  if (listener_ != nullptr) {
    spdlog::critical("http: Handle({}) after Start()", path);
    std::abort();
  }
  handlers_[std::move(path)] = std::move(handler);
}

absl::Status Server::Start() {
  if (listener_ != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("http server on ", addr_, " already started"));
  }
  const size_t colon = addr_.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(addr_.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-addr: \"", addr_, "\" is not host:port"));
  }
  auto listener = std::make_unique<Listener>();
  try {
    listener->listener = std::make_unique<http_listener>(web::uri("http://" + addr_));
    listener->listener->support([this](const http_request& request) {
      const web::http::method& method = request.method();
      if (method != methods::GET && method != methods::HEAD) {
        Reply(request, ToHttp(Response{.status = 405, .body = "method not allowed\n"}, true));
        return;
      }
      const std::string path = request.relative_uri().path();
      auto it = handlers_.find(path);
      if (it == handlers_.end()) {
        Reply(request, ToHttp(Response{.status = 404, .body = "not found\n"}, true));
        return;
      }
      Response response;
      try {
        response = it->second();
      } catch (const std::exception& e) {
        spdlog::error("http: handler for {} failed: {}", path, e.what());
        response = Response{.status = 500, .body = "internal error\n"};
      }
      Reply(request, ToHttp(response, method == methods::GET));
    });
    listener->listener->open().get();
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("--http-addr: cannot listen on ", addr_, ": ", e.what()));
  }
  listener_ = std::move(listener);
  spdlog::info("http: listening on {}", addr_);
  return absl::OkStatus();
}

void Server::Stop() {
  if (listener_ == nullptr) {
    return;
  }
  try {
    listener_->listener->close().get();
  } catch (const std::exception& e) {
    spdlog::warn("http: closing {} failed: {}", addr_, e.what());
  }
  listener_.reset();
}

}  // namespace registrar::http
