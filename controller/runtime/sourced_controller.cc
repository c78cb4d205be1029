#include "controller/runtime/sourced_controller.h"

#include <utility>

namespace registrar::runtime {

SourcedController::SourcedController(WorkQueue& queue, Reconciler& reconciler, Clock& clock,
                                     Options options, Listing listing, OnFirstSync on_first_sync)
    : queue_(queue),
      listing_(std::move(listing)),
      on_first_sync_(std::move(on_first_sync)),
      loop_(std::move(options.name), queue, reconciler, clock, options.workers,
            std::move(options.hooks)) {}

SourcedController::~SourcedController() { Stop(); }

void SourcedController::OnChange(const std::vector<std::string>& keys) {
  const WorkQueue::Priority priority =
      first_sync_done_.load() ? WorkQueue::Priority::kNormal : WorkQueue::Priority::kLow;
  for (const auto& key : keys) {
    queue_.Add(key, priority);
  }
  if (first_sync_done_.load() || !listing_.synced()) {
    return;
  }
  first_sync_done_.store(true);  // OnChange never runs concurrently with itself
  on_first_sync_(listing_.keys());
}

void SourcedController::Start() { loop_.Start(); }

void SourcedController::Stop() { loop_.Stop(); }

}  // namespace registrar::runtime
