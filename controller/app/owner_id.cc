#include "controller/app/owner_id.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/ascii.h"

#include "controller/common/backoff.h"
#include "controller/common/format.h"
#include "spdlog/spdlog.h"

namespace registrar::app {

std::string DefaultLocalOwnerId() {
  std::ifstream in("/etc/machine-id");
  std::string id;
  if (in && std::getline(in, id)) {
    id = std::string(absl::StripAsciiWhitespace(id));
  }
  if (id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    id = host;
  }
  return "local-" + id;
}

absl::StatusOr<std::string> KubeOwnerId(kube::Api& api, const std::function<bool()>& stopping) {
  // The watcher's schedule: 0.8 s doubling to 30 s, equal jitter.
  Backoff backoff(std::chrono::milliseconds(800), std::chrono::seconds(30));
  while (!stopping()) {
    absl::StatusOr<nlohmann::json> ns = api.Get(kube::kNamespaces, "", "kube-system");
    if (ns.ok()) {
      absl::StatusOr<kube::ObjectRef> ref = kube::RefOf(*ns);
      if (ref.ok() && !ref->uid.empty()) {
        std::string id = "k8s-" + ref->uid;
        spdlog::warn(
            "--owner-id is not set: using {} (the UID of namespace kube-system). Set --owner-id "
            "explicitly (deploy/ and the Helm chart do): it must be known while the API server "
            "is down, and two installs sharing one etcd need different ones.",
            id);
        return id;
      }
      spdlog::error("namespace kube-system has no metadata.uid; retrying");
    } else {
      spdlog::error(
          "--owner-id is not set and reading namespace kube-system failed: {} (set --owner-id, "
          "or grant get on namespaces/kube-system); nothing is adopted until it answers",
          ns.status().message());
    }
    const Backoff::Duration delay = backoff.Next();
    for (auto waited = std::chrono::milliseconds(0); waited < delay && !stopping();
         waited += std::chrono::milliseconds(200)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return absl::CancelledError("stopped before the owner id was known");
}

}  // namespace registrar::app
