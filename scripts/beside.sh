#!/usr/bin/env bash
# One command run beside the stages of `make test`, at the lowest CPU priority: the sanitizer
# build compiles while ctest's tests mostly wait on etcd and timers, and yields the cores to
# them (nice 19). docs/testing.md, "CI budget".
#
#   scripts/beside.sh start DIR COMMAND [ARG...]   start COMMAND in its own session, its output
#                                                  in DIR/beside.log; returns at once
#   scripts/beside.sh wait DIR                     wait for it to end, print its output, exit
#                                                  with its exit code
#   scripts/beside.sh stop DIR                     end it (its process group) when still running
set -uo pipefail
cmd=$1
dir=$2
shift 2
mkdir -p "$dir"
case "$cmd" in
  start)
    rm -f "$dir/beside.rc"
    # setsid: a process group of its own, so that stop ends the whole build by its id.
    setsid nice -n 19 sh -c '"$@" > "$0/beside.log" 2>&1; echo $? > "$0/beside.rc"' \
      "$dir" "$@" < /dev/null &
    echo $! > "$dir/beside.pid"
    ;;
  wait)
    pid=$(cat "$dir/beside.pid")
    while [ ! -f "$dir/beside.rc" ] && kill -0 "$pid" 2> /dev/null; do
      sleep 1
    done
    cat "$dir/beside.log"
    rc=$(cat "$dir/beside.rc" 2> /dev/null || echo 1)
    exit "$rc"
    ;;
  stop)
    pid=$(cat "$dir/beside.pid" 2> /dev/null) || exit 0
    if [ ! -f "$dir/beside.rc" ] && kill -0 "$pid" 2> /dev/null; then
      kill -- -"$pid" 2> /dev/null
    fi
    exit 0
    ;;
  *)
    echo "usage: $0 start|wait|stop DIR [COMMAND...]" >&2
    exit 2
    ;;
esac
