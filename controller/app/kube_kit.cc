// The Kubernetes API as a SourceKit (DESIGN §3, issue 11): the cluster configuration
// (in-cluster or kubeconfig), the REST client with its rate limit and metrics, the
// ServiceRegistration watcher (source/kube_source.h), the writer of finalizers, status and
// events (registration/kube_object_writer.h), the owner-id fallback (owner_id.h) and the scoped
// orphan rule (registration/orphan_rule.h).
#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

#include "controller/app/owner_id.h"
#include "controller/app/source_kit.h"
#include "controller/common/format.h"
#include "controller/common/thread_name.h"
#include "controller/kube/api.h"
#include "controller/kube/api_status.h"
#include "controller/kube/client.h"
#include "controller/kube/config.h"
#include "controller/kube/credentials.h"
#include "controller/kube/secrets.h"
#include "controller/registration/kube_object_writer.h"
#include "controller/registration/orphan_rule.h"
#include "controller/source/kube_source.h"
#include "pplx/threadpool.h"
#include "spdlog/spdlog.h"

namespace registrar::app {

namespace {

// How long the orphan check waits for adoption at a time (between looks at its stop token).
constexpr std::chrono::milliseconds kAdoptionWait{500};

class KubeKit final : public SourceKit {
 public:
  KubeKit(const config::Options& options, kube::ClusterConfig cluster,
          std::unique_ptr<kube::Client> client, std::unique_ptr<kube::Client> event_client,
          Clock& clock, http::RegistrarMetrics& metrics)
      : options_(options),
        cluster_(std::move(cluster)),
        client_(std::move(client)),
        event_client_(std::move(event_client)),
        api_(*client_),
        event_api_(*event_client_),
        writer_(api_, clock, EventOptions(metrics), &event_api_),
        source_(api_, clock, SourceOptions(options, metrics)) {}

  source::Source& source() override { return source_; }

  absl::StatusOr<std::string> DefaultOwnerId(const std::function<bool()>& stopping) override {
    return KubeOwnerId(api_, stopping);
  }

  registration::ReconcilerOptions reconciler_options() const override {
    registration::ReconcilerOptions o;
    o.mode = registration::SourceMode::kKubernetes;
    o.owner_prefix = options_.owner_prefix;
    o.writer = const_cast<registration::KubeObjectWriter*>(&writer_);
    // spec.etcd: the Secrets a target names, read with GET in the resource's namespace.
    o.secrets = [this](const std::string& ns, const std::string& name) {
      return kube::GetSecretData(const_cast<kube::Api&>(api_), ns, name);
    };
    return o;
  }

  void FirstSync(std::vector<std::string> listed, publisher::Engine& engine) override {
    const bool scoped = !options_.watch_namespace.empty() || !options_.selector.empty();
    if (!scoped) {
      // All namespaces, no selector: the complete list is the whole truth.
      engine.MarkComplete(std::move(listed));
      return;
    }
    // Scoped: a record outside the listing is an orphan only if a GET says so; the records are
    // known once adoption is done (it waits for etcd), so this runs on a thread of its own.
    orphan_check_ =
        std::jthread([this, &engine, listed = std::move(listed)](std::stop_token stop) mutable {
          SetCurrentThreadName("orphan-check");
          std::optional<std::vector<publisher::AdoptedRecord>> records;
          while (!stop.stop_requested() && !(records = engine.Unclaimed(kAdoptionWait))) {
          }
          if (!records) {
            return;  // stopping: nothing is revoked
          }
          std::vector<registration::UnclaimedRecord> unclaimed;
          for (const publisher::AdoptedRecord& record : *records) {
            unclaimed.push_back({record.id, record.uid});
          }
          engine.MarkComplete(registration::KnownIds(
              std::move(listed), unclaimed, /*scoped=*/true,
              [this](const registration::UnclaimedRecord& r) { return Lookup(r); }));
        });
  }

  absl::Status SourceHealth() const override {
    // Ready once the first list is in; a watch that breaks later is retried without turning
    // the controller unready (its registrations are held either way).
    return source_.synced() ? absl::OkStatus() : source_.health();
  }

  bool requeue_on_engine_change() const override { return true; }

  std::optional<std::chrono::seconds> RetryAfter(const absl::Status& error) const override {
    return kube::RetryAfter(error);
  }

  std::string description() const override {
    return absl::StrCat("Kubernetes ", cluster_.server, " (", cluster_.origin, "; ",
                        options_.watch_namespace.empty() ? std::string("all namespaces")
                                                         : "namespace " + options_.watch_namespace,
                        options_.selector.empty() ? "" : ", selector " + options_.selector, ")");
  }

  void Stop() override {
    if (orphan_check_.joinable()) {
      orphan_check_.request_stop();
      orphan_check_.join();
    }
    source_.Stop();
    writer_.events().Flush();
  }

