#include "controller/http/registrar_metrics.h"

namespace registrar::http {

RegistrarMetrics::RegistrarMetrics(Registry& registry)
    : reconcile_total(registry.AddCounter("controller_runtime_reconcile_total",
                                          "Total number of reconciliations per controller",
                                          {"controller", "result"})),
      reconcile_time_seconds(registry.AddHistogram(
          "controller_runtime_reconcile_time_seconds",
          "Length of time per reconciliation per controller", {"controller"})),
      workqueue_depth(registry.AddGauge("workqueue_depth", "Current depth of workqueue", {"name"})),
      workqueue_adds_total(registry.AddCounter(
          "workqueue_adds_total", "Total number of adds handled by workqueue", {"name"})),
      workqueue_retries_total(registry.AddCounter(
          "workqueue_retries_total", "Total number of retries handled by workqueue", {"name"})),
      registrations(registry.AddGauge("etcd_registrar_registrations",
                                      "ServiceRegistrations per status phase", {"phase"})),
      lease_losses_total(
          registry.AddCounter("etcd_registrar_lease_losses_total",
                              "Leases found expired or revoked behind the controller's back")),
      reregistrations_total(
          registry.AddCounter("etcd_registrar_reregistrations_total",
                              "Registrations granted a new lease after losing theirs")),
      key_reputs_total(registry.AddCounter(
          "etcd_registrar_key_reputs_total",
          "Registered keys written again after being deleted or changed by someone else")),
      pending_revokes(registry.AddGauge(
          "etcd_registrar_pending_revokes",
          "Leases whose revoke failed (etcd unreachable) and is retried until etcd answers")),
      etcd_connections(registry.AddGauge(
          "etcd_registrar_etcd_connections",
          "etcd connections open: the controller's own and one per other target in use")),
      lease_revokes_total(registry.AddCounter(
          "etcd_registrar_lease_revokes_total",
          "Leases revoked, by reason (settle: a throwaway lease, no registration's)", {"reason"})),
      etcd_request_duration_seconds(
          registry.AddHistogram("etcd_registrar_etcd_request_duration_seconds",
                                "Latency of etcd requests by method", {"method"})),
      etcd_request_errors_total(registry.AddCounter("etcd_registrar_etcd_request_errors_total",
                                                    "Failed etcd requests by method and code",
                                                    {"method", "code"})),
      kube_api_request_duration_seconds(registry.AddHistogram(
          "etcd_registrar_kube_api_request_duration_seconds",
          "Latency of Kubernetes API requests by verb, resource and HTTP code",
          {"verb", "resource", "code"})),
      kube_api_request_errors_total(registry.AddCounter(
          "etcd_registrar_kube_api_request_errors_total",
          "Kubernetes API requests answered with an error (or not at all: code 0)",
          {"verb", "resource", "code"})),
      kube_relists_total(registry.AddCounter(
          "etcd_registrar_kube_relists_total",
          "Complete lists of ServiceRegistrations after the first (a 410 or a failed watch)")),
      kube_watch_restarts_total(
          registry.AddCounter("etcd_registrar_kube_watch_restarts_total",
                              "Watches of ServiceRegistrations opened again after one ended")),
      kube_events_dropped_total(registry.AddCounter(
          "etcd_registrar_kube_events_dropped_total",
          "Kubernetes Events not written, by cause (queue_full, write_failed, spam_filter)",
          {"cause"})) {}

}  // namespace registrar::http
