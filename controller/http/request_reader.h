// File: controller/http/request_reader.h
//
// The request path without sockets: the bytes a connection delivers -> a request head or a
// Refusal (request_rules.h), and an Answer -> the bytes to write back. The server (server.h) and
// the fuzz target (tests/fuzz/fuzz_http_request.cc) drive exactly this code.
//
// Flow: Append(bytes) as they arrive (never more than Room() at once) returns kNeedMore,
// kHead (head() is the request) or kRefused (refusal()). After the answer to a head is written,
// Consume() drops that request's bytes and parses what followed it (a pipelined request), with
// the same three outcomes. A reader that said kRefused is done: the connection closes. The
// header is parsed by Boost.Beast's request parser; this class adds the limits Beast does not
// have (the request line on its own, the header fields apart from it) and never reads a body: a
// request that has one is answered and the connection closed.
//
// Cost: each byte is scanned a constant number of times however it is split (Beast resumes its
// search for the end of the header where it stopped); memory is at most
// Limits::max_head_bytes() per reader.
// Thread-safety: none; one connection (one thread) owns a reader.
// Ownership: the reader owns its buffer and parser; it copies the limits.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "controller/http/request_rules.h"

namespace registrar::http {

// A complete, well-formed request head.
struct RequestHead {
  std::string method;
  std::string target;
  unsigned version = 11;  // 10 or 11
  bool keep_alive = true;
  bool has_body = false;
};

class RequestReader {
 public:
  enum class State { kNeedMore, kHead, kRefused };

  explicit RequestReader(const Limits& limits);
  ~RequestReader();
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;
  RequestReader(RequestReader&&) = delete;
  RequestReader& operator=(RequestReader&&) = delete;

  // How many bytes Append accepts now; > 0 whenever the state is kNeedMore.
  size_t Room() const;
  // Adds bytes of the connection. REQUIRES: state() == kNeedMore, bytes.size() <= Room().
  State Append(std::string_view bytes);
  // Drops the current head's bytes and parses the bytes after it. REQUIRES: state() == kHead.
  State Consume();

  State state() const { return state_; }
  const RequestHead& head() const { return head_; }  // REQUIRES: state() == kHead
  Refusal refusal() const { return refusal_; }       // REQUIRES: state() == kRefused
  // Bytes held of the request being read (0: nothing of a new request has arrived).
  size_t buffered() const { return buffer_.size(); }

 private:
  struct Parser;  // Beast's parser, kept out of this header

  State Parse();
  State Refuse(Refusal refusal);

  const Limits limits_;
  std::string buffer_;                   // bytes of the current request (and any after it)
  std::unique_ptr<Parser> parser_;       // fresh for each request
  size_t scanned_ = 0;                   // bytes of buffer_ searched for the request line's end
  size_t line_end_ = std::string::npos;  // index of the request line's '\n'
  size_t head_bytes_ = 0;                // bytes of the complete head (state kHead)
  State state_ = State::kNeedMore;
  RequestHead head_;
  Refusal refusal_ = Refusal::kBadRequest;
};

// The bytes of `answer` as an HTTP/1.x response (`version` 10 or 11, as the request's; 11 for a
// refusal): status line with the standard reason, Content-Type, Content-Length (of the body
// even when it is not sent, as HEAD requires), Allow when set, Connection as `answer.close` and
// the version require, then the body when `answer.with_body`.
std::string SerializeAnswer(const Answer& answer, unsigned version);

}  // namespace registrar::http
