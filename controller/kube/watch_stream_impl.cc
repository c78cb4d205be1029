#include "controller/kube/watch_stream_impl.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace registrar::kube {

namespace {

using TimePoint = Clock::TimePoint;
using Traits = concurrency::streams::char_traits<uint8_t>;

std::string Format(std::chrono::milliseconds d) {
  return absl::FormatDuration(absl::FromChrono(d));
}

absl::Duration Remaining(TimePoint deadline, TimePoint now) {
  return deadline > now ? absl::FromChrono(deadline - now) : absl::ZeroDuration();
}

class WatchStreamImpl final : public WatchStream {
 public:
  WatchStreamImpl(std::string what, web::http::http_response response,
                  std::shared_ptr<pplx::cancellation_token_source> cancel,
                  std::chrono::milliseconds idle_timeout, Clock& clock)
      : what_(std::move(what)),
        clock_(clock),
        response_(std::move(response)),
        body_(response_.body().streambuf()),
        cancel_(std::move(cancel)),
        idle_timeout_(idle_timeout),
        signal_(std::make_shared<Signal>()) {}

  ~WatchStreamImpl() override {
    if (!ended_) {
      cancel_->cancel();
    }
  }

  absl::StatusOr<std::optional<std::string>> Next() override {
    TimePoint deadline = clock_.Now() + idle_timeout_;
    while (true) {
      if (signal_->Cancelled()) {
        return absl::CancelledError(absl::StrCat(what_, ": cancelled"));
      }
      // Complete lines that arrived before the stream broke are still delivered.
      if (std::optional<std::string> line = PopLine()) {
        if (line->empty()) {
          continue;
        }
        return line;
      }
      if (!broken_.ok()) {
        return broken_;
      }
      if (ended_) {
        if (pos_ < pending_.size()) {
          std::string last = pending_.substr(pos_);
          pending_.clear();
          pos_ = scanned_ = 0;
          return std::optional<std::string>(std::move(last));
        }
        return std::optional<std::string>();
      }
      if (Drain()) {
        deadline = clock_.Now() + idle_timeout_;
        continue;
      }
      if (!broken_.ok() || ended_) {
        continue;
      }
      // Nothing buffered: wait for a byte, Cancel() or the idle timeout.
      if (!waiting_) {
        StartWait();
      }
      if (!Await(deadline)) {
        broken_ = absl::DeadlineExceededError(absl::StrCat(
            what_, ": nothing received for ", Format(idle_timeout_), " (idle timeout)"));
        cancel_->cancel();
      }
    }
  }

  void Cancel() override {
    {
      absl::MutexLock lock(&signal_->mu);
      signal_->cancelled = true;
    }
    cancel_->cancel();
  }

 private:
  struct Signal {
    absl::Mutex mu;
    bool cancelled ABSL_GUARDED_BY(mu) = false;
    bool ready ABSL_GUARDED_BY(mu) = false;  // a byte (or the end, or an error) is there
    std::string error ABSL_GUARDED_BY(mu);
    bool Cancelled() {
      absl::MutexLock lock(&mu);
      return cancelled;
    }
  };

  // The next line of pending_ (without "\n" or "\r\n"), nullopt when it holds no complete one.
  // Lines are taken from pos_ on, so a big buffer is not moved for every line; the consumed
  // front is dropped when no complete line is left.
  std::optional<std::string> PopLine() {
    const size_t nl = pending_.find('\n', std::max(pos_, scanned_));
    if (nl == std::string::npos) {
      pending_.erase(0, pos_);
      pos_ = 0;
      scanned_ = pending_.size();
      return std::nullopt;
    }
    size_t end = nl;
    if (end > pos_ && pending_[end - 1] == '\r') {
      --end;
    }
    std::string line = pending_.substr(pos_, end - pos_);
    pos_ = scanned_ = nl + 1;
    return line;
  }

  // Waits until the pending getc() signals or Cancel(); false at `deadline`. A signal with an
  // error breaks the stream.
  bool Await(TimePoint deadline) {
    Signal& s = *signal_;
    absl::MutexLock lock(&s.mu);
    const bool woke = s.mu.AwaitWithTimeout(
        absl::Condition(
            +[](Signal* sig) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sig->mu) {
              return sig->cancelled || sig->ready;
            },
            &s),
        Remaining(deadline, clock_.Now()));
    if (!woke || !s.ready) {
      return woke;
    }
    s.ready = false;
    waiting_ = false;
    if (!s.error.empty()) {
      broken_ = absl::UnavailableError(absl::StrCat(what_, ": stream broke: ", s.error));
    }
    return true;
  }

  // Moves what cpprest has buffered into pending_ without blocking, a block at a time
  // (acquire/release of the producer-consumer buffer: no copy inside cpprest, no task). True
  // when bytes came. At the end of the body: ended_, or broken_ when the body was closed with an
  // error (the connection broke); bytes buffered before the error are still delivered.
  bool Drain() {
    bool got = false;
    while (true) {
      uint8_t* ptr = nullptr;
      size_t count = 0;
      const bool readable = body_.acquire(ptr, count);
      if (ptr != nullptr) {
        pending_.append(reinterpret_cast<const char*>(ptr), count);
        body_.release(ptr, count);  // with count 0 this drops an empty block
        got = got || count > 0;
        continue;
      }
      if (readable || !body_.can_read()) {
        if (std::exception_ptr error = body_.exception()) {
          broken_ = absl::UnavailableError(
              absl::StrCat(what_, ": stream broke: ", DescribeException(error)));
        } else {
          ended_ = true;
        }
      }
      return got;
    }
  }

  // An asynchronous one-byte peek whose continuation only signals (never blocks or throws).
  void StartWait() {
    waiting_ = true;
    std::shared_ptr<Signal> signal = signal_;
    concurrency::streams::streambuf<uint8_t> body = body_;
    try {
      body.getc().then([signal, body](pplx::task<Traits::int_type> t) {
        std::string error;
        try {
          t.get();
        } catch (...) {
          error = DescribeException(std::current_exception());
        }
        absl::MutexLock lock(&signal->mu);
        signal->ready = true;
        signal->error = std::move(error);
      });
    } catch (...) {
      absl::MutexLock lock(&signal->mu);
      signal->ready = true;
      signal->error = DescribeException(std::current_exception());
    }
  }

  const std::string what_;  // "watch <path>" for messages
  Clock& clock_;
  web::http::http_response response_;
  concurrency::streams::streambuf<uint8_t> body_;
  const std::shared_ptr<pplx::cancellation_token_source> cancel_;
  const std::chrono::milliseconds idle_timeout_;
  const std::shared_ptr<Signal> signal_;
  // The reading thread's own state.
  std::string pending_;  // bytes read and not yet returned start at pos_
  size_t pos_ = 0;
  size_t scanned_ = 0;  // no "\n" in pending_ before this offset (from pos_ on)
  bool waiting_ = false;
  bool ended_ = false;
  absl::Status broken_;
};


}  // namespace

std::string DescribeException(std::exception_ptr error) {
  try {
    std::rethrow_exception(std::move(error));
  } catch (const web::http::http_exception& e) {
    return e.what();
  } catch (const pplx::task_canceled&) {
    return "request cancelled";
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}


std::unique_ptr<WatchStream> NewWatchStream(
    std::string what, web::http::http_response response,
    std::shared_ptr<pplx::cancellation_token_source> cancel,
    std::chrono::milliseconds idle_timeout, Clock& clock) {
  return std::make_unique<WatchStreamImpl>(std::move(what), std::move(response), std::move(cancel),
                                           idle_timeout, clock);
}

}  // namespace registrar::kube
