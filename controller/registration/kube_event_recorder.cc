#include "controller/registration/kube_event_recorder.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "controller/common/thread_name.h"
#include "controller/kube/api_status.h"
#include "controller/registration/status.h"
#include "spdlog/spdlog.h"

namespace registrar::registration {

namespace {

constexpr size_t kMaxNameLength = 253;
constexpr size_t kMaxMessageLength = 1024;
constexpr std::chrono::minutes kLogEvery{1};

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') {
    return "unknown";
  }
  return buf;
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 table), 0 when it is not one.
size_t SequenceLength(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b = at(i);
  size_t n = b < 0x80                 ? 1
             : b >= 0xC2 && b <= 0xDF ? 2
             : b >= 0xE0 && b <= 0xEF ? 3
             : b >= 0xF0 && b <= 0xF4 ? 4
                                      : 0;
  if (n == 0 || i + n > s.size()) {
    return 0;
  }
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b == 0xE0) {
    lo = 0xA0;
  } else if (b == 0xED) {
    hi = 0x9F;
  } else if (b == 0xF0) {
    lo = 0x90;
  } else if (b == 0xF4) {
    hi = 0x8F;
  }
  for (size_t k = 1; k < n; ++k) {
    unsigned char c = at(i + k);
    if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) {
      return 0;
    }
  }
  return n;
}

}  // namespace

std::string ValidUtf8(std::string_view s, size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  for (size_t i = 0; i < s.size();) {
    size_t n = SequenceLength(s, i);
    std::string_view piece = n == 0 ? kReplacement : s.substr(i, n);
    if (out.size() + piece.size() > max_bytes) {
      break;
    }
    out += piece;
    i += n == 0 ? 1 : n;
  }
  return out;
}

KubeEventRecorder::KubeEventRecorder(kube::Api& api, Clock& clock, EventRecorderOptions options)
    : api_(api),
      clock_(clock),
      options_([&] {
        if (options.instance.empty()) {
          options.instance = Hostname();
        }
        return options;
      }()),
      aggregator_(options_.cache_entries),
      thread_([this](const std::stop_token& stop) { Run(stop); }) {}

KubeEventRecorder::~KubeEventRecorder() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    changed_.SignalAll();
  }
  thread_.request_stop();
  thread_.join();
}

void KubeEventRecorder::Record(const ServiceRegistration& object, EventType type,
                               const std::string& reason, const std::string& message) {
  Queued q;
  q.occurrence = {object.metadata.namespace_, object.metadata.name,
                  object.metadata.uid,        EventTypeName(type),
                  ValidUtf8(reason, 128),     ValidUtf8(message, kMaxMessageLength)};
  q.resource_version = object.metadata.resource_version;
  std::string key = MergeKey(q.occurrence);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = queued_.find(key); it != queued_.end()) {
      it->second->resource_version = q.resource_version;  // the newest view of the object
      ++merged_;
      return;
    }
    if (queue_.size() < options_.max_queued) {
      queue_.push_back(std::move(q));
      queued_.emplace(std::move(key), &queue_.back());
      changed_.SignalAll();
      return;
    }
  }
  Failed("queue_full",
         absl::StrFormat("the queue of Events to write is full (%d waiting)", options_.max_queued));
}

std::string KubeEventRecorder::MergeKey(const EventOccurrence& e) {
  return absl::StrCat(e.namespace_, "/", e.name, "\n", e.uid, "\n", e.type, "\n", e.reason, "\n",
                      e.message);
}

int KubeEventRecorder::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

int64_t KubeEventRecorder::merged() const {
  absl::MutexLock lock(&mu_);
  return merged_;
}

void KubeEventRecorder::Flush() {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || (queue_.empty() && !busy_);
  };
  while (!idle()) {
    changed_.Wait(&mu_);
  }
}

int64_t KubeEventRecorder::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

void KubeEventRecorder::Run(const std::stop_token& stop) {
  SetCurrentThreadName("kube-events");
  while (!stop.stop_requested()) {
    Queued q;
    {
      absl::MutexLock lock(&mu_);
      busy_ = false;
      changed_.SignalAll();
      while (queue_.empty() && !stopping_) {
        changed_.Wait(&mu_);
      }
      if (stopping_) {
        return;
      }
      queued_.erase(MergeKey(queue_.front().occurrence));
      q = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    Write(q);
  }
}

std::string KubeEventRecorder::NewName(const std::string& object_name) {
  auto ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.WallNow().time_since_epoch())
          .count());
  last_name_ns_ = std::max(ns, last_name_ns_ + 1);
  std::string suffix = absl::StrFormat(".%x", last_name_ns_);
  return object_name.substr(0, kMaxNameLength - suffix.size()) + suffix;
}

void KubeEventRecorder::Write(const Queued& q) {
  const EventOccurrence& e = q.occurrence;
  auto now = clock_.WallNow();
  EventWrite w = aggregator_.Observe(e, now, NewName(e.name));
  if (w.kind == EventWrite::Kind::kDrop) {
    {
      absl::MutexLock lock(&mu_);
      ++dropped_;
    }
    if (options_.on_drop) {
      options_.on_drop("spam_filter");
    }
    return;
  }
  if (w.kind == EventWrite::Kind::kPatch) {
    nlohmann::json patch = {
        {"count", w.count}, {"lastTimestamp", FormatTime(now)}, {"message", e.message}};
    absl::StatusOr<nlohmann::json> patched =
        api_.Patch(kube::kEvents, e.namespace_, w.event_name, kube::PatchType::kMerge, patch);
    if (patched.ok()) {
      return;
    }
    aggregator_.Forget(e);
    if (!kube::IsNotFound(patched.status())) {
      Failed("write_failed", std::string(patched.status().message()));
      return;
    }
    w = aggregator_.Observe(e, now, NewName(e.name));  // expired: a new Event
    if (w.kind != EventWrite::Kind::kCreate) {
      return;
    }
  }
  nlohmann::json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", w.event_name}, {"namespace", e.namespace_}}},
      {"involvedObject",
       {{"apiVersion", kApiVersion},
        {"kind", kKind},
        {"namespace", e.namespace_},
        {"name", e.name},
        {"uid", e.uid},
        {"resourceVersion", q.resource_version}}},
      {"reason", e.reason},
      {"message", e.message},
      {"type", e.type},
      {"source", {{"component", options_.component}, {"host", options_.instance}}},
      {"firstTimestamp", FormatTime(w.first_timestamp)},
      {"lastTimestamp", FormatTime(now)},
      {"count", w.count},
      {"reportingComponent", options_.component},
      {"reportingInstance", options_.instance}};
  absl::StatusOr<nlohmann::json> created = api_.Create(kube::kEvents, e.namespace_, event);
  if (!created.ok()) {
    aggregator_.Forget(e);
    Failed("write_failed", std::string(created.status().message()));
  }
}

void KubeEventRecorder::Failed(const char* cause, const std::string& what) {
  if (options_.on_drop) {
    options_.on_drop(cause);
  }
  Clock::TimePoint now = clock_.Now();
  int64_t unlogged = 0;
  {
    absl::MutexLock lock(&mu_);
    ++dropped_;
    ++unlogged_;
    if (logged_once_ && now - last_log_ < kLogEvery) {
      return;
    }
    logged_once_ = true;
    last_log_ = now;
    unlogged = unlogged_;
    unlogged_ = 0;
  }
  spdlog::warn("could not write a Kubernetes Event ({} dropped since the last message): {}",
               unlogged, what);
}

}  // namespace registrar::registration
