#!/usr/bin/env bash
# `make run`: the controller on examples/ against a local etcd on 127.0.0.1:2379.
# Reuses an etcd already answering there; otherwise starts one with its data in .run/etcd
# (git-ignored) and stops it again when the controller exits.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
endpoint=127.0.0.1:2379
export ETCDCTL_API=3

etcd_pid=""
cleanup() {
  if [ -n "$etcd_pid" ]; then
    kill "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if etcdctl --endpoints "$endpoint" --dial-timeout=1s endpoint health >/dev/null 2>&1; then
  echo "run: using the etcd already answering on $endpoint"
else
  mkdir -p .run
  echo "run: starting etcd on $endpoint (data in .run/etcd, log in .run/etcd.log)"
  etcd --name registrar-dev --data-dir .run/etcd \
    --listen-client-urls "http://$endpoint" --advertise-client-urls "http://$endpoint" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster registrar-dev=http://127.0.0.1:2380 >.run/etcd.log 2>&1 &
  etcd_pid=$!
  for _ in $(seq 1 50); do
    if etcdctl --endpoints "$endpoint" --dial-timeout=1s endpoint health >/dev/null 2>&1; then
      break
    fi
    if ! kill -0 "$etcd_pid" 2>/dev/null; then
      echo "run: etcd failed to start; see .run/etcd.log" >&2
      exit 1
    fi
    sleep 0.2
  done
fi

cat <<MSG
run: the controller publishes examples/ in etcd. In another terminal:
  etcdctl get user.rpc --prefix          # what a go-zero client of user.rpc sees
  etcdctl get "" --prefix --keys-only    # everything, ownership records included
  curl -s 127.0.0.1:8080/registrations   # status of each registration
  edit examples/payment-rpc-paused.yaml (paused: false) and watch payment.rpc/<lease> appear
Ctrl-C stops the controller (leases are not revoked: a restart adopts them).
MSG
exec_args=(--manifests examples --etcd-endpoints "$endpoint" --http-addr 127.0.0.1:8080)
"$build_dir/etcd-registrar" "${exec_args[@]}" "${@:2}"
