#include "controller/source/kube_source.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

#include "controller/common/format.h"
#include "controller/common/thread_name.h"
#include "controller/registration/decode.h"

namespace registrar::source {

namespace {

constexpr auto kWaitSlice = std::chrono::milliseconds(50);

runtime::ReflectorOptions ReflectorOptionsFrom(const KubeSourceOptions& options) {
  runtime::ReflectorOptions r;
  r.resource = kube::kServiceRegistrations;
  r.namespace_ = options.namespace_;
  r.label_selector = options.label_selector;
  r.page_size = options.page_size;
  r.min_watch_timeout = options.min_watch_timeout;
  r.max_watch_timeout = options.max_watch_timeout;
  r.backoff = options.backoff;
  r.not_found_hint = kCrdHint;
  r.random01 = options.random01;
  r.hooks = options.hooks;
  r.transform = kube::StripManagedFields;  // never read; half of a listing's memory
  return r;
}

}  // namespace

KubeSource::KubeSource(kube::Api& api, Clock& clock, KubeSourceOptions options)
    : clock_(clock),
      options_(std::move(options)),
      reflector_(api, *this, clock, ReflectorOptionsFrom(options_)) {}

KubeSource::~KubeSource() { Stop(); }

void KubeSource::Start(ChangeHandler handler) {
  {
    absl::MutexLock lock(&handler_mu_);
    handler_ = std::move(handler);
  }
  reflector_.Start();
  if (options_.resync_period > std::chrono::seconds::zero()) {
    resync_thread_ = std::jthread([this](std::stop_token stop) { RunResync(stop); });
  }
}

void KubeSource::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  reflector_.Stop();
  if (resync_thread_.joinable()) {
    resync_thread_.join();
  }
}

std::map<std::string, std::string> KubeSource::errors() const {
  std::map<std::string, std::string> errors;
  {
    absl::MutexLock lock(&mu_);
    errors = errors_;
  }
  if (absl::Status error = reflector_.last_error(); !error.ok()) {
    errors[reflector_.resource_name()] = std::string(error.message());
  }
  return errors;
}

absl::Status KubeSource::health() const {
  absl::Status error = reflector_.last_error();
  if (!error.ok()) {
    return error;
  }
  if (!synced()) {
    return absl::UnavailableError(
        absl::StrCat("the first list of ", reflector_.resource_name(), " has not completed yet"));
  }
  return absl::OkStatus();
}

ObjectPtr KubeSource::Decode(const nlohmann::json& object, std::string* identity) {
  identity->clear();
  absl::StatusOr<kube::ObjectRef> ref = kube::RefOf(object);
  if (!ref.ok()) {
    spdlog::warn("{}: an object without a usable name is ignored: {}", resource_name(),
                 ref.status().message());
    return nullptr;
  }
  *identity = absl::StrCat(ref->namespace_, "/", ref->name);
  ObjectPtr old = store_.Get(*identity);
  absl::StatusOr<registration::ServiceRegistration> decoded = registration::ParseJson(object);
  absl::MutexLock lock(&mu_);
  if (!decoded.ok()) {
    std::string message(decoded.status().message());
    if (old != nullptr) {
      absl::StrAppend(&message, " (keeping the last good version, resourceVersion ",
                      old->metadata.resource_version, ")");
    }
    std::string& error = errors_[*identity];
    if (error != message) {
      spdlog::warn("{}: {}", *identity, message);
      error = message;
    }
    return old;
  }
  errors_.erase(*identity);
  if (old != nullptr && *old == *decoded) {
    return old;
  }
  return std::make_shared<const registration::ServiceRegistration>(*std::move(decoded));
}

void KubeSource::OnReplace(std::vector<nlohmann::json> objects,
                           const std::string& resource_version) {
  std::map<std::string, ObjectPtr> desired;
  std::set<std::string> listed;
  for (const nlohmann::json& object : objects) {
    std::string identity;
    ObjectPtr decoded = Decode(object, &identity);
    if (!identity.empty()) {
      listed.insert(identity);
    }
    if (decoded != nullptr) {
      desired[identity] = std::move(decoded);
    }
  }
  {
    absl::MutexLock lock(&mu_);
    std::erase_if(errors_, [&](const auto& entry) { return !listed.contains(entry.first); });
  }
  const size_t count = desired.size();
  std::vector<std::string> changed = store_.Replace(std::move(desired));
  const bool first = !synced_.exchange(true);
  if (first) {
    spdlog::info("{}: listed {} registration(s) at resourceVersion {}", resource_name(), count,
                 resource_version);
  } else if (!changed.empty()) {
    spdlog::info("{}: relisted at resourceVersion {}: {} change(s) since the last watch event",
                 resource_name(), resource_version, changed.size());
  }
  if (first || !changed.empty()) {
    Notify(changed);
  }
}

void KubeSource::OnEvent(kube::EventType type, const nlohmann::json& object) {
  std::string identity;
  ObjectPtr next;
  if (type == kube::EventType::kDeleted) {
    absl::StatusOr<kube::ObjectRef> ref = kube::RefOf(object);
    if (!ref.ok()) {
      return;
    }
    identity = absl::StrCat(ref->namespace_, "/", ref->name);
    absl::MutexLock lock(&mu_);
    errors_.erase(identity);
  } else {
    next = Decode(object, &identity);
    if (identity.empty()) {
      return;
    }
  }
  if (store_.Set(identity, std::move(next))) {
    Notify({identity});
  }
}

void KubeSource::Notify(const std::vector<std::string>& identities) {
  absl::MutexLock lock(&handler_mu_);
  if (handler_) {
    handler_(identities);
  }
}

void KubeSource::RunResync(std::stop_token stop) {
  SetCurrentThreadName("resync");
  Clock::TimePoint next = clock_.Now() + options_.resync_period;
  while (!stop.stop_requested()) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        return;
      }
      const Clock::Duration left = next - clock_.Now();
      if (left > Clock::Duration::zero()) {
        const auto slice = std::min<Clock::Duration>(left, kWaitSlice);
        mu_.AwaitWithTimeout(
            absl::Condition(&stopping_),
            absl::FromChrono(std::chrono::duration_cast<std::chrono::microseconds>(slice)));
        continue;
      }
    }
    next = clock_.Now() + options_.resync_period;
    if (!synced()) {
      continue;
    }
    std::vector<std::string> identities;
    for (const ObjectPtr& object : store_.List()) {
      identities.push_back(object->Identity());
    }
    ++resyncs_;
    if (options_.on_resync) {
      options_.on_resync();
    }
    Notify(identities);
  }
}

}  // namespace registrar::source
