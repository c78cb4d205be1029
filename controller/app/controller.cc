// The controller command: a source of ServiceRegistrations -> work queue -> reconciler -> engine,
// with the HTTP endpoints beside it. Only wiring lives here: what differs between the manifest
// folder and Kubernetes is a SourceKit (source_kit.h), the first-sync handshake is
// runtime/sourced_controller.h, what the endpoints show is http/registrations_view.h.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"

#include "controller/app/app.h"
#include "controller/app/etcd_options.h"
#include "controller/app/signals.h"
#include "controller/app/source_kit.h"
#include "controller/common/clock.h"
#include "controller/common/format.h"
#include "controller/common/logging.h"
#include "controller/common/memory_trim.h"
#include "controller/config/policy.h"
#include "controller/http/health.h"
#include "controller/http/metrics.h"
#include "controller/http/registrar_metrics.h"
#include "controller/http/registrations_view.h"
#include "controller/http/server.h"
#include "controller/publisher/engine.h"
#include "controller/registration/reconciler.h"
#include "controller/runtime/controller_loop.h"
#include "controller/runtime/sourced_controller.h"
#include "controller/runtime/work_queue.h"
#include "spdlog/spdlog.h"

namespace registrar::app {

namespace {

constexpr char kControllerName[] = "serviceregistration";

}  // namespace

int RunController(const config::Options& options) {
  auto logging = SetupLogging(options.log_level,
                              options.log_format == "json" ? LogFormat::kJson : LogFormat::kText);
  if (!logging.ok()) {
    spdlog::error("{}", logging.message());
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
  http::Registry registry;
  http::RegistrarMetrics metrics(registry);

  auto made = options.manifests.empty() ? NewKubeKit(options, metrics, clock)
                                        : NewManifestKit(options, clock);
  if (!made.ok()) {
    spdlog::error("{}", made.status().message());
    return 2;
  }
  SourceKit& kit = **made;
  source::Source& src = kit.source();

  publisher::EngineOptions engine_options;
  engine_options.default_target = ToClientOptions(options.etcd);
  engine_options.ownership_records = true;
  engine_options.owner_prefix = options.owner_prefix;
  if (options.owner_id.empty()) {
    auto owner_id = kit.DefaultOwnerId([] { return TerminationRequested(); });
    if (!owner_id.ok()) {
      spdlog::info("stopping: {}", owner_id.status().message());
      return 0;
    }
    engine_options.owner_id = *owner_id;
  } else {
    engine_options.owner_id = options.owner_id;
  }
  engine_options.cluster = engine_options.owner_id;
  engine_options.dry_run = options.dry_run;
  spdlog::info("etcd-registrar {}: {}, etcd {}, owner id {}", config::Version(), kit.description(),
               absl::StrJoin(options.etcd.endpoints, ","), engine_options.owner_id);
  engine_options.on_request = [&metrics](const char* method, double seconds,
                                         const absl::Status& status) {
    metrics.etcd_request_duration_seconds.Observe({method}, seconds);
    if (!status.ok()) {
      metrics.etcd_request_errors_total.Inc({method, absl::StatusCodeToString(status.code())});
    }
  };
  auto engine = publisher::NewEngine(engine_options, clock);

  http::RegistrationMetrics registration_metrics(metrics);
  runtime::WorkQueue::Hooks queue_hooks;
  queue_hooks.depth = [&](int64_t depth) {
    metrics.workqueue_depth.Set({kControllerName}, static_cast<double>(depth));
  };
  queue_hooks.add = [&] { metrics.workqueue_adds_total.Inc({kControllerName}); };
  queue_hooks.retry = [&] { metrics.workqueue_retries_total.Inc({kControllerName}); };
  runtime::WorkQueue queue(clock, runtime::WorkQueue::Options{}, queue_hooks);
  if (kit.requeue_on_engine_change()) {
    // The status follows the engine: every state change re-queues its registration.
    engine->SetListener([&queue](const std::string& id) { queue.Add(id); });
  }

  registration::ReconcilerOptions reconciler_options = kit.reconciler_options();
  // spec.etcd targets take timeouts and backoff from here, never credentials or TLS material.
  reconciler_options.target_base = engine_options.default_target;
  reconciler_options.resync = std::chrono::seconds(options.resync_seconds);  // 0: never
  registration::RegistrationReconciler reconciler(
      registration::DesiredView{[&src](const std::string& id) { return src.store().Get(id); },
                                [&src] { return src.synced(); }},
      *engine, policy, reconciler_options);
  runtime::ControllerLoop::Hooks loop_hooks;
  loop_hooks.reconciled = [&](std::string_view result, double seconds) {
    metrics.reconcile_total.Inc({kControllerName, std::string(result)});
    metrics.reconcile_time_seconds.Observe({kControllerName}, seconds);
  };
  loop_hooks.retry_after = [&kit](const absl::Status& error) -> std::optional<Clock::Duration> {
    return kit.RetryAfter(error);
  };
  // The source's change handler queues identities; at the first complete listing the engine
  // learns every id to keep (the listed ones, and what the kit's orphan rule keeps), and keeps
  // their records until a worker hands each one over (no adopted registration is revoked
  // because a worker had not reached it yet, and only workers reconcile: one key by one worker
  // at a time).
  runtime::SourcedController controller(
      queue, reconciler, clock,
      {.name = kControllerName, .workers = options.workers, .hooks = std::move(loop_hooks)},
      {.synced = [&src] { return src.synced(); },
       .keys =
           [&src] {
             std::vector<std::string> ids;
             for (const auto& object : src.store().List()) {
               ids.push_back(object->Identity());
             }
             return ids;
           }},
      [&engine, &kit](std::vector<std::string> listed) {
        spdlog::info("first complete listing: {} registration(s)", listed.size());
        kit.FirstSync(std::move(listed), *engine);
      });
  auto views = [&] {
    return http::CollectViews(
        src.store().List(), engine->List(),
        [&reconciler](const std::string& id) { return reconciler.refusal(id); },
        std::chrono::system_clock::now());
  };

  http::HealthChecks healthz("healthz");
  healthz.Add("ping", [] { return absl::OkStatus(); });
  http::HealthChecks readyz("readyz");
  readyz.Add("source-synced", [&kit] { return kit.SourceHealth(); });
  readyz.Add("etcd", [&] {
    return options.dry_run || engine->stats().etcd_reachable
               ? absl::OkStatus()
               : absl::UnavailableError("the etcd keep-alive stream is down");
  });
  http::Server server(options.http_addr);
  server.Handle("/healthz", [&] { return healthz.Serve(); });
  server.Handle("/readyz", [&] { return readyz.Serve(); });
  server.Handle("/metrics", [&] {
    registration_metrics.Refresh(views(), engine->stats());
    return http::Response{200, http::Registry::kContentType, registry.Render()};
  });
  server.Handle("/registrations", [&] {
    return http::Response{200, "application/json", http::RegistrationsJson(views(), src.errors())};
  });

  // Adopt first: every lease of our owner id is kept alive before the source is read.
  if (auto started = engine->Start(); !started.ok()) {
    spdlog::error("{}", started.message());
    return 2;
  }
  if (auto listening = server.Start(); !listening.ok()) {
    spdlog::error("{}", listening.message());
    engine->Stop(/*revoke=*/false);
    return 2;
  }
  src.Start([&controller](const std::vector<std::string>& identities) {
    controller.OnChange(identities);
  });
  controller.Start();

  // After a large shrink (a folder emptied, a namespace deleted), freed memory goes back to the
  // OS (common/memory_trim.h): glibc keeps it in its arenas otherwise.
  TrimPolicy trim_policy(
      {.min_drop = 1000, .min_fraction = 0.25, .quiet = std::chrono::seconds(60)});
  // Once after the first load (issue 13): reading the folder and the registration burst (YAML
  // trees, gRPC messages, Txn batches) leave freed memory in glibc's arenas, ~15 MB for 10 000.
  // It goes back to the OS when the engine holds every declared registration and none is pending
  // any more (checked every 2 s from the first complete listing; List() copies every state, so
  // only until then), or 60 s after it.
  std::optional<std::chrono::steady_clock::time_point> synced_at;
  std::chrono::steady_clock::time_point load_checked{};
  bool load_trimmed = false;
  auto trim_after_load = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (load_trimmed || !src.synced() || now - load_checked < std::chrono::seconds(2)) {
      return;
    }
    load_checked = now;
    if (!synced_at) {
      synced_at = now;
    }
    const std::vector<publisher::State> states = engine->List();
    // Not before the workers have handed every declared registration to the engine.
    const bool pending = states.size() < src.store().size() ||
                         std::any_of(states.begin(), states.end(), [](const publisher::State& s) {
                           return s.phase == publisher::Phase::kPending;
                         });
    if (pending && now - *synced_at < std::chrono::seconds(60)) {
      return;
    }
    load_trimmed = true;
    const int64_t before = ResidentBytes();
    ReturnFreeMemory();
    spdlog::info(
        "first load done ({} registration(s)): freed memory returned to the OS "
        "(resident {} MB -> {} MB)",
        states.size(), before >> 20, ResidentBytes() >> 20);
  };
  auto housekeeping = [&] {
    trim_after_load();
    const auto count = static_cast<int64_t>(src.store().size());
    if (trim_policy.Observe(count, std::chrono::steady_clock::now())) {
      const int64_t before = ResidentBytes();
      ReturnFreeMemory();
      spdlog::info(
          "{} registration(s) after a large removal: freed memory returned to the OS "
          "(resident {} MB -> {} MB)",
          count, before >> 20, ResidentBytes() >> 20);
    }
    return false;
  };
  // The main thread waits for a signal and looks at the store's size every 10 s (a shrink needs
  // 60 s of quiet before the trim anyway): 0.1 wake-ups a second while idle.
  int sig = WaitForTermination(housekeeping, std::chrono::seconds(10));
  spdlog::info("signal {}: stopping (leases are not revoked; the next controller adopts them)",
               sig);
  kit.Stop();
  controller.Stop();
  server.Stop();
  engine->Stop(/*revoke=*/false);
  return 0;
}

}  // namespace registrar::app
