// File: controller/app/source_kit.h
//
// What differs between the controller's two sources (DESIGN §3), handed to the one wiring in
// controller.cc: the Source itself, how the reconciler talks back to it (manifest mode: nothing;
// Kubernetes mode: finalizer, status, events), the orphan rule at the first complete listing,
// and what /readyz says while the source is not synced.
//
// Flow: RunController resolves the owner id (owner_id.h), makes the engine and calls a kit
// factory (manifest_kit.cc, kube_kit.cc); it starts the engine (adoption) before the source, then
// runs the sourced controller until SIGINT/SIGTERM.
// Ownership: a kit owns everything its source and writer need (clients, threads), and is
// destroyed after the controller's workers have stopped.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "controller/common/clock.h"
#include "controller/config/options.h"
#include "controller/http/registrar_metrics.h"
#include "controller/publisher/engine.h"
#include "controller/registration/reconciler.h"
#include "controller/source/source.h"

namespace registrar::app {

struct SourceKit {
  virtual ~SourceKit() = default;

  virtual source::Source& source() = 0;
  // The owner id when --owner-id is not set (owner_id.h); may block until it is known or
  // `stopping()` says to give up (then an error).
  virtual absl::StatusOr<std::string> DefaultOwnerId(const std::function<bool()>& stopping) = 0;
  // Mode, owner prefix and (Kubernetes) the writer; RunController adds the resync period.
  virtual registration::ReconcilerOptions reconciler_options() const = 0;
  // The first complete listing holds `listed`: tells the engine which adopted records to keep
  // (Engine::MarkComplete with `listed` plus what the kit's orphan rule keeps; it may do so
  // later, from a thread of its own, e.g. once adoption is done). Runs on the source's thread
  // and must not block.
  virtual void FirstSync(std::vector<std::string> listed, publisher::Engine& engine) = 0;
  // Why the source is not synced yet, for /readyz (OK once synced).
  virtual absl::Status SourceHealth() const = 0;
  // Whether an engine state change re-queues the registration (Kubernetes mode: its status
  // follows the engine).
  virtual bool requeue_on_engine_change() const = 0;
  // The delay the source's server asked for in a failed reconcile's error (Kubernetes: a 429's
  // Retry-After); the work queue retries the key no sooner.
  virtual std::optional<std::chrono::seconds> RetryAfter(const absl::Status& /*error*/) const {
    return std::nullopt;
  }
  // For the start-up log line: "manifests /dir" or "Kubernetes https://... (all namespaces)".
  virtual std::string description() const = 0;
  // Releases what the source needs (threads) before the kit is destroyed. Idempotent.
  virtual void Stop() = 0;
};

// The Kubernetes API (kube_kit.cc): fails (exit 2) on a bad or missing configuration.
absl::StatusOr<std::unique_ptr<SourceKit>> NewKubeKit(const config::Options& options,
                                                      http::RegistrarMetrics& metrics,
                                                      Clock& clock);

// `--manifests DIR`.
absl::StatusOr<std::unique_ptr<SourceKit>> NewManifestKit(const config::Options& options,
                                                          Clock& clock);

}  // namespace registrar::app
