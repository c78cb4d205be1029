// RegistrationReconciler in Kubernetes mode (reconciler.h): finalizer, status subresource and
// events around the same engine actions as the manifest mode.
#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "controller/common/status.h"
#include "controller/registration/conditions.h"
#include "controller/registration/reconciler.h"
#include "spdlog/spdlog.h"

namespace registrar::registration {

namespace {

// Status writes per reconcile: a 409 re-reads and retries at most this often.
constexpr int kStatusAttempts = 3;
// Superseded resource versions remembered per identity.
constexpr size_t kMaxSuperseded = 8;

bool Terminating(const ServiceRegistration& o) { return o.metadata.deletion_timestamp.has_value(); }

}  // namespace

RegistrationReconciler::Memo RegistrationReconciler::MemoOf(const std::string& identity) {
  absl::MutexLock lock(&mu_);
  auto it = memos_.find(identity);
  return it == memos_.end() ? Memo{} : it->second;
}

void RegistrationReconciler::Forget(const std::string& identity) {
  absl::MutexLock lock(&mu_);
  memos_.erase(identity);
  refusals_.erase(identity);
}

ServiceRegistration RegistrationReconciler::Newest(const std::string& identity,
                                                   const ServiceRegistration& cached) {
  absl::MutexLock lock(&mu_);
  auto it = memos_.find(identity);
  if (it == memos_.end()) {
    return cached;
  }
  Memo& m = it->second;
  if (m.uid != cached.metadata.uid) {
    memos_.erase(it);  // a new object under the same name
    return cached;
  }
  const auto& old = m.superseded;
  if (m.latest &&
      std::find(old.begin(), old.end(), cached.metadata.resource_version) != old.end()) {
    return *m.latest;
  }
  m.latest.reset();  // the cache has caught up with our writes, or gone past them
  m.superseded.clear();
  return cached;
}

void RegistrationReconciler::Wrote(const std::string& identity, const std::string& superseded_rv,
                                   const ServiceRegistration& written) {
  absl::MutexLock lock(&mu_);
  Memo& m = memos_[identity];
  if (m.uid != written.metadata.uid) {
    m = Memo{};
    m.uid = written.metadata.uid;
  }
  m.superseded.push_back(superseded_rv);
  if (m.superseded.size() > kMaxSuperseded) {
    m.superseded.erase(m.superseded.begin());
  }
  m.latest = written;
}

absl::StatusOr<runtime::Reconciler::Result> RegistrationReconciler::ReconcileKube(
    const std::string& identity, const std::shared_ptr<const ServiceRegistration>& object) {
  if (object == nullptr) {
    engine_.Remove(identity);
    Forget(identity);
    return Result{};
  }
  ServiceRegistration current = Newest(identity, *object);
  if (Terminating(current)) {
    return Finalize(identity, current);
  }
  absl::StatusOr<Decision> decision = Decide(current);
  if (!decision.ok()) {
    spdlog::warn("{}: {}", identity, std::string(decision.status().message()));
    return decision.status();  // retried with backoff; the engine keeps what it has
  }
  const std::optional<Refusal>& refusal = decision->refusal;
  KeepRefusal(identity, refusal);
  if (refusal) {
    engine_.Remove(identity);
    RETURN_IF_ERROR(PublishStatus(identity, current, refusal));
    if (std::optional<Clock::Duration> recheck = TargetRecheck(identity, *decision)) {
      return Result{*recheck};  // SecretNotFound: the Secret may be created meanwhile
    }
    // A person must act: terminal, not retried until the object changes.
    return absl::FailedPreconditionError(refusal->reason + ": " + refusal->message);
  }
  if (!HasOurFinalizer(current)) {
    absl::StatusOr<ServiceRegistration> added = options_.writer->AddFinalizer(current);
    if (absl::IsFailedPrecondition(added.status())) {
      // Being deleted: nothing is registered; the deletion is looked at soon.
      engine_.Remove(identity);
      return Result{options_.revoke_poll};
    }
    if (absl::IsNotFound(added.status())) {
      engine_.Remove(identity);
      Forget(identity);
      return Result{};
    }
    if (!added.ok()) {
      return added.status();
    }
    Wrote(identity, current.metadata.resource_version, *added);
    current = *std::move(added);
  }
  engine_.Upsert(ToDesired(current, decision->target));
  Clock::Duration deferred = Clock::Duration::zero();
  RETURN_IF_ERROR(PublishStatus(identity, current, std::nullopt, &deferred));
  std::optional<Clock::Duration> next = Resync();
  const auto sooner = [&next](Clock::Duration d) { next = next ? std::min(*next, d) : d; };
  if (deferred > Clock::Duration::zero()) {
    // The engine's listener re-queues it sooner when the key goes live.
    sooner(deferred);
  }
  if (std::optional<Clock::Duration> recheck = TargetRecheck(identity, *decision)) {
    sooner(*recheck);  // AuthFailed: read the Secrets again soon
  }
  return Result{next};
}

Clock::Duration RegistrationReconciler::RegisteringGrace(const std::string& identity,
                                                         const std::string& uid,
                                                         Clock::TimePoint now) {
  absl::MutexLock lock(&mu_);
  Memo& m = memos_[identity];
  if (m.uid != uid) {
    m = Memo{};
    m.uid = uid;
  }
  if (!m.registering_since) {
    m.registering_since = now;
  }
  return std::max<Clock::Duration>(Clock::Duration::zero(),
                                   *m.registering_since + options_.registering_grace - now);
}

absl::StatusOr<runtime::Reconciler::Result> RegistrationReconciler::Finalize(
    const std::string& identity, const ServiceRegistration& object) {
  engine_.Remove(identity);
  KeepRefusal(identity, std::nullopt);
  if (!HasOurFinalizer(object)) {
    Forget(identity);
    return Result{};
  }
  if (std::optional<publisher::State> state = engine_.Get(identity)) {
    {
      absl::MutexLock lock(&mu_);
      Memo& m = memos_[identity];
      if (m.uid.empty()) {
        m.uid = object.metadata.uid;
      }
      m.last_revoke_error = state->message;
    }
    RETURN_IF_ERROR(PublishStatus(identity, object, std::nullopt));
    return Result{options_.revoke_poll};
  }
  RETURN_IF_ERROR(options_.writer->RemoveFinalizer(object));
  std::string error = MemoOf(identity).last_revoke_error;
  const std::string& key = object.status.full_key;
  if (!error.empty()) {
    options_.writer->Event(
        object, EventType::kWarning, kEventRevoked,
        absl::StrCat("etcd did not answer while revoking (", error,
                     "): the resource is released after one TTL; the controller keeps retrying "
                     "the revoke of ",
                     key.empty() ? "the lease" : key, " until etcd answers"));
  } else {
    options_.writer->Event(object, EventType::kNormal, kEventRevoked,
                           key.empty()
                               ? std::string("nothing was registered in etcd")
                               : absl::StrCat("lease revoked; key ", key, " removed from etcd"));
  }
  Forget(identity);
  return Result{};
}

absl::Status RegistrationReconciler::PublishStatus(const std::string& identity,
                                                   const ServiceRegistration& object,
                                                   const std::optional<Refusal>& refusal,
                                                   Clock::Duration* deferred) {
  Clock& clock = options_.clock != nullptr ? *options_.clock : RealClock::Get();
  const std::optional<publisher::State> state = engine_.Get(identity);
  Memo memo = MemoOf(identity);
  EngineCounters seen = memo.uid == object.metadata.uid ? memo.counters : EngineCounters{};
  EngineCounters now = state ? EngineCounters{state->reregistrations, state->key_reputs} : seen;

  ServiceRegistration base = object;
  Status before = base.status;
  Status after = base.status;
  if (deferred != nullptr) {
    *deferred = Clock::Duration::zero();
    Status desired = ComputeStatus(base, state, refusal, base.status, clock.WallNow());
    if (desired != base.status && desired.phase == kPhasePending && !desired.conditions.empty() &&
        desired.conditions.front().reason == kReasonRegistering) {
      *deferred = RegisteringGrace(identity, object.metadata.uid, clock.Now());
      if (*deferred > Clock::Duration::zero()) {
        return absl::OkStatus();  // not written yet: the key is probably live in a moment
      }
    } else {
      absl::MutexLock lock(&mu_);
      if (auto it = memos_.find(identity); it != memos_.end()) {
        it->second.registering_since.reset();
      }
    }
  }
  for (int attempt = 1;; ++attempt) {
    Status desired = ComputeStatus(base, state, refusal, base.status, clock.WallNow());
    if (desired == base.status) {
      before = after = base.status;
      break;
    }
    absl::StatusOr<ServiceRegistration> written = options_.writer->WriteStatus(base, desired);
    if (written.ok()) {
      if (object.metadata.resource_version != base.metadata.resource_version) {
        Wrote(identity, object.metadata.resource_version, *written);  // the view that got a 409
      }
      Wrote(identity, base.metadata.resource_version, *written);
      before = base.status;
      after = desired;
      base = *std::move(written);
      break;
    }
    if (absl::IsNotFound(written.status())) {
      return absl::OkStatus();
    }
    if (!absl::IsAborted(written.status()) || attempt >= kStatusAttempts) {
      return written.status();
    }
    absl::StatusOr<ServiceRegistration> fresh =
        options_.writer->Get(object.metadata.namespace_, object.metadata.name);
    if (absl::IsNotFound(fresh.status())) {
      return absl::OkStatus();
    }
    if (!fresh.ok()) {
      return fresh.status();
    }
    if (fresh->metadata.uid != base.metadata.uid ||
        fresh->metadata.generation != base.metadata.generation ||
        Terminating(*fresh) != Terminating(base)) {
      // A newer spec (or a deletion): its own reconcile writes its status.
      return absl::AbortedError(absl::StrCat(identity, " changed (generation ",
                                             fresh->metadata.generation,
                                             ") while its status was written; reconciling again"));
    }
    base = *std::move(fresh);
  }
  for (const EventSpec& e : StatusEvents(before, after, seen, now)) {
    options_.writer->Event(base, e.type, e.reason, e.message);
  }
  if (now != seen) {
    absl::MutexLock lock(&mu_);
    Memo& m = memos_[identity];
    if (m.uid.empty()) {
      m.uid = object.metadata.uid;
    }
    m.counters = now;
  }
  return absl::OkStatus();
}

}  // namespace registrar::registration
