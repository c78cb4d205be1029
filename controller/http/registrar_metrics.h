// File: controller/http/registrar_metrics.h
//
// The metric families etcd-registrar exports on /metrics, registered in one place so that every
// module just updates them. Names follow controller-runtime where it has one.
//
//   controller_runtime_reconcile_total{controller,result}   counter  result:
//   success|error|requeue_after controller_runtime_reconcile_time_seconds{controller}   histogram
//   workqueue_depth{name}                                    gauge
//   workqueue_adds_total{name}                               counter
//   workqueue_retries_total{name}                            counter
//   etcd_registrar_registrations{phase}                      gauge    per status phase
//   etcd_registrar_lease_losses_total                        counter
//   etcd_registrar_reregistrations_total                     counter
//   etcd_registrar_key_reputs_total                          counter
//   etcd_registrar_pending_revokes                           gauge    revokes owed (etcd down)
//   etcd_registrar_etcd_connections                          gauge    etcd connections open
//   etcd_registrar_lease_revokes_total{reason}               counter  leases revoked, by reason
//                                                            (EngineStats::revokes; "settle":
//                                                            no registration's lease)
//   etcd_registrar_etcd_request_duration_seconds{method}     histogram
//   etcd_registrar_etcd_request_errors_total{method,code}    counter  code: gRPC code name
//   etcd_registrar_kube_api_request_duration_seconds{verb,resource,code}  histogram
//                                                            code: HTTP code, "0" = no answer
//   etcd_registrar_kube_api_request_errors_total{verb,resource,code}      counter  non-2xx
//   etcd_registrar_kube_relists_total                        counter  complete lists (first too)
//   etcd_registrar_kube_watch_restarts_total                 counter  watches opened again
//   etcd_registrar_kube_events_dropped_total{cause}          counter  Events not written:
//                                                            queue_full|write_failed|spam_filter
//
// Thread-safety: the families are thread-safe; the struct is built once and then only read.
#pragma once

#include "controller/http/metrics.h"

namespace registrar::http {

struct RegistrarMetrics {
  // Registers every family on `registry`, which must outlive this struct.
  explicit RegistrarMetrics(Registry& registry);

  Counter& reconcile_total;
  Histogram& reconcile_time_seconds;
  Gauge& workqueue_depth;
  Counter& workqueue_adds_total;
  Counter& workqueue_retries_total;
  Gauge& registrations;
  Counter& lease_losses_total;
  Counter& reregistrations_total;
  Counter& key_reputs_total;
  Gauge& pending_revokes;
  Gauge& etcd_connections;
  Counter& lease_revokes_total;
  Histogram& etcd_request_duration_seconds;
  Counter& etcd_request_errors_total;
  Histogram& kube_api_request_duration_seconds;
  Counter& kube_api_request_errors_total;
  Counter& kube_relists_total;
  Counter& kube_watch_restarts_total;
  Counter& kube_events_dropped_total;
};

}  // namespace registrar::http
