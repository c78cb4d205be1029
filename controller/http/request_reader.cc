#include "controller/http/request_reader.h"

#include <algorithm>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>

namespace registrar::http {

namespace beast_http = boost::beast::http;

struct RequestReader::Parser {
  explicit Parser(size_t header_limit) {
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(header_limit, std::numeric_limits<std::uint32_t>::max())));
    // The body is never read, so its size is no limit of ours. (Not boost::none: Beast 1.74
    // compares the Content-Length with the optional, and any length is "over" none.)
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.eager(false);  // stop after the header
  }

  beast_http::request_parser<beast_http::empty_body> parser;
  size_t fed = 0;  // bytes of the buffer Beast has consumed (it takes the header in steps)
};

RequestReader::RequestReader(const Limits& limits)
    : limits_(limits), parser_(std::make_unique<Parser>(limits.max_head_bytes())) {}

RequestReader::~RequestReader() = default;

size_t RequestReader::Room() const {
  const size_t cap = limits_.max_head_bytes();
  return buffer_.size() >= cap ? 0 : cap - buffer_.size();
}

RequestReader::State RequestReader::Append(std::string_view bytes) {
  buffer_.append(bytes.data(), bytes.size());
  return Parse();
}

RequestReader::State RequestReader::Consume() {
  buffer_.erase(0, head_bytes_);
  parser_ = std::make_unique<Parser>(limits_.max_head_bytes());
  scanned_ = 0;
  line_end_ = std::string::npos;
  head_bytes_ = 0;
  head_ = RequestHead();
  return Parse();
}

RequestReader::State RequestReader::Refuse(Refusal refusal) {
  refusal_ = refusal;
  return state_ = State::kRefused;
}

RequestReader::State RequestReader::Parse() {
  if (line_end_ == std::string::npos) {
    const size_t lf = buffer_.find('\n', scanned_);
    if (lf == std::string::npos) {
      scanned_ = buffer_.size();
      // Even if the next byte is the '\n' and the last one a '\r', the line is too long.
      if (buffer_.size() > limits_.max_request_line + 1) {
        return Refuse(Refusal::kRequestLineTooLong);
      }
    } else {
      line_end_ = lf;
      const size_t line = lf > 0 && buffer_[lf - 1] == '\r' ? lf - 1 : lf;
      if (line > limits_.max_request_line) {
        return Refuse(Refusal::kRequestLineTooLong);
      }
    }
  }
  if (buffer_.size() == parser_->fed) {
    return state_ = State::kNeedMore;
  }
  boost::beast::error_code ec;
  const std::string_view rest = std::string_view{buffer_}.substr(parser_->fed);
  try {
    parser_->fed += parser_->parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
  } catch (const std::length_error&) {
    // Beast's fields hold a name or value of at most 64 KiB - 1 and throw beyond that.
    return Refuse(Refusal::kHeadersTooLarge);
  } catch (const std::exception&) {
    return Refuse(Refusal::kBadRequest);
  }
  const size_t fields_so_far = line_end_ == std::string::npos ? 0 : buffer_.size() - line_end_ - 1;
  if (ec == beast_http::error::need_more) {
    // The header is not complete, so its fields are longer than what has arrived.
    if (fields_so_far >= limits_.max_header_bytes) {
      return Refuse(Refusal::kHeadersTooLarge);
    }
    return state_ = State::kNeedMore;
  }
  if (ec == beast_http::error::header_limit) {
    return Refuse(line_end_ == std::string::npos ? Refusal::kRequestLineTooLong
                                                 : Refusal::kHeadersTooLarge);
  }
  if (ec || !parser_->parser.is_header_done() || line_end_ == std::string::npos ||
      parser_->fed <= line_end_) {
    return Refuse(Refusal::kBadRequest);
  }
  if (parser_->fed - line_end_ - 1 > limits_.max_header_bytes) {
    return Refuse(Refusal::kHeadersTooLarge);
  }
  const auto& message = parser_->parser.get();
  head_.method.assign(message.method_string().data(), message.method_string().size());
  head_.target.assign(message.target().data(), message.target().size());
  head_.version = message.version();
  head_.keep_alive = parser_->parser.keep_alive();
  head_.has_body = !parser_->parser.is_done();
  head_bytes_ = parser_->fed;
  return state_ = State::kHead;
}

std::string SerializeAnswer(const Answer& answer, unsigned version) {
  // The head by Beast, the body appended as is (no copy of it through Beast's message).
  beast_http::response<beast_http::empty_body> message(
      static_cast<beast_http::status>(answer.response.status), version == 10 ? 10 : 11);
  message.set(beast_http::field::content_type, answer.response.content_type);
  if (!answer.allow.empty()) {
    message.set(beast_http::field::allow, answer.allow);
  }
  message.content_length(answer.response.body.size());
  message.keep_alive(!answer.close);
  std::ostringstream head;
  head << message.base();
  std::string out = std::move(head).str();
  if (answer.with_body) {
    out += answer.response.body;
  }
  return out;
}

}  // namespace registrar::http
