// File: controller/registration/kube_object_writer.h
//
// ObjectWriter (object_writer.h) over kube::Api: the finalizer and status writes of a
// ServiceRegistration, and its core/v1 Events (kube_event_recorder.h).
//
// Flow and wire format:
//   - AddFinalizer: JSON patch [test /metadata/finalizers == the list as seen, add
//     /metadata/finalizers/- "registrar.dev/revoke"]; with no finalizers seen, [test
//     /metadata/resourceVersion == seen, add /metadata/finalizers ["registrar.dev/revoke"]] (a
//     JSON patch cannot test that a member is absent). A failed test (422) or a 409 re-reads the
//     object (GET) and tries again, at most kAttempts times; a terminating object is never
//     patched (kFailedPrecondition).
//   - RemoveFinalizer: JSON patch [test /metadata/finalizers/<i> == "registrar.dev/revoke",
//     remove /metadata/finalizers/<i>]: only our entry goes, whatever else changed; a shifted
//     index fails the test and is re-read and retried.
//   - WriteStatus: merge patch on /status of {"metadata": {"resourceVersion": seen},
//     "status": {every status field, null when empty}}: the resourceVersion makes it
//     conditional (409 Conflict when the object moved on), the nulls clear what the new status
//     leaves out (a merge patch keeps what it does not name).
// Thread-safety: any thread (Api is stateless; the recorder has its own lock).
// Ownership: refers to the Apis (and their Clients) and the Clock, which must outlive it; owns
// the event recorder and its thread.
#pragma once

#include <memory>
#include <string>

#include "controller/common/clock.h"
#include "controller/kube/api.h"
#include "controller/registration/kube_event_recorder.h"
#include "controller/registration/object_writer.h"

namespace registrar::registration {

class KubeObjectWriter final : public ObjectWriter {
 public:
  // Finalizer patches tried per call before kAborted.
  static constexpr int kAttempts = 5;

  // Events go through `event_api` when given (a client of their own, with its own rate limit, as
  // controller-runtime's recorder has), else through `api`.
  KubeObjectWriter(kube::Api& api, Clock& clock, EventRecorderOptions event_options = {},
                   kube::Api* event_api = nullptr);

  absl::StatusOr<ServiceRegistration> Get(const std::string& ns, const std::string& name) override;
  absl::StatusOr<ServiceRegistration> AddFinalizer(const ServiceRegistration& seen) override;
  absl::Status RemoveFinalizer(const ServiceRegistration& seen) override;
  absl::StatusOr<ServiceRegistration> WriteStatus(const ServiceRegistration& seen,
                                                  const Status& status) override;
  void Event(const ServiceRegistration& object, EventType type, const std::string& reason,
             const std::string& message) override;

  KubeEventRecorder& events() { return events_; }

 private:
  absl::StatusOr<ServiceRegistration> Decode(absl::StatusOr<nlohmann::json> answer) const;

  kube::Api& api_;
  KubeEventRecorder events_;
};

// The merge patch body of WriteStatus (exposed for tests).
nlohmann::json StatusPatch(const std::string& resource_version, const Status& status);

}  // namespace registrar::registration
