// File: controller/registration/kube_event_recorder.h
//
// core/v1 Events about ServiceRegistrations, written the way client-go's EventRecorder writes
// them, so `kubectl describe sreg` lists them (KUBE-API.md §2.11).
//
// Flow: Record() puts the occurrence on a bounded queue and returns (a reconcile never waits
// for the API); an occurrence identical to one still queued (same object, type, reason and
// message) is merged into it instead of taking a second place. The recorder's own thread takes
// it, asks the EventAggregator
// (event_aggregation.h) what to write, and writes it through kube::Api:
//   - create: POST /api/v1/namespaces/<ns>/events of an Event named "<object>.<hex ns time>"
//     with involvedObject {apiVersion, kind, namespace, name, uid, resourceVersion}, reason,
//     message, type Normal|Warning, source.component/host, reportingComponent,
//     reportingInstance, firstTimestamp = lastTimestamp = now, count 1;
//   - repeat: merge PATCH of that Event: {count, lastTimestamp, message}; a 404 (the Event
//     expired) creates a new one;
//   - dropped by the spam filter: nothing.
// Best effort, but sized so that a burst does not lose events: the queue holds
// `max_queued` (16 384 by default, about 5 MB at most) distinct occurrences, so the Registered
// events of thousands of objects created at once all wait their turn (client-go's broadcaster
// drops beyond 1 000). Beyond that the new occurrence is dropped; a failed write is dropped too
// (after telling the aggregator). Every drop is counted by cause (`on_drop`: queue_full,
// write_failed, spam_filter) and logged at most once a minute, with the number dropped.
// Thread-safety: Record() and Flush() from any thread. Ownership: refers to the Api and the
// Clock (both must outlive it); owns its thread, which the destructor stops (queued events are
// dropped).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

#include "controller/common/clock.h"
#include "controller/kube/api.h"
#include "controller/registration/event_aggregation.h"
#include "controller/registration/object_writer.h"
#include "controller/registration/types.h"

namespace registrar::registration {

// `s` as valid UTF-8 of at most `max_bytes` bytes: invalid bytes become U+FFFD and a sequence
// that would cross the limit is left out (nlohmann::json::dump throws on invalid UTF-8).
std::string ValidUtf8(std::string_view s, size_t max_bytes = std::string::npos);

struct EventRecorderOptions {
  std::string component = "etcd-registrar";  // source.component, reportingComponent
  std::string instance;                      // source.host, reportingInstance; "": hostname
  size_t max_queued = 16384;
  size_t cache_entries = EventAggregator::kDefaultCapacity;
  // Called for every occurrence not written, with its cause (metrics; must not block).
  std::function<void(const char* cause)> on_drop;
};

class KubeEventRecorder {
 public:
  KubeEventRecorder(kube::Api& api, Clock& clock, EventRecorderOptions options = {});
  ~KubeEventRecorder();
  KubeEventRecorder(const KubeEventRecorder&) = delete;
  KubeEventRecorder& operator=(const KubeEventRecorder&) = delete;
  KubeEventRecorder(KubeEventRecorder&&) = delete;
  KubeEventRecorder& operator=(KubeEventRecorder&&) = delete;

  void Record(const ServiceRegistration& object, EventType type, const std::string& reason,
              const std::string& message);
  // Blocks until everything queued before the call is written or dropped (tests, shutdown).
  void Flush();

  // Occurrences not written (queue full, write failed, or spam-filtered).
  int64_t dropped() const;
  // Occurrences merged into an identical one still queued.
  int64_t merged() const;
  // Occurrences waiting (not counting the one being written).
  int queued() const;

 private:
  struct Queued {
    EventOccurrence occurrence;
    std::string resource_version;
  };
  void Run(const std::stop_token& stop);
  void Write(const Queued& q);
  std::string NewName(const std::string& object_name);
  void Failed(const char* cause, const std::string& what);
  static std::string MergeKey(const EventOccurrence& e);

  kube::Api& api_;
  Clock& clock_;
  const EventRecorderOptions options_;
  EventAggregator aggregator_;  // the recorder thread's only
  uint64_t last_name_ns_ = 0;   // the recorder thread's only

  mutable absl::Mutex mu_;
  absl::CondVar changed_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  // The queued occurrences by MergeKey (a deque keeps references across push_back/pop_front).
  absl::flat_hash_map<std::string, Queued*> queued_ ABSL_GUARDED_BY(mu_);
  int64_t merged_ ABSL_GUARDED_BY(mu_) = 0;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t unlogged_ ABSL_GUARDED_BY(mu_) = 0;
  Clock::TimePoint last_log_ ABSL_GUARDED_BY(mu_){};
  bool logged_once_ ABSL_GUARDED_BY(mu_) = false;
  std::jthread thread_;  // last: started after everything it uses
};

}  // namespace registrar::registration
