// File: controller/kube/watch_stream_impl.h
//
// The WatchStream of client_impl.h: the chunked body of a watch answer, one line at a time, read
// on the caller's thread.
//
// Flow: Next() takes the bytes cpprest already buffered (acquire/release: never blocks) and
// returns the next complete non-empty line. When none is buffered it waits for one byte with an
// asynchronous getc() whose continuation only signals the caller (it never blocks or throws on
// the pplx thread); the caller waits for that signal, Cancel() or the idle timeout. The clean
// end of the chunked body is nullopt (a last line without "\n" is returned first); a broken
// connection is kUnavailable, silence for `idle_timeout` kDeadlineExceeded (the request is
// cancelled through its cancellation source, which closes the socket), Cancel() kCancelled; and
// every later Next() says the same. The destructor cancels a stream that did not end.
//
// Thread-safety: Next() from one thread; Cancel() from any thread, at any time.
// Ownership: the stream owns the response (and so its body) and the cancellation source; it
// refers to `clock`, which must outlive it.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <string>

#include <cpprest/http_client.h>

#include "controller/common/clock.h"
#include "controller/kube/client.h"

namespace registrar::kube {

// `what` names the stream in messages ("kube API https://...: watch /apis/...").
std::unique_ptr<WatchStream> NewWatchStream(
    std::string what, web::http::http_response response,
    std::shared_ptr<pplx::cancellation_token_source> cancel,
    std::chrono::milliseconds idle_timeout, Clock& clock);

// The text of a cpprest/pplx exception (http_exception, task_canceled, std::exception).
std::string DescribeException(std::exception_ptr error);

}  // namespace registrar::kube
