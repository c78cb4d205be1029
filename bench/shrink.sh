#!/usr/bin/env bash
# A large manifest folder that shrinks, again and again (issue 12, item 6): the controller's
# resident memory before and after, and whether every removed registration leaves /registrations.
#
#   bench/shrink.sh [BUILD_DIR] [--regs N] [--files F] [--remove R] [--cycles C]
#                   [--wrap "heaptrack -o FILE"] [--trim] [--after S] [--hold S]
#
# --hold S: the race hunt instead — each cycle removes the R files S seconds (a fraction allowed)
# after writing them, without waiting for them to register (removes meet grants, batched puts
# and revokes in flight), then waits until only the files left are listed, none Terminating.
#
# Starts Debian's etcd on free 127.0.0.1 ports and BUILD_DIR/etcd-registrar --manifests on a temp
# folder of F files holding N registrations (N/F each, TTL 10). Each cycle: all F files present
# -> wait until N are Registered -> RSS; remove R files at once (one `rm`) -> wait until exactly
# the (F-R)*N/F registrations of the files left are listed, none Terminating -> RSS. With --trim,
# glibc's malloc_trim(0) is called in the process (through gdb) after each of the two RSS readings
# and the RSS read again: what the process really holds vs what the allocator keeps. Then the R
# files come back for the next cycle. --after S: seconds between the removal's end and the
# "shrunk" reading (default 2; the controller returns freed memory itself 60 s after a large
# shrink, common/memory_trim.h). An entry still listed 120 s after its file went (the
# Terminating race) is printed with its state and fails the run (exit 1).
# --wrap runs the controller under a tool (heaptrack); the etcd log and the controller log stay
# in the printed temp folder. Everything started is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then build_dir=$1; shift; fi
regs=10000 files=100 remove=90 cycles=3 wrap="" trim=0 after=2 hold=""
while [ $# -gt 0 ]; do
  case $1 in
    --regs) regs=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --remove) remove=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    --wrap) wrap=$2; shift 2 ;;
    --trim) trim=1; shift ;;
    --after) after=$2; shift 2 ;;
    --hold) hold=$2; shift 2 ;;
    *) echo "shrink: unknown flag $1" >&2; exit 2 ;;
  esac
done
binary=$build_dir/etcd-registrar
[ -x "$binary" ] || { echo "shrink: $binary missing (cmake --build $build_dir --target etcd-registrar)" >&2; exit 2; }
per_file=$((regs / files))

tmp=$(mktemp -d /tmp/er-shrink.XXXXXX)
etcd_pid="" ctl_pid=""
pid_of_controller() {  # the controller itself (under --wrap, a child of the wrapper)
  if [ -z "$wrap" ]; then echo "$ctl_pid"; return; fi
  pgrep -n -f "^$binary --manifests $tmp/m" || pgrep -n -f "$binary --manifests $tmp/m"
}
cleanup() {
  set +e
  if [ -n "$ctl_pid" ]; then  # SIGTERM to the controller itself (a wrapper writes its data then)
    kill "$(pid_of_controller)" 2>/dev/null
    wait "$ctl_pid" 2>/dev/null
  fi
  if [ -n "$etcd_pid" ]; then kill "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null; fi
  echo "shrink: logs in $tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client=$(free_port) peer=$(free_port) http=$(free_port)
etcd --name shrink --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:$client" \
  --advertise-client-urls "http://127.0.0.1:$client" --listen-peer-urls "http://127.0.0.1:$peer" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "shrink=http://127.0.0.1:$peer" >"$tmp/etcd.log" 2>&1 &
etcd_pid=$!

write_file() {  # write_file INDEX: the file's registrations, written to a temp name and renamed
  local f=$1 out="$tmp/m/.f$1.tmp" i
  : >"$out"
  for ((i = 0; i < per_file; i++)); do
    printf -- '---\napiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata:\n  name: r%d-%d\nspec:\n  key: shrink/svc%d\n  value: "10.0.%d.%d:8080"\n  ttlSeconds: 10\n' \
      "$f" "$i" "$f" "$((f % 250))" "$((i % 250))" >>"$out"
  done
  mv "$out" "$tmp/m/f$f.yaml"
}
mkdir -p "$tmp/m"
for ((f = 0; f < files; f++)); do write_file "$f"; done

for _ in $(seq 1 100); do
  etcdctl --endpoints "127.0.0.1:$client" --dial-timeout=1s endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
# shellcheck disable=SC2086
$wrap "$binary" --manifests "$tmp/m" --etcd-endpoints "127.0.0.1:$client" \
  --http-addr "127.0.0.1:$http" --owner-id shrink >"$tmp/controller.log" 2>&1 &
ctl_pid=$!
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$(pid_of_controller)/status"; }

# count PHASE / count all / the entries listed whose file is gone
summary() {
  curl -sf "http://127.0.0.1:$http/registrations" | python3 -c '
import json, sys
regs = json.load(sys.stdin)["registrations"]
phases = {}
for r in regs:
    phases[r["phase"]] = phases.get(r["phase"], 0) + 1
print(len(regs), phases.get("Registered", 0), phases.get("Terminating", 0))
' 2>/dev/null || echo "0 0 0"
}
wait_for() {  # wait_for TOTAL REGISTERED SECONDS
  local deadline=$((SECONDS + $3)) s
  while [ $SECONDS -lt $deadline ]; do
    s=$(summary)
    read -r total registered terminating <<<"$s"
    if [ "$total" -eq "$1" ] && [ "$registered" -eq "$2" ]; then return 0; fi
    sleep 0.5
  done
  echo "shrink: after $3 s: listed $total, Registered $registered, Terminating $terminating (want $1/$2)" >&2
  return 1
}
trim() {
  gdb -p "$(pid_of_controller)" -batch -ex 'call (int)malloc_trim(0)' >/dev/null 2>&1 || true
}

left=$(((files - remove) * per_file))
printf '%-6s %-12s %-9s %-9s %-10s %-9s %s\n' cycle regs "full MB" "trimmed" "shrunk MB" "trimmed" "removal s"
status=0
for ((c = 1; c <= cycles; c++)); do
  full=- full_trimmed=-
  if [ -n "$hold" ]; then
    sleep "$hold"
  else
    if ! wait_for "$regs" "$regs" 300; then status=1; break; fi
    sleep 2  # let the settle writes and first renewals pass
    full=$(rss_mb)
    if [ "$trim" = 1 ]; then trim; sleep 1; full_trimmed=$(rss_mb); fi
  fi
  start=$SECONDS
  rm -f $(for ((f = 0; f < remove; f++)); do echo "$tmp/m/f$f.yaml"; done)
  if ! wait_for "$left" "$left" 120; then
    status=1
    curl -sf "http://127.0.0.1:$http/registrations" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["registrations"]:
    if r["phase"] != "Registered":
        print("  still listed:", r["namespace"] + "/" + r["name"], r["phase"], r["reason"], r["leaseID"], r["lastError"])
' | head -40
    break
  fi
  took=$((SECONDS - start))
  sleep "$after"
  shrunk=$(rss_mb)
  trimmed=-
  if [ "$trim" = 1 ]; then trim; sleep 1; trimmed=$(rss_mb); fi
  printf '%-6s %-12s %-9s %-9s %-10s %-9s %s\n' "$c" "$regs->$left" "$full" "$full_trimmed" "$shrunk" "$trimmed" "$took"
  for ((f = 0; f < remove; f++)); do write_file "$f"; done
done
exit $status
