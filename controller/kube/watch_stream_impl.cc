#include "controller/kube/watch_stream_impl.h"

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

// One line of `pending` (without "\n" or "\r\n"), removed from it; nullopt when there is none.
std::optional<std::string> PopLine(std::string& pending) {
  const size_t nl = pending.find('\n');
  if (nl == std::string::npos) {
    return std::nullopt;
  }
  std::string line = pending.substr(0, nl);
  pending.erase(0, nl + 1);
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  return line;
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
      if (!broken_.ok()) {
        return broken_;
      }
      if (std::optional<std::string> line = PopLine(pending_)) {
        if (line->empty()) {
          continue;
        }
        return line;
      }
      if (ended_) {
        if (!pending_.empty()) {
          return std::optional<std::string>(std::exchange(pending_, std::string()));
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

  // Moves what cpprest has buffered into pending_ without blocking. True when bytes came.
  bool Drain() {
    bool got = false;
    try {
      while (true) {
        const auto c = body_.sbumpc();
        if (c == Traits::eof()) {
          ended_ = true;
          break;
        }
        if (c == Traits::requires_async()) {
          break;
        }
        pending_.push_back(static_cast<char>(c));
        got = true;
      }
    } catch (...) {
      broken_ = absl::UnavailableError(
          absl::StrCat(what_, ": stream broke: ", DescribeException(std::current_exception())));
    }
    return got;
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
  std::string pending_;
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
