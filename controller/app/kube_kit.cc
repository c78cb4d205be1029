// The Kubernetes API as a SourceKit (issue 11): being wired.
#include "controller/app/source_kit.h"

namespace registrar::app {

absl::StatusOr<std::unique_ptr<SourceKit>> NewKubeKit(const config::Options&,
                                                      http::RegistrarMetrics&, Clock&) {
  return absl::UnimplementedError(
      "the Kubernetes source is not part of this build yet: run with --manifests DIR (see "
      "README.md)");
}

}  // namespace registrar::app
