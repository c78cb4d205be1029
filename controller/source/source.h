// File: controller/source/source.h
//
// Where ServiceRegistrations come from: one Source per run (DESIGN §3), the manifest folder
// (manifest_source.h) or, later, the Kubernetes API. The rest of the controller sees only this.
//
// Flow: Start(handler) begins watching in the source's own thread. The source keeps its Store of
// desired objects up to date and calls `handler` with the identities whose desired object
// appeared, changed or disappeared (level-triggered: the handler enqueues the identities, workers
// re-read the store). When the first complete listing is in the store, synced() turns true and the
// handler is called once more (possibly with an empty list) so the consumer learns it may now
// collect orphans. Before synced() an absent object means "not known yet", never "deleted".
//
// Guarantees: the handler runs on the source's thread, never concurrently with itself, after the
// store already holds the new state. Stop() returns after the thread has ended; no call to the
// handler starts after Stop() returns.
// Thread-safety: store(), synced() and errors() may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controller/source/store.h"

namespace registrar::source {

class Source {
 public:
  using ChangeHandler = std::function<void(const std::vector<std::string>& identities)>;

  virtual ~Source() = default;

  // Starts the source's thread. REQUIRES: called at most once.
  virtual void Start(ChangeHandler handler) = 0;
  // Stops and joins the thread. Idempotent; also done by the destructor.
  virtual void Stop() = 0;

  virtual const Store& store() const = 0;
  // True once a complete listing has been loaded; stays true.
  virtual bool synced() const = 0;
  // Current problems by location (a file, a folder), for logs and the /registrations view.
  virtual std::map<std::string, std::string> errors() const = 0;
};

using SourcePtr = std::unique_ptr<Source>;

}  // namespace registrar::source
