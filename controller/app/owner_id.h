// File: controller/app/owner_id.h
//
// The controller's owner id: the name under which its ownership records live in etcd
// (`<owner-prefix><owner-id>/...`, DESIGN §2). It must be known before any API call succeeds
// (the engine adopts every lease of the owner id before the first list, so a restart while the
// API server is down loses nothing), stable across restarts, upgrades and reschedules, and
// distinct for two installs sharing one etcd. So --owner-id is the rule (deploy/ and the chart
// set it). Without it:
//   - manifest mode: `local-<machine-id>` (/etc/machine-id, else the host name);
//   - Kubernetes mode: `k8s-<UID of the kube-system namespace>`, read once from the API (GET
//     namespaces/kube-system; RBAC: get on that one namespace), retried with backoff until it
//     answers, and logged loudly: adoption waits for it, so with the API server down nothing is
//     adopted until it answers. A namespaced install that cannot read kube-system must set
//     --owner-id.
// Thread-safety: plain functions; KubeOwnerId blocks its caller (the main thread) until it has
// an answer or `stopping()` says to give up.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"

#include "controller/kube/api.h"

namespace registrar::app {

// `local-<machine-id>`.
std::string DefaultLocalOwnerId();

// `k8s-<uid of kube-system>`, retried (0.8 s doubling to 30 s, stopping() looked at every
// 200 ms); kCancelled when `stopping()` turned true first.
absl::StatusOr<std::string> KubeOwnerId(kube::Api& api,
                                        const std::function<bool()>& stopping);

}  // namespace registrar::app
