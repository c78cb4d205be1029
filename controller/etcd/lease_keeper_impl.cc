#include "controller/etcd/lease_keeper_impl.h"

#include <vector>

#include "spdlog/spdlog.h"

namespace registrar::etcd {
namespace {

constexpr std::chrono::milliseconds kBackoffBase{100};
constexpr std::chrono::milliseconds kBackoffMax{1000};

}  // namespace

LeaseKeeperPtr NewLeaseKeeper(Client& client, Clock& clock, LeaseKeeper::Listener& listener) {
  return std::make_unique<LeaseKeeperImpl>(client, clock, listener);
}

LeaseKeeperImpl::LeaseKeeperImpl(Client& client, Clock& clock, Listener& listener)
    : client_(client),
      clock_(clock),
      listener_(listener),
      backoff_(kBackoffBase, kBackoffMax),
      thread_(clock, "lease-keeper", [this] { return Step(); }) {}

LeaseKeeperImpl::~LeaseKeeperImpl() { Stop(); }

void LeaseKeeperImpl::Start() {
  {
    absl::MutexLock lock(&mu_);
    stream_dead_ = true;
  }
  backoff_.Reset();
  reopen_at_ = clock_.Now();
  thread_.Start();
}

void LeaseKeeperImpl::Stop() {
  thread_.Stop();
  stream_.reset();
  healthy_ = false;
  outstanding_ = 0;
}

void LeaseKeeperImpl::Add(int64_t lease, int64_t granted_ttl, bool renew_now) {
  absl::MutexLock lock(&mu_);
  schedule_.Add(lease, granted_ttl, clock_.Now(), renew_now);
  if (std::optional<Clock::TimePoint> next = schedule_.NextWakeup()) {
    thread_.WakeAt(*next);
  }
}

std::optional<Clock::TimePoint> LeaseKeeperImpl::renewals_silent_since() const {
  absl::MutexLock lock(&mu_);
  return stream_dead_ ? std::nullopt : schedule_.silent_since();
}

void LeaseKeeperImpl::Remove(int64_t lease) {
  absl::MutexLock lock(&mu_);
  schedule_.Remove(lease);
}

size_t LeaseKeeperImpl::size() const {
  absl::MutexLock lock(&mu_);
  return schedule_.size();
}

std::optional<Clock::TimePoint> LeaseKeeperImpl::Step() {
  std::vector<int64_t> due;
  bool reopen = false;
  bool stale = false;
  bool answered = false;
  const Clock::TimePoint now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    if (got_response_) {
      got_response_ = false;
      backoff_.Reset();
    }
    if (stream_ != nullptr && !stream_dead_ && schedule_.IsStreamStale(now)) {
      stale = true;
      stream_dead_ = true;
    }
    if (stream_dead_) {
      reopen = true;
    } else {
      due = schedule_.Due(now, now + schedule_.BatchWindow());
    }
    answered = PublishOutstandingLocked();
  }
  if (answered) {
    ReportRenewalsAnswered();
  }
  if (stale) {
    spdlog::warn("etcd {}: keep-alive stream silent too long, reopening", client_.target());
    // Unhealthy before the counter moves: whoever sees stale_streams() grow sees it unhealthy.
    ReportConnectivity(false);
    ++stale_streams_;
  }
  if (reopen && stream_ != nullptr) {
    stream_.reset();
    reopen_at_ = now + backoff_.Next();
  }
  if (reopen && now >= reopen_at_) {
    uint64_t generation;
    {
      absl::MutexLock lock(&mu_);
      generation = ++generation_;
      stream_dead_ = false;
      schedule_.OnStreamReset(now);
      PublishOutstandingLocked();  // already zero while the stream was dead
    }
    KeepAliveHandler handler;
    handler.on_response = [this, generation](const pb::LeaseKeepAliveResponse& response) {
      OnResponse(generation, response);
    };
    handler.on_closed = [this, generation](absl::Status status) { OnClosed(generation, status); };
    auto opened = client_.KeepAlive(std::move(handler));
    ++streams_opened_;
    if (opened.ok()) {
      stream_ = *std::move(opened);
    } else {
      spdlog::error("etcd {}: cannot open keep-alive stream: {}", client_.target(),
                    opened.status().ToString());
      absl::MutexLock lock(&mu_);
      stream_dead_ = true;
      reopen_at_ = now + backoff_.Next();
    }
    return now;  // at once again: every lease is due on the new stream
  }
  for (int64_t lease : due) {
    stream_->Send(lease);
  }
  if (reopen) {
    return reopen_at_;
  }
  absl::MutexLock lock(&mu_);
  return schedule_.NextWakeup();
}

bool LeaseKeeperImpl::PublishOutstandingLocked() {
  size_t now = stream_dead_ ? 0 : schedule_.outstanding();
  size_t before = outstanding_.exchange(now);
  return before > 0 && now == 0;
}

void LeaseKeeperImpl::ReportRenewalsAnswered() {
  absl::MutexLock lock(&callback_mu_);
  listener_.OnRenewalsAnswered();
}

void LeaseKeeperImpl::OnResponse(uint64_t generation, const pb::LeaseKeepAliveResponse& response) {
  bool known;
  bool answered;
  {
    absl::MutexLock lock(&mu_);
    if (generation != generation_) {
      return;
    }
    got_response_ = true;
    got_response_since_close_ = true;
    schedule_.NoteResponse(clock_.Now());
    known = schedule_.OnResponse(response.id(), response.ttl());
    answered = PublishOutstandingLocked();
  }
  ReportConnectivity(true);
  if (answered) {
    ReportRenewalsAnswered();
  }
  if (!known) {
    return;
  }
  absl::MutexLock lock(&callback_mu_);
  if (response.ttl() <= 0) {
    listener_.OnLost(response.id());
  } else {
    listener_.OnRenewed(response.id(), response.ttl());
  }
}

void LeaseKeeperImpl::OnClosed(uint64_t generation, const absl::Status& status) {
  bool answered;
  bool repeated;
  {
    absl::MutexLock lock(&mu_);
    if (generation != generation_) {
      return;
    }
    stream_dead_ = true;
    thread_.Wake();
    answered = PublishOutstandingLocked();
    repeated = !got_response_since_close_ && status.message() == last_close_message_;
    last_close_message_ = std::string(status.message());
    got_response_since_close_ = false;
  }
  if (repeated) {
    spdlog::debug("etcd {}: keep-alive stream closed again: {}", client_.target(),
                  status.ToString());
  } else {
    spdlog::warn("etcd {}: keep-alive stream closed: {}", client_.target(), status.ToString());
  }
  ReportConnectivity(false);
  if (answered) {
    ReportRenewalsAnswered();
  }
  absl::MutexLock lock(&callback_mu_);
  listener_.OnStreamClosed(status);
}

void LeaseKeeperImpl::ReportConnectivity(bool healthy) {
  if (healthy_.load(std::memory_order_relaxed) == healthy) {
    return;  // the common case, once per response: no lock (the locked check below decides)
  }
  absl::MutexLock lock(&callback_mu_);
  if (reported_healthy_ == healthy) {
    return;
  }
  reported_healthy_ = healthy;
  healthy_ = healthy;
  listener_.OnConnectivity(healthy);
}

}  // namespace registrar::etcd
