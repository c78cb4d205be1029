// The controller command: a source of ServiceRegistrations -> work queue -> reconciler -> engine,
// with the HTTP endpoints beside it. Only wiring lives here.
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"

#include "controller/app/app.h"
#include "controller/app/etcd_options.h"
#include "controller/app/signals.h"
#include "controller/common/clock.h"
#include "controller/common/format.h"
#include "controller/common/logging.h"
#include "controller/config/policy.h"
#include "controller/http/health.h"
#include "controller/http/metrics.h"
#include "controller/http/registrar_metrics.h"
#include "controller/http/server.h"
#include "controller/publisher/engine.h"
#include "controller/registration/reconciler.h"
#include "controller/registration/status.h"
#include "controller/runtime/controller_loop.h"
#include "controller/runtime/work_queue.h"
#include "controller/source/manifest_source.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace registrar::app {

namespace {

constexpr char kControllerName[] = "serviceregistration";

// `local-<machine-id>` (DESIGN §2), falling back to the host name.
std::string DefaultLocalOwnerId() {
  std::ifstream in("/etc/machine-id");
  std::string id;
  if (in && std::getline(in, id)) {
    id = std::string(absl::StripAsciiWhitespace(id));
  }
  if (id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    id = host;
  }
  return "local-" + id;
}

// One registration as the HTTP endpoints show it: the declared object (when the source still
// declares it), the engine's state, and the status computed from both.
struct View {
  std::string id;
  source::ObjectPtr object;  // nullptr: no longer declared, still being revoked
  std::optional<publisher::State> state;
  std::optional<registration::Refusal> refusal;
  registration::Status status;
};

std::vector<View> CollectViews(const source::Source& source, const publisher::Engine& engine,
                               const registration::RegistrationReconciler& reconciler) {
  std::map<std::string, publisher::State> states;
  for (auto& s : engine.List()) {
    states.emplace(s.id, s);
  }
  auto now = std::chrono::system_clock::now();
  std::vector<View> views;
  for (const auto& object : source.store().List()) {
    View v;
    v.id = object->Identity();
    v.object = object;
    if (auto it = states.find(v.id); it != states.end()) {
      v.state = it->second;
      states.erase(it);
    }
    v.refusal = reconciler.refusal(v.id);
    v.status = registration::ComputeStatus(*object, v.state, v.refusal, {}, now);
    views.push_back(std::move(v));
  }
  for (auto& [id, state] : states) {
    View v;
    v.id = id;
    v.state = state;
    v.status.phase = publisher::PhaseName(state.phase);
    v.status.full_key = state.full_key;
    v.status.lease_id = state.lease_id != 0 ? std::to_string(state.lease_id) : "";
    v.status.granted_ttl = state.granted_ttl;
    views.push_back(std::move(v));
  }
  return views;
}

// Publishes registration phases and the engine's counters into the Prometheus registry at
// scrape time.
class RegistrationMetrics {
 public:
  explicit RegistrationMetrics(http::RegistrarMetrics& metrics) : metrics_(metrics) {}

  void Refresh(const std::vector<View>& views, const publisher::EngineStats& now) {
    std::map<std::string, double> phases;
    for (auto phase :
         {publisher::Phase::kPending, publisher::Phase::kRegistered, publisher::Phase::kPaused,
          publisher::Phase::kFailed, publisher::Phase::kTerminating}) {
      phases[publisher::PhaseName(phase)] = 0;
    }
    for (const auto& v : views) {
      phases[v.status.phase] += 1;
    }
    for (const auto& [phase, n] : phases) {
      metrics_.registrations.Set({phase}, n);
    }
    absl::MutexLock lock(&mu_);
    metrics_.lease_losses_total.Inc({}, static_cast<double>(now.lease_losses - last_.lease_losses));
    metrics_.reregistrations_total.Inc(
        {}, static_cast<double>(now.reregistrations - last_.reregistrations));
    metrics_.key_reputs_total.Inc({}, static_cast<double>(now.key_reputs - last_.key_reputs));
    last_ = now;
  }

