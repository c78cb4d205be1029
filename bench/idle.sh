#!/usr/bin/env bash
# The `idle` figure of `make bench`: etcd-registrar --manifests examples/ (3 registrations, 2 live,
# 1 paused) held idle against its own etcd on free 127.0.0.1 ports; prints the thread count and the
# context switches per second of each thread (from /proc/<pid>/task/*/status) over a window.
#
#   bench/idle.sh [BUILD_DIR] [SECONDS]     (defaults: build, 20)
#
# Voluntary switches are the wake-ups that count (a thread that blocks and is woken again);
# nonvoluntary ones are the scheduler preempting a running thread, which on a loaded machine says
# more about the load than about the process. Both are printed; the total of voluntary ones is the
# figure (docs/architecture.md, "Threads").
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
window=${2:-20}
binary="$build_dir/etcd-registrar"
etcd_bin=${ER_IDLE_ETCD:-etcd}
work=$(mktemp -d /tmp/er-idle.XXXXXX)
etcd_pid=""
er_pid=""
cleanup() {
  [ -n "$er_pid" ] && kill "$er_pid" 2>/dev/null && wait "$er_pid" 2>/dev/null
  [ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
client=$(free_port)
peer=$(free_port)
http=$(free_port)
endpoint="127.0.0.1:$client"
"$etcd_bin" --name idle --data-dir "$work/etcd" \
  --listen-client-urls "http://$endpoint" --advertise-client-urls "http://$endpoint" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "idle=http://127.0.0.1:$peer" >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 1 100); do
  ETCDCTL_API=3 etcdctl --endpoints "$endpoint" --dial-timeout=1s endpoint health >/dev/null 2>&1 &&
    break
  sleep 0.1
done

"$binary" --manifests examples --etcd-endpoints "$endpoint" --http-addr "127.0.0.1:$http" \
  --owner-id idle-bench --log-level warn >"$work/er.log" 2>&1 &
er_pid=$!
# All live: the three live keys (order.rpc/1, order.rpc/2, user.rpc/<lease>) present.
for _ in $(seq 1 200); do
  n=$(ETCDCTL_API=3 etcdctl --endpoints "$endpoint" get "" --prefix --keys-only 2>/dev/null |
    grep -c '\.rpc/' || true)
  [ "$n" -ge 3 ] && break
  sleep 0.1
done
[ "$n" -ge 3 ] || { echo "idle: registrations not live" >&2; cat "$work/er.log" >&2; exit 1; }
sleep 2  # let start-up work (initial listing, first renewals) settle before the window

snapshot() {  # tid name voluntary nonvoluntary, one line per thread
  for t in /proc/"$er_pid"/task/*; do
    awk -v tid="${t##*/}" '/^Name:/{n=$2} /^voluntary_ctxt_switches/{v=$2}
      /^nonvoluntary_ctxt_switches/{nv=$2} END{print tid, n, v, nv}' "$t/status" 2>/dev/null
  done
}
snapshot >"$work/before"
sleep "$window"
snapshot >"$work/after"
join <(sort "$work/before") <(sort "$work/after") | awk -v w="$window" '
  { dv = $6 - $3; dn = $7 - $4; tv += dv; tn += dn; n++
    printf "  %-7s %-16s %6.2f/s voluntary %6.2f/s nonvoluntary\n", $1, $2, dv / w, dn / w }
  END { printf "idle: %d threads, %.2f wake-ups/s (voluntary context switches; %.2f/s nonvoluntary) over %d s\n", n, tv / w, tn / w, w }'
