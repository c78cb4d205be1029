#!/usr/bin/env bash
# `make run` and `make run-manifests`: the controller in the foreground against a local etcd for
# the registrations on 127.0.0.1:2379 (reused when one answers there; otherwise started with its
# data in .run/etcd, git-ignored, and stopped again when the controller exits).
#
#   scripts/run-local.sh BUILD_DIR kube [flags...]       `make run`: the Kubernetes mode. Starts the
#       local control plane (scripts/local-cluster.sh up; reused when running, left running after),
#       applies crds/ and examples/, runs etcd-registrar --kubeconfig <its admin kubeconfig>.
#   scripts/run-local.sh BUILD_DIR manifests [flags...]  `make run-manifests`: --manifests examples.
#
# Extra flags go to etcd-registrar. ER_RUN_ETCD (host:port, default 127.0.0.1:2379) and
# ER_RUN_HTTP (default 127.0.0.1:8080) move the two fixed addresses (e.g. when 2379 is taken).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
mode=${2:-kube}
endpoint=${ER_RUN_ETCD:-127.0.0.1:2379}
http=${ER_RUN_HTTP:-127.0.0.1:8080}
export ETCDCTL_API=3

say() { echo "run: $*" >&2; }

etcd_pid=""
cleanup() {
  if [ -n "$etcd_pid" ]; then
    kill "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

start_etcd() {
  if etcdctl --endpoints "$endpoint" --dial-timeout=1s endpoint health >/dev/null 2>&1; then
    say "using the etcd already answering on $endpoint"
    return
  fi
  local port=${endpoint##*:} peer
  peer=$((port + 1))
  mkdir -p .run
  say "starting etcd on $endpoint (data in .run/etcd, log in .run/etcd.log)"
  # Its own session: Ctrl-C reaches the controller only; etcd stops after it (cleanup).
  setsid etcd --name registrar-dev --data-dir .run/etcd \
    --listen-client-urls "http://$endpoint" --advertise-client-urls "http://$endpoint" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "registrar-dev=http://127.0.0.1:$peer" >.run/etcd.log 2>&1 &
  etcd_pid=$!
  for _ in $(seq 1 50); do
    if etcdctl --endpoints "$endpoint" --dial-timeout=1s endpoint health >/dev/null 2>&1; then
      return
    fi
    if ! kill -0 "$etcd_pid" 2>/dev/null; then
      say "etcd failed to start; see .run/etcd.log"
      exit 1
    fi
    sleep 0.2
  done
  say "etcd not healthy in 10 s; see .run/etcd.log"
  exit 1
}

# The local control plane with crds/ and examples/ applied; sets KUBECONFIG and PATH (kubectl).
prepare_cluster() {
  say "starting the local control plane (the first run builds kube-apiserver and kubectl:" \
    "several minutes; progress below)"
  local env_lines
  env_lines=$(scripts/local-cluster.sh up)
  eval "$env_lines"
  say "applying crds/ and examples/"
  kubectl apply -f crds/ >&2
  kubectl wait --for=condition=Established --timeout=60s \
    crd/serviceregistrations.registrar.dev >/dev/null
  # examples/order-rpc-with-id.yaml lives in namespace shop.
  kubectl create namespace shop --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl apply -f examples/ >&2
}

run_kube() {
  prepare_cluster
  start_etcd
  cat <<MSG
run: the controller reconciles the ServiceRegistrations of the local control plane into etcd.
In another terminal:
  eval "\$(scripts/local-cluster.sh env)"   # KUBECONFIG and kubectl for the local control plane
  export ETCDCTL_API=3
  kubectl get sreg -A                      # Key, Value, Paused, Phase, Full Key of each
  kubectl describe sreg user-rpc           # status, conditions and Events (Registered, ...)
  etcdctl --endpoints $endpoint get user.rpc --prefix   # what a go-zero client of user.rpc reads
  kubectl patch sreg payment-rpc --type merge -p '{"spec":{"paused":false}}'
                                           # payment.rpc/<leaseID> appears; Phase Registered
Ctrl-C stops the controller (leases are not revoked: a restart adopts them). The control plane
keeps running for the next \`make run\`; \`scripts/local-cluster.sh down\` stops it.
MSG
  "$build_dir/etcd-registrar" --kubeconfig "$KUBECONFIG" --etcd-endpoints "$endpoint" \
    --owner-id local-dev --http-addr "$http" "${@}"
}

run_manifests() {
  start_etcd
  cat <<MSG
run: the controller publishes examples/ in etcd. In another terminal:
  etcdctl get user.rpc --prefix          # what a go-zero client of user.rpc sees
  etcdctl get "" --prefix --keys-only    # everything, ownership records included
  curl -s $http/registrations   # status of each registration
  edit examples/payment-rpc-paused.yaml (paused: false) and watch payment.rpc/<lease> appear
Ctrl-C stops the controller (leases are not revoked: a restart adopts them).
MSG
  "$build_dir/etcd-registrar" --manifests examples --etcd-endpoints "$endpoint" \
    --http-addr "$http" "${@}"
}

case "$mode" in
  kube) run_kube "${@:3}" ;;
  manifests) run_manifests "${@:3}" ;;
  *)
    echo "usage: scripts/run-local.sh BUILD_DIR kube|manifests [etcd-registrar flags...]" >&2
    exit 2
    ;;
esac