 private:
  http::RegistrarMetrics& metrics_;
  absl::Mutex mu_;
  publisher::EngineStats last_ ABSL_GUARDED_BY(mu_);
};

std::string RegistrationsJson(const std::vector<View>& views,
                              std::map<std::string, std::string> source_errors) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& v : views) {
    nlohmann::ordered_json j;
    auto slash = v.id.find('/');
    j["namespace"] = v.id.substr(0, slash);
    j["name"] = slash == std::string::npos ? "" : v.id.substr(slash + 1);
    j["key"] = v.object ? v.object->spec.key : "";
    j["fullKey"] = v.status.full_key;
    j["leaseID"] = v.status.lease_id;
    j["value"] = v.state && v.state->lease_id != 0
                     ? v.state->value
                     : (v.object ? v.object->spec.value.value_or("") : "");
    j["grantedTTL"] = v.status.granted_ttl;
    j["paused"] = v.object ? v.object->spec.paused : false;
    j["phase"] = v.status.phase;
    std::string reason = v.state ? publisher::CauseName(v.state->cause) : "";
    if (!v.status.conditions.empty()) {
      reason = v.status.conditions[0].reason;
    }
    j["reason"] = reason;
    j["lastError"] = v.refusal ? v.refusal->message : (v.state ? v.state->message : "");
    j["lastRenewal"] = nullptr;
    if (v.state && v.state->last_renewal) {
      j["lastRenewal"] = registration::FormatTime(*v.state->last_renewal);
    }
    out.push_back(std::move(j));
  }
  nlohmann::ordered_json doc;
  doc["registrations"] = std::move(out);
  doc["sourceErrors"] = std::move(source_errors);
  return doc.dump(2) + "\n";
}

}  // namespace

