#include "controller/registration/kube_object_writer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

#include "controller/kube/api_status.h"
#include "controller/registration/decode.h"
#include "controller/registration/encode.h"

namespace registrar::registration {

namespace {

using nlohmann::json;

bool Terminating(const ServiceRegistration& o) { return o.metadata.deletion_timestamp.has_value(); }

// A write based on a stale view: the patch's test failed (422) or the version moved (409).
bool Stale(const absl::Status& status) {
  return kube::IsInvalid(status) || kube::IsConflict(status);
}

}  // namespace

nlohmann::json StatusPatch(const std::string& resource_version, const Status& status) {
  Status clean = status;
  for (Condition& c : clean.conditions) {
    c.message = ValidUtf8(c.message, 32768);  // the CRD's maxLength
  }
  json s = StatusToJson(clean);
  for (const char* field : {"observedGeneration", "phase", "fullKey", "leaseID", "grantedTTL",
                            "value", "endpoints", "conditions"}) {
    if (!s.contains(field)) {
      s[field] = nullptr;
    }
  }
  return {{"metadata", {{"resourceVersion", resource_version}}}, {"status", std::move(s)}};
}

KubeObjectWriter::KubeObjectWriter(kube::Api& api, Clock& clock, EventRecorderOptions event_options,
                                   kube::Api* event_api)
    : api_(api),
      events_(event_api != nullptr ? *event_api : api, clock, std::move(event_options)) {}

absl::StatusOr<ServiceRegistration> KubeObjectWriter::Decode(
    absl::StatusOr<nlohmann::json> answer) const {
  if (!answer.ok()) {
    return answer.status();
  }
  absl::StatusOr<ServiceRegistration> object = ParseJson(*answer);
  if (!object.ok()) {
    return absl::InternalError(absl::StrCat(
        "the API server's ServiceRegistration does not decode: ", object.status().message()));
  }
  return object;
}

absl::StatusOr<ServiceRegistration> KubeObjectWriter::Get(const std::string& ns,
                                                          const std::string& name) {
  return Decode(api_.Get(kube::kServiceRegistrations, ns, name));
}

absl::StatusOr<ServiceRegistration> KubeObjectWriter::AddFinalizer(
    const ServiceRegistration& seen) {
  ServiceRegistration current = seen;
  const std::string& ns = seen.metadata.namespace_;
  const std::string& name = seen.metadata.name;
  for (int attempt = 1;; ++attempt) {
    if (Terminating(current)) {
      return absl::FailedPreconditionError(
          absl::StrCat(ns, "/", name, " is being deleted: no finalizer may be added"));
    }
    if (HasOurFinalizer(current)) {
      return current;
    }
    const auto& finalizers = current.metadata.finalizers;
    json patch =
        finalizers.empty()
            ? json::array({{{"op", "test"},
                            {"path", "/metadata/resourceVersion"},
                            {"value", current.metadata.resource_version}},
                           {{"op", "add"},
                            {"path", "/metadata/finalizers"},
                            {"value", json::array({kFinalizer})}}})
            : json::array(
                  {{{"op", "test"}, {"path", "/metadata/finalizers"}, {"value", finalizers}},
                   {{"op", "add"}, {"path", "/metadata/finalizers/-"}, {"value", kFinalizer}}});
    absl::StatusOr<ServiceRegistration> patched =
        Decode(api_.Patch(kube::kServiceRegistrations, ns, name, kube::PatchType::kJson, patch));
    if (patched.ok() || !Stale(patched.status())) {
      return patched;
    }
    if (attempt >= kAttempts) {
      return absl::AbortedError(absl::StrCat("the finalizers of ", ns, "/", name,
                                             " kept changing: ", patched.status().message()));
    }
    absl::StatusOr<ServiceRegistration> fresh = Get(ns, name);
    if (!fresh.ok()) {
      return fresh.status();
    }
    current = *std::move(fresh);
  }
}

absl::Status KubeObjectWriter::RemoveFinalizer(const ServiceRegistration& seen) {
  ServiceRegistration current = seen;
  const std::string& ns = seen.metadata.namespace_;
  const std::string& name = seen.metadata.name;
  for (int attempt = 1;; ++attempt) {
    const auto& finalizers = current.metadata.finalizers;
    auto it = std::find(finalizers.begin(), finalizers.end(), kFinalizer);
    if (it == finalizers.end()) {
      return absl::OkStatus();
    }
    std::string path = absl::StrCat("/metadata/finalizers/", it - finalizers.begin());
    json patch = json::array({{{"op", "test"}, {"path", path}, {"value", kFinalizer}},
                              {{"op", "remove"}, {"path", path}}});
    absl::StatusOr<json> patched =
        api_.Patch(kube::kServiceRegistrations, ns, name, kube::PatchType::kJson, patch);
    if (patched.ok() || kube::IsNotFound(patched.status())) {
      return absl::OkStatus();
    }
    if (!Stale(patched.status())) {
      return patched.status();
    }
    if (attempt >= kAttempts) {
      return absl::AbortedError(absl::StrCat("the finalizers of ", ns, "/", name,
                                             " kept changing: ", patched.status().message()));
    }
    absl::StatusOr<ServiceRegistration> fresh = Get(ns, name);
    if (kube::IsNotFound(fresh.status())) {
      return absl::OkStatus();
    }
    if (!fresh.ok()) {
      return fresh.status();
    }
    current = *std::move(fresh);
  }
}

absl::StatusOr<ServiceRegistration> KubeObjectWriter::WriteStatus(const ServiceRegistration& seen,
                                                                  const Status& status) {
  return Decode(api_.Patch(kube::kServiceRegistrations, seen.metadata.namespace_,
                           seen.metadata.name, kube::PatchType::kMerge,
                           StatusPatch(seen.metadata.resource_version, status), "status"));
}

void KubeObjectWriter::Event(const ServiceRegistration& object, EventType type,
                             const std::string& reason, const std::string& message) {
  events_.Record(object, type, reason, message);
}

}  // namespace registrar::registration
