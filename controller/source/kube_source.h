// File: controller/source/kube_source.h
//
// The Kubernetes API as the Source of ServiceRegistrations (DESIGN §3): a runtime::Reflector over
// serviceregistrations.registrar.dev (scoped by --namespace and --selector) whose objects are
// decoded into the Store.
//
// Expected flow: Start(handler) -> the reflector lists and watches on its own thread; each
// complete listing replaces the store's contents (Store::Replace: exactly the identities that
// appeared, changed or went, so a deletion during a watch gap reaches the handler as a change
// whose object is gone; objects that did not change keep their pointer and are not reported);
// each watch event sets or removes one identity (Store::Set). The handler gets the identities
// whose object changed. The first complete listing turns synced() true and calls the handler
// (possibly with an empty list). Every `resync_period` after that, a resync thread calls the
// handler with every identity in the store, so drift is corrected without events.
//
// Guarantees:
// - An object that fails registration::ParseJson keeps its last good version in the store
//   (a registration that was fine is never lost to a bad edit); its problem is in errors() under
//   its identity and logged once per distinct message. An object never decoded is not in the
//   store. Value rules (validation.h) are the reconciler's, not checked here.
// - Nothing is removed because a list failed or was partial (the reflector hands over complete
//   listings only). Before synced() an absent object means "not known yet".
// - The handler is never called concurrently with itself (the reflector's and the resync thread's
//   calls are serialized), always after the store holds the new state, and never after Stop()
//   returned.
// - errors() also carries the latest list/watch failure under the key resource_name()
//   ("serviceregistrations.registrar.dev"), e.g. a missing CRD or RBAC's 403 naming verb and
//   resource; health() gives it to /readyz.
//
// Thread-safety: the Source methods, health(), last_error() and stats() are thread-safe.
// Ownership: the Api and the clock are not owned and must outlive the source.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

#include "controller/common/clock.h"
#include "controller/kube/api.h"
#include "controller/runtime/reflector.h"
#include "controller/source/source.h"

namespace registrar::source {

// Said after a 404 on list: the collection does not exist.
inline constexpr char kCrdHint[] = "is the CRD installed? kubectl apply -f crds/";

struct KubeSourceOptions {
  std::string namespace_;      // --namespace; empty: every namespace
  std::string label_selector;  // --selector
  // --resync-period: how often every identity is handed to the handler again; zero: never.
  std::chrono::seconds resync_period{600};
  int64_t page_size = 500;
  // Each watch asks the server to end it after a random time in this range (client-go's).
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::seconds max_watch_timeout{600};
  runtime::ReconnectBackoff::Options backoff;
  // Draws in [0, 1) for jitter and watch timeouts; empty: random.
  std::function<double()> random01;
  // Metrics: list pages, relists, watch restarts, events by type (on the reflector's thread).
  runtime::ReflectorHooks hooks;
  // Metrics: a periodic resync handed every identity to the handler (on the resync thread).
  std::function<void()> on_resync;
};

class KubeSource final : public Source, private runtime::ReflectorSink {
 public:
  KubeSource(kube::Api& api, Clock& clock, KubeSourceOptions options);
  ~KubeSource() override;  // Stop()

  void Start(ChangeHandler handler) override;
  void Stop() override;
  const Store& store() const override { return store_; }
  bool synced() const override { return synced_.load(); }
  std::map<std::string, std::string> errors() const override;

  // For /readyz: OK once synced while the latest list/watch attempt succeeded; else why not
  // (the latest failure, or that the first list has not completed yet).
  absl::Status health() const;
  // The reflector's latest failure, OK when the latest list/watch attempt succeeded.
  absl::Status last_error() const { return reflector_.last_error(); }
  runtime::ReflectorStats stats() const { return reflector_.stats(); }
  int64_t resyncs() const { return resyncs_.load(); }
  std::string resource_name() const { return reflector_.resource_name(); }

 private:
  void OnReplace(std::vector<nlohmann::json> objects,
                 const std::string& resource_version) override;
  void OnEvent(kube::EventType type, const nlohmann::json& object) override;
  // The store's object for `object` (a decoded one, or the last good one when it does not
  // decode, or nullptr); records or clears its error. Sets *identity ("" when it has no name).
  ObjectPtr Decode(const nlohmann::json& object, std::string* identity);
  void Notify(const std::vector<std::string>& identities);
  void RunResync(std::stop_token stop);

  Clock& clock_;
  const KubeSourceOptions options_;
  Store store_;
  std::atomic<bool> synced_{false};
  std::atomic<int64_t> resyncs_{0};

  mutable absl::Mutex mu_;
  std::map<std::string, std::string> errors_ ABSL_GUARDED_BY(mu_);  // identity -> problem
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex handler_mu_;
  ChangeHandler handler_ ABSL_GUARDED_BY(handler_mu_);

  runtime::Reflector reflector_;
  std::jthread resync_thread_;  // owner thread only
};

}  // namespace registrar::source