 private:
  // What a GET says of an adopted record's object (the scoped orphan rule).
  registration::Lookup Lookup(const registration::UnclaimedRecord& r) {
    const size_t slash = r.id.find('/');
    if (slash == std::string::npos) {
      return registration::Lookup::kNotFound;  // not namespace/name: no object of ours
    }
    auto object =
        api_.Get(kube::kServiceRegistrations, r.id.substr(0, slash), r.id.substr(slash + 1));
    if (!object.ok()) {
      if (kube::IsNotFound(object.status())) {
        return registration::Lookup::kNotFound;
      }
      spdlog::warn("{}: the orphan check's GET failed: {}", r.id, object.status().message());
      return registration::Lookup::kFailed;
    }
    auto ref = kube::RefOf(*object);
    if (!ref.ok()) {
      return registration::Lookup::kFailed;
    }
    return ref->uid == r.uid ? registration::Lookup::kSameUid : registration::Lookup::kOtherUid;
  }

  static registration::EventRecorderOptions EventOptions(http::RegistrarMetrics& metrics) {
    registration::EventRecorderOptions o;
    o.on_drop = [&metrics](const char* cause) { metrics.kube_events_dropped_total.Inc({cause}); };
    return o;
  }

  static source::KubeSourceOptions SourceOptions(const config::Options& options,
                                                 http::RegistrarMetrics& metrics) {
    source::KubeSourceOptions o;
    o.namespace_ = options.watch_namespace;
    o.label_selector = options.selector;
    o.resync_period = std::chrono::seconds(options.resync_seconds);
    o.hooks.relist = [&metrics] { metrics.kube_relists_total.Inc({}); };
    o.hooks.watch_restart = [&metrics] { metrics.kube_watch_restarts_total.Inc({}); };
    return o;
  }

  const config::Options& options_;
  const kube::ClusterConfig cluster_;
  std::unique_ptr<kube::Client> client_;
  // Events have a client (and rate limit) of their own: a burst of them neither delays the
  // finalizer and status writes nor waits behind them.
  std::unique_ptr<kube::Client> event_client_;
  kube::Api api_;
  kube::Api event_api_;
  registration::KubeObjectWriter writer_;
  source::KubeSource source_;
  std::jthread orphan_check_;  // scoped mode: FirstSync's GETs once adoption is done
};

// Credentials shared by the two clients: one token file watch, one exec plugin run.
class SharedCredentials final : public kube::Credentials {
 public:
  explicit SharedCredentials(std::shared_ptr<kube::Credentials> shared)
      : shared_(std::move(shared)) {}
  absl::StatusOr<std::string> Token() override { return shared_->Token(); }
  void Invalidate() override { shared_->Invalidate(); }

 private:
  std::shared_ptr<kube::Credentials> shared_;
};

// cpprestsdk runs every request, response and watch-stream continuation of the Kubernetes client
// on its shared pool, 40 threads by default. The client never blocks a pool thread (requests and
// watch reads are continuations; workers wait on their own threads), so a few threads carry it:
// 4, fixed before the pool's first use (docs/architecture.md, "Threads").
constexpr size_t kHttpPoolThreads = 4;

void SizeHttpThreadPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    // OpenSSL first, so that its exit-time cleanup (an atexit handler, registered by its first
    // initialisation) runs after the pool's destructor has joined the pool's threads: each
    // thread's OpenSSL state (error queue, DRBGs of the TLS handshakes) is then freed as it ends.
    // The other way round the cleanup deleted that state's thread-local key first, and an
    // instrumented controller stopped by SIGTERM reported ~18 KB in ~80 libcrypto allocations
    // as leaks (controller_kube_exit_test, docs/testing.md "The sanitizer build").
    OPENSSL_init_ssl(0, nullptr);
    try {
      crossplat::threadpool::initialize_with_threads(kHttpPoolThreads);
    } catch (const std::exception& e) {  // already in use: keep its size
      spdlog::debug("cpprestsdk thread pool already started: {}", e.what());
    }
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<SourceKit>> NewKubeKit(const config::Options& options,
                                                      http::RegistrarMetrics& metrics,
                                                      Clock& clock) {
  auto cluster =
      kube::LoadClusterConfig({.kubeconfig = options.kubeconfig, .context = options.context});
  if (!cluster.ok()) {
    return cluster.status();
  }
  SizeHttpThreadPool();
  kube::ClientOptions client_options;
  client_options.qps = options.kube_api_qps;
  client_options.burst = options.kube_api_burst;
  client_options.user_agent = absl::StrCat("etcd-registrar/", config::Version());
  client_options.on_request = [&metrics](const std::string& verb, const std::string& resource,
                                         int code, double seconds) {
    const std::string code_text = std::to_string(code);
    metrics.kube_api_request_duration_seconds.Observe({verb, resource, code_text}, seconds);
    if (code < 200 || code >= 300) {
      metrics.kube_api_request_errors_total.Inc({verb, resource, code_text});
    }
  };
  std::shared_ptr<kube::Credentials> credentials = kube::NewCredentials(*cluster, clock);
  auto client = kube::NewClient(*cluster, std::make_unique<SharedCredentials>(credentials),
                                client_options, clock);
  if (!client.ok()) {
    return client.status();
  }
  auto event_client = kube::NewClient(*cluster, std::make_unique<SharedCredentials>(credentials),
                                      std::move(client_options), clock);
  if (!event_client.ok()) {
    return event_client.status();
  }
  return std::make_unique<KubeKit>(options, *std::move(cluster), *std::move(client),
                                   *std::move(event_client), clock, metrics);
}

}  // namespace registrar::app