int RunController(const config::Options& options) {
  auto logging = SetupLogging(options.log_level,
                              options.log_format == "json" ? LogFormat::kJson : LogFormat::kText);
  if (!logging.ok()) {
    spdlog::error("{}", logging.message());
    return 2;
  }
  if (options.manifests.empty()) {
    spdlog::error(
        "the Kubernetes source is not part of this build yet: run with --manifests DIR (see "
        "README.md)");
    return 2;
  }
  config::Policy policy;
  if (!options.policy.empty()) {
    auto loaded = config::LoadPolicy(options.policy);
    if (!loaded.ok()) {
      spdlog::error("{}", loaded.status().message());
      return 2;
    }
    policy = *std::move(loaded);
  }
  BlockTerminationSignals();
  Clock& clock = RealClock::Get();

  publisher::EngineOptions engine_options;
  engine_options.default_target = ToClientOptions(options.etcd);
  engine_options.ownership_records = true;
  engine_options.owner_prefix = options.owner_prefix;
  engine_options.owner_id = options.owner_id.empty() ? DefaultLocalOwnerId() : options.owner_id;
  engine_options.cluster = engine_options.owner_id;
  engine_options.dry_run = options.dry_run;
  spdlog::info("etcd-registrar {}: manifests {}, etcd {}, owner id {}", config::Version(),
               options.manifests, absl::StrJoin(options.etcd.endpoints, ","),
               engine_options.owner_id);
  http::Registry registry;
  http::RegistrarMetrics metrics(registry);
  engine_options.on_request = [&metrics](const char* method, double seconds,
                                         const absl::Status& status) {
    metrics.etcd_request_duration_seconds.Observe({method}, seconds);
    if (!status.ok()) {
      metrics.etcd_request_errors_total.Inc({method, absl::StatusCodeToString(status.code())});
    }
  };
  auto engine = publisher::NewEngine(engine_options, clock);

  source::ManifestSourceOptions source_options;
  source_options.dir = options.manifests;
  source_options.owner_prefix = options.owner_prefix;
  auto source = source::ManifestSource::Create(source_options, clock);
  if (!source.ok()) {
    spdlog::error("{}", source.status().message());
    return 2;
  }

  RegistrationMetrics registration_metrics(metrics);
  runtime::WorkQueue::Hooks queue_hooks;
  queue_hooks.depth = [&](int64_t depth) {
    metrics.workqueue_depth.Set({kControllerName}, static_cast<double>(depth));
  };
  queue_hooks.add = [&] { metrics.workqueue_adds_total.Inc({kControllerName}); };
  queue_hooks.retry = [&] { metrics.workqueue_retries_total.Inc({kControllerName}); };
  runtime::WorkQueue queue(clock, runtime::WorkQueue::Options{}, queue_hooks);

  registration::ReconcilerOptions reconciler_options;
  reconciler_options.mode = registration::SourceMode::kManifests;
  reconciler_options.owner_prefix = options.owner_prefix;
  source::ManifestSource& src = **source;
  registration::RegistrationReconciler reconciler(
      registration::DesiredView{[&src](const std::string& id) { return src.store().Get(id); },
                                [&src] { return src.synced(); }},
      *engine, policy, reconciler_options);
  runtime::ControllerLoop::Hooks loop_hooks;
  loop_hooks.reconciled = [&](std::string_view result, double seconds) {
    metrics.reconcile_total.Inc({kControllerName, std::string(result)});
    metrics.reconcile_time_seconds.Observe({kControllerName}, seconds);
  };
  runtime::ControllerLoop loop(kControllerName, queue, reconciler, clock, options.workers,
                               loop_hooks);

  http::HealthChecks healthz("healthz");
  healthz.Add("ping", [] { return absl::OkStatus(); });
  http::HealthChecks readyz("readyz");
  readyz.Add("source-synced", [&src] {
    return src.synced() ? absl::OkStatus()
                        : absl::UnavailableError("the manifest folder has not been read yet");
  });
  readyz.Add("etcd", [&] {
    return options.dry_run || engine->stats().etcd_reachable
               ? absl::OkStatus()
               : absl::UnavailableError("the etcd keep-alive stream is down");
  });
  http::Server server(options.http_addr);
  server.Handle("/healthz", [&] { return healthz.Serve(); });
  server.Handle("/readyz", [&] { return readyz.Serve(); });
  server.Handle("/metrics", [&] {
    registration_metrics.Refresh(CollectViews(src, *engine, reconciler), engine->stats());
    return http::Response{200, http::Registry::kContentType, registry.Render()};
  });
  server.Handle("/registrations", [&] {
    return http::Response{200, "application/json",
                          RegistrationsJson(CollectViews(src, *engine, reconciler), src.errors())};
  });

  // Adopt first: every lease of our owner id is kept alive before the folder is read.
  if (auto started = engine->Start(); !started.ok()) {
    spdlog::error("{}", started.message());
    return 2;
  }
  if (auto listening = server.Start(); !listening.ok()) {
    spdlog::error("{}", listening.message());
    engine->Stop(/*revoke=*/false);
    return 2;
  }
  std::atomic<bool> completed{false};
  src.Start([&](const std::vector<std::string>& identities) {
    for (const auto& id : identities) {
      queue.Add(id);
    }
    if (src.synced() && !completed.exchange(true)) {
      // The engine keeps the records of every listed id until a worker has handed it over, so
      // no adopted registration is revoked merely because a worker had not reached it yet (and
      // this thread never reconciles: one key is reconciled by one worker at a time).
      std::vector<std::string> known;
      for (const auto& object : src.store().List()) {
        known.push_back(object->Identity());
      }
      engine->MarkComplete(std::move(known));
      spdlog::info("manifest folder read: {} registration(s)", src.store().size());
    }
  });
  loop.Start();

  int sig = WaitForTermination(nullptr, std::chrono::milliseconds(500));
  spdlog::info("signal {}: stopping (leases are not revoked; the next controller adopts them)",
               sig);
  src.Stop();
  loop.Stop();
  server.Stop();
  engine->Stop(/*revoke=*/false);
  return 0;
}

}  // namespace registrar::app
