#include "controller/runtime/reflector.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

#include "controller/common/format.h"
#include "controller/common/thread_name.h"
#include "controller/kube/api_status.h"

namespace registrar::runtime {

namespace {

constexpr auto kWaitSlice = std::chrono::milliseconds(50);
// A watch the server ends cleanly this soon, having sent nothing, counts as a failure.
constexpr auto kShortestCleanWatch = std::chrono::seconds(1);

void Call(const std::function<void()>& hook) {
  if (hook) {
    hook();
  }
}

// metadata.resourceVersion of an object (bookmarks carry no name, so not kube::RefOf).
std::string ResourceVersionOf(const nlohmann::json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return {};
  }
  auto rv = meta->find("resourceVersion");
  return rv != meta->end() && rv->is_string() ? rv->get<std::string>() : std::string();
}

}  // namespace

Reflector::Reflector(kube::Api& api, ReflectorSink& sink, Clock& clock, ReflectorOptions options)
    : api_(api),
      sink_(sink),
      clock_(clock),
      options_(std::move(options)),
      backoff_(options_.backoff),
      random01_(options_.random01) {
  if (!random01_) {
    random01_ = [engine = std::mt19937_64(std::random_device{}()),
                 dist = std::uniform_real_distribution<double>(0.0, 1.0)]() mutable {
      return dist(engine);
    };
  }
}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() {
  thread_ = std::jthread([this] { Run(); });
}

void Reflector::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (stream_ != nullptr) {
      stream_->Cancel();
    }
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

absl::Status Reflector::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

std::string Reflector::resource_version() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

ReflectorStats Reflector::stats() const {
  return {lists_.load(),         relists_.load(), list_pages_.load(),    list_failures_.load(),
          watches_.load(), watch_restarts_.load(), events_.load()};
}

std::string Reflector::resource_name() const {
  const kube::Resource& r = options_.resource;
  return r.group.empty() ? r.plural : absl::StrCat(r.plural, ".", r.group);
}

std::string Reflector::Describe(const char* verb) const {
  std::string text = absl::StrCat(verb, " ", resource_name());
  if (!options_.namespace_.empty()) {
    absl::StrAppend(&text, " in namespace ", options_.namespace_);
  }
  if (!options_.label_selector.empty()) {
    absl::StrAppend(&text, " with selector ", options_.label_selector);
  }
  return text;
}

bool Reflector::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

double Reflector::Random() { return random01_(); }

void Reflector::Run() {
  SetCurrentThreadName("reflector");
  bool need_list = true;
  while (!stopping()) {
    bool just_listed = false;
    if (need_list) {
      if (absl::Status listed = List(); !listed.ok()) {
        Fail(listed);
        continue;
      }
      need_list = false;
      just_listed = true;
    }
    WatchResult result = Watch();
    switch (result.end) {
      case WatchEnd::kStopped:
        return;
      case WatchEnd::kClean:
        break;
      case WatchEnd::kGone:
        spdlog::info("{}; listing again", result.status.message());
        need_list = true;
        if (just_listed && !result.received) {
          Fail(result.status);
        }
        break;
      case WatchEnd::kBroken:
        Fail(result.status);
        break;
    }
  }
}

absl::Status Reflector::List() {
  kube::ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  list_options.limit = options_.page_size;
  std::vector<nlohmann::json> objects;
  std::string resource_version;
  do {
    absl::StatusOr<kube::ListPage> page =
        api_.List(options_.resource, options_.namespace_, list_options);
    if (!page.ok()) {
      ++list_failures_;
      std::string message = absl::StrCat(Describe("list"), ": ", page.status().message());
      if (kube::IsNotFound(page.status()) && !options_.not_found_hint.empty()) {
        absl::StrAppend(&message, " (", options_.not_found_hint, ")");
      }
      return absl::Status(page.status().code(), message);
    }
    ++list_pages_;
    Call(options_.hooks.list_page);
    if (resource_version.empty()) {
      resource_version = page->resource_version;
    }
    for (nlohmann::json& item : page->items) {
      if (options_.transform) {
        options_.transform(item);
      }
      objects.push_back(std::move(item));
    }
    list_options.continue_token = page->continue_token;
    if (stopping()) {
      return absl::CancelledError("stopping");
    }
  } while (!list_options.continue_token.empty());

  const bool first = !synced_.load();
  {
    absl::MutexLock lock(&mu_);
    resource_version_ = resource_version;
  }
  // Healthy before the sink hears of the listing: a sink that turns synced in OnReplace
  // (KubeSource) must not see the previous failure as the current error.
  Healthy();
  sink_.OnReplace(std::move(objects), resource_version);
  ++lists_;
  if (!first) {
    ++relists_;
    Call(options_.hooks.relist);
  }
  synced_.store(true);
  return absl::OkStatus();
}

