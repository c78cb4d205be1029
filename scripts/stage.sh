#!/usr/bin/env bash
# The stages of `make test` with their wall times, so that a CI log shows where the time went
# (docs/testing.md, "CI budget"). Each stage prints a line when it starts and one when it ends,
# and appends the second to LOG; --summary prints LOG with the total at the end.
#
#   scripts/stage.sh --start LOG                  empty LOG (before the first stage)
#   scripts/stage.sh LOG NAME COMMAND [ARG...]    run COMMAND; exit with its exit code
#   scripts/stage.sh --summary LOG                print every stage and the sum
set -uo pipefail
if [ "$1" = "--start" ]; then
  mkdir -p "$(dirname "$2")"
  : > "$2"
  exit 0
fi
if [ "$1" = "--summary" ]; then
  echo "== stages of make test (wall seconds):"
  awk '{ print "   " $0; total += $2 } END { printf "   %-13s %6.1f s\n", "total", total }' "$2"
  exit 0
fi
log=$1
name=$2
shift 2
start=$(date +%s%3N)  # milliseconds
echo "== stage $name: started $(date -u +%T) UTC"
"$@"
rc=$?
ms=$(($(date +%s%3N) - start))
line=$(printf '%-13s %4d.%d s  started %s UTC, exit %d' "$name" $((ms / 1000)) \
  $((ms % 1000 / 100)) "$(date -u -d "@$((start / 1000))" +%T)" "$rc")
echo "== stage $line"
mkdir -p "$(dirname "$log")"
echo "$line" >> "$log"
exit "$rc"
