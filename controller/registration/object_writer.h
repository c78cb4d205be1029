// File: controller/registration/object_writer.h
//
// The API side of reconciling a ServiceRegistration in Kubernetes mode: the finalizer, the
// status subresource and core/v1 Events. The reconciler (reconciler.h, with
// ReconcilerOptions::writer set) is its only caller; kube_object_writer.h implements it over
// kube::Api, tests use a recording fake.
//
// Concurrency rules the implementation keeps (KUBE-API.md §2.4, §2.7–2.9):
//   - Finalizers are written on the main resource with JSON patches guarded by `test`, so a
//     write based on a stale view fails (422) instead of clobbering another controller's
//     finalizer; the implementation then re-reads and retries (a few times).
//   - Status is written to /status only, as a merge patch whose body carries
//     metadata.resourceVersion of the object the status was computed from: the API server
//     applies it only if the object is still at that version, else answers 409 Conflict. So a
//     status computed for an older spec never lands on a newer one; the caller re-reads (Get),
//     and recomputes when the spec (generation) is unchanged, or leaves the newer generation to
//     its own reconcile. Every status field is in the patch (null when empty), so a field
//     cleared in `status` is cleared on the server too.
//   - Events are best-effort: Event() queues and returns at once, never fails, and aggregates
//     repeats (event_aggregation.h).
//
// Thread-safety: every method may be called from several workers at once (for different
// objects). Ownership: implementations refer to their client, which outlives them.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "controller/registration/types.h"

namespace registrar::registration {

// core/v1 Event.type.
enum class EventType { kNormal, kWarning };
const char* EventTypeName(EventType type);  // "Normal", "Warning"

class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;

  // The object as the API server has it now. kNotFound when it is gone; other API errors as
  // kube/api_status.h maps them.
  virtual absl::StatusOr<ServiceRegistration> Get(const std::string& ns,
                                                  const std::string& name) = 0;

  // Adds kFinalizer to the object `seen` describes and returns the object as the server wrote
  // it (with its new resourceVersion); returns the server's object unchanged when the finalizer
  // is already there. A stale `seen` (the patch's test fails: 422, or 409) is re-read and
  // retried. kFailedPrecondition when the object is being deleted (no finalizer may be added
  // then: the server would answer 422); kNotFound when it is gone; kAborted when the
  // finalizers kept changing; other API errors as they come.
  virtual absl::StatusOr<ServiceRegistration> AddFinalizer(const ServiceRegistration& seen) = 0;

  // Removes kFinalizer, and nothing else: a JSON patch `test` of our entry at its index, then
  // `remove` of that index. OK when it is not there (any more) or the object is gone. A stale
  // `seen` is re-read and retried; kAborted when the list kept changing.
  virtual absl::Status RemoveFinalizer(const ServiceRegistration& seen) = 0;

  // Writes `status` through /status, conditional on seen.metadata.resource_version (see
  // above). Returns the object as written. kAborted (kube::IsConflict) when the object changed
  // since `seen`; kNotFound when it is gone; other API errors as they come.
  virtual absl::StatusOr<ServiceRegistration> WriteStatus(const ServiceRegistration& seen,
                                                          const Status& status) = 0;

  // Records a core/v1 Event about `object` (best-effort: queued, aggregated, never blocks for
  // long, never fails the caller).
  virtual void Event(const ServiceRegistration& object, EventType type, const std::string& reason,
                     const std::string& message) = 0;
};

// True when kFinalizer is among the object's finalizers.
bool HasOurFinalizer(const ServiceRegistration& object);

}  // namespace registrar::registration