Reflector::WatchResult Reflector::Watch() {
  kube::WatchOptions watch_options;
  watch_options.resource_version = resource_version();
  watch_options.label_selector = options_.label_selector;
  watch_options.allow_bookmarks = true;
  const auto span = std::max<int64_t>(
      0, (options_.max_watch_timeout - options_.min_watch_timeout).count());
  watch_options.timeout_seconds = static_cast<int>(
      options_.min_watch_timeout.count() + static_cast<int64_t>(Random() * static_cast<double>(span)));

  absl::StatusOr<std::unique_ptr<kube::WatchStream>> opened =
      api_.Watch(options_.resource, options_.namespace_, watch_options);
  if (!opened.ok()) {
    absl::Status status(opened.status().code(),
                        absl::StrCat(Describe("watch"), ": ", opened.status().message()));
    return {kube::IsGone(opened.status()) ? WatchEnd::kGone : WatchEnd::kBroken, status};
  }
  std::unique_ptr<kube::WatchStream> stream = *std::move(opened);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return {WatchEnd::kStopped, absl::OkStatus()};
    }
    stream_ = stream.get();
  }
  if (watches_.fetch_add(1) > 0) {
    ++watch_restarts_;
    Call(options_.hooks.watch_restart);
  }
  Healthy();

  const Clock::TimePoint opened_at = clock_.Now();
  bool received = false;
  WatchResult result;
  while (true) {
    absl::StatusOr<std::optional<std::string>> line = stream->Next();
    if (stopping()) {
      result = {WatchEnd::kStopped, absl::OkStatus()};
      break;
    }
    if (!line.ok()) {
      result = {WatchEnd::kBroken,
                absl::Status(line.status().code(),
                             absl::StrCat(Describe("watch"), ": ", line.status().message()))};
      break;
    }
    if (!line->has_value()) {
      result = {WatchEnd::kClean, absl::OkStatus()};
      if (!received && clock_.Now() - opened_at < kShortestCleanWatch) {
        result = {WatchEnd::kBroken,
                  absl::UnavailableError(absl::StrCat(
                      Describe("watch"), ": the server ended the stream at once"))};
      }
      break;
    }
    if (absl::Status handled = HandleLine(**line, received); !handled.ok()) {
      absl::Status status(handled.code(), absl::StrCat(Describe("watch"), ": ", handled.message()));
      result = {kube::IsGone(handled) ? WatchEnd::kGone : WatchEnd::kBroken, status};
      break;
    }
  }
  result.received = received;
  stream->Cancel();
  absl::MutexLock lock(&mu_);
  stream_ = nullptr;
  return result;
}

absl::Status Reflector::HandleLine(const std::string& line, bool& received) {
  absl::StatusOr<kube::WatchEvent> event = kube::ParseWatchEvent(line);
  if (!event.ok()) {
    return event.status();
  }
  received = true;
  ++events_;
  if (options_.hooks.event) {
    options_.hooks.event(event->type);
  }
  if (event->type == kube::EventType::kError) {
    return kube::StatusFromWatchError(event->object.dump());
  }
  std::string rv = ResourceVersionOf(event->object);
  if (event->type != kube::EventType::kBookmark) {
    if (options_.transform) {
      options_.transform(event->object);
    }
    sink_.OnEvent(event->type, event->object);
  }
  if (!rv.empty()) {
    absl::MutexLock lock(&mu_);
    resource_version_ = std::move(rv);
  }
  return absl::OkStatus();
}

void Reflector::Healthy() {
  backoff_.OnSuccess(clock_.Now());
  {
    absl::MutexLock lock(&mu_);
    last_error_ = absl::OkStatus();
  }
  if (int failures = log_limiter_.Recovered(); failures > 0) {
    spdlog::info("{}: working again after {} failure(s)", Describe("list/watch"), failures);
  }
}

bool Reflector::Fail(const absl::Status& status) {
  if (stopping()) {
    return false;
  }
  const Clock::TimePoint now = clock_.Now();
  const Clock::Duration delay = backoff_.OnFailure(now, Random());
  {
    absl::MutexLock lock(&mu_);
    last_error_ = status;
  }
  if (log_limiter_.ShouldLog(std::string(status.message()), now)) {
    spdlog::warn("{} (retrying in {} ms)", status.message(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
  }
  return Sleep(delay);
}

bool Reflector::Sleep(Clock::Duration delay) {
  const Clock::TimePoint deadline = clock_.Now() + delay;
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const Clock::Duration left = deadline - clock_.Now();
    if (left <= Clock::Duration::zero()) {
      return true;
    }
    const auto slice = std::min<Clock::Duration>(left, kWaitSlice);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                         absl::FromChrono(std::chrono::duration_cast<std::chrono::microseconds>(slice)));
  }
  return false;
}

}  // namespace registrar::runtime
