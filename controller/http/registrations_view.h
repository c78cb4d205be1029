// File: controller/http/registrations_view.h
//
// What the controller shows about its registrations on /registrations and /metrics: one view
// per registration joining the declared object (from the source), the engine's state and the
// reconciler's refusal, with the status computed from them (registration/status.h); the JSON
// document of /registrations; and the registration gauges and engine counters of /metrics.
//
// Flow (per request, on the HTTP pool): the caller reads its inputs (source store, engine
// List(), refusals, source errors), CollectViews() joins them, then RegistrationsJson() renders
// the document or RegistrationMetrics::Refresh() updates the metric families before the
// registry is rendered. This module reads no source and no engine itself: it gets plain values,
// so it is tested without threads, etcd or files.
//
// Costs: CollectViews is O(n log n) in the number of registrations; the JSON is built whole in
// memory (a scrape of 10 000 registrations builds a few megabytes).
// Thread-safety: the functions are pure. RegistrationMetrics::Refresh may run on several HTTP
// threads at once (the counter deltas are taken under its lock). The metrics struct is not owned
// and must outlive the RegistrationMetrics.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "controller/http/registrar_metrics.h"
#include "controller/publisher/engine.h"
#include "controller/registration/status.h"
#include "controller/registration/types.h"

namespace registrar::http {

using DeclaredObject = std::shared_ptr<const registration::ServiceRegistration>;

// One registration as the endpoints show it.
struct RegistrationView {
  std::string id;                 // "namespace/name"
  DeclaredObject object;          // nullptr: no longer declared, still being revoked
  std::optional<publisher::State> state;
  std::optional<registration::Refusal> refusal;
  registration::Status status;
};

// The reconciler's refusal of an identity, if any.
using RefusalLookup =
    std::function<std::optional<registration::Refusal>(const std::string& identity)>;

// One view per declared object (in the order given), then one per engine state no declared
// object has (a registration being revoked), ordered by id. The status of an undeclared one is
// the engine's phase, key, lease and TTL.
std::vector<RegistrationView> CollectViews(const std::vector<DeclaredObject>& declared,
                                           const std::vector<publisher::State>& states,
                                           const RefusalLookup& refusal,
                                           std::chrono::system_clock::time_point now);

// The /registrations document: {"registrations": [...], "sourceErrors": {location: message}},
// pretty-printed with a trailing newline. Field names are those of README.md.
std::string RegistrationsJson(const std::vector<RegistrationView>& views,
                              const std::map<std::string, std::string>& source_errors);

// Sets etcd_registrar_registrations{phase} from the views (every phase, 0 when none) and adds the
// engine's counter increases since the previous Refresh to the *_total counters.
class RegistrationMetrics {
 public:
  explicit RegistrationMetrics(RegistrarMetrics& metrics) : metrics_(metrics) {}

  void Refresh(const std::vector<RegistrationView>& views, const publisher::EngineStats& now);

 private:
  RegistrarMetrics& metrics_;
  absl::Mutex mu_;
  publisher::EngineStats last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace registrar::http
