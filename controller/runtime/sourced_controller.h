// File: controller/runtime/sourced_controller.h
//
// A ControllerLoop fed by a level-triggered source, with the first-sync handshake: the piece
// between "a source says these keys changed" and "the workers reconcile them", kept free of any
// resource type so that it can be tested with fakes.
//
// Flow: the owner registers OnChange() as the source's change handler and calls Start() (the
// workers). Each OnChange(keys) queues every key: at low priority until the first sync is done
// (the keys of the initial listing), at normal priority after it (changes), so a change, or the
// owner's own normal-priority Add (e.g. the engine saying a registration went live), is not
// stuck behind thousands of listed keys (work_queue.h). The first OnChange that finds the source
// synced (its first complete listing is in) then calls `on_first_sync` once, with the keys of
// that listing, after the keys of that call are queued. The owner uses it to tell whatever
// collects orphans which keys exist (e.g. Engine::MarkComplete(known ids)).
//
// Guarantees: a key is reconciled only by the loop's workers, one worker at a time (the work
// queue's rule). OnChange never reconciles, so the handshake cannot race a worker on the same
// key (the controller once reconciled the first listing on the source thread while the workers
// ran, which broke the Reconciler's one-caller-per-key contract). `on_first_sync` runs at most
// once, on the thread that called OnChange, and may run before, while or after the workers
// reconcile the listed keys: whoever it informs must not expect them reconciled yet.
//
// Thread-safety: OnChange from the source's thread (never concurrently with itself, as a Source
// guarantees); Start/Stop from the owner thread; first_sync_done() from any thread. The queue,
// reconciler and clock are not owned and must outlive this object.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "controller/common/clock.h"
#include "controller/runtime/controller_loop.h"
#include "controller/runtime/work_queue.h"

namespace registrar::runtime {

class SourcedController {
 public:
  // What the handshake reads from the source (it knows no source type).
  struct Listing {
    // True once the source's first complete listing is in; stays true.
    std::function<bool()> synced;
    // Every key of the source's current listing.
    std::function<std::vector<std::string>()> keys;
  };
  // Called once with the keys of the first complete listing.
  using OnFirstSync = std::function<void(std::vector<std::string> keys)>;

  struct Options {
    std::string name;  // for logs and the loop's metrics label
    int workers = 1;   // REQUIRES: >= 1
    ControllerLoop::Hooks hooks;
  };

  SourcedController(WorkQueue& queue, Reconciler& reconciler, Clock& clock, Options options,
                    Listing listing, OnFirstSync on_first_sync);
  ~SourcedController();  // Stop()

  SourcedController(const SourcedController&) = delete;
  SourcedController& operator=(const SourcedController&) = delete;

  // The source's change handler: queues `keys`, then completes the first-sync handshake once
  // the source is synced.
  void OnChange(const std::vector<std::string>& keys);

  // Starts the workers. REQUIRES: not started before.
  void Start();
  // Shuts the queue down and joins the workers after their current reconcile. Idempotent.
  void Stop();

  // True once `on_first_sync` has been called.
  bool first_sync_done() const { return first_sync_done_.load(); }

 private:
  WorkQueue& queue_;
  const Listing listing_;
  const OnFirstSync on_first_sync_;
  std::atomic<bool> first_sync_done_{false};
  ControllerLoop loop_;
};

}  // namespace registrar::runtime
