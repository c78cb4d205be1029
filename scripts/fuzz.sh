#!/usr/bin/env bash
# Runs each libFuzzer target of a fuzz build (make fuzz) for a bounded number of runs and prints
# one line of figures per target: executions, executions per second, seconds, peak RSS.
# Usage: scripts/fuzz.sh BUILD_DIR RUNS MAX_SECONDS TARGET...
# The committed seeds (tests/fuzz/corpus/<target>) are read only; what the fuzzer finds goes to
# BUILD_DIR/fuzz/corpus/<target>, crashes to BUILD_DIR/fuzz/crash-*. Exits non-zero on a crash.
set -euo pipefail
build=$1 runs=$2 max_time=$3
shift 3
src=$(cd "$(dirname "$0")/.." && pwd)
out="$build/fuzz"
status=0
for target in "$@"; do
  mkdir -p "$out/corpus/$target"
  dict=()
  if [ -f "$src/tests/fuzz/$target.dict" ]; then dict=(-dict="$src/tests/fuzz/$target.dict"); fi
  log="$out/$target.log"
  start=$(date +%s)
  if ! "$out/$target" -runs="$runs" -max_total_time="$max_time" -print_final_stats=1 \
      -artifact_prefix="$out/" "${dict[@]}" "$out/corpus/$target" \
      "$src/tests/fuzz/corpus/$target" >"$log" 2>&1; then
    echo "fuzz: $target FAILED (see $log):" >&2
    grep -E "ERROR|FUZZ_CHECK|runtime error|Test unit written" "$log" | head -20 >&2 || true
    status=1
    continue
  fi
  seconds=$(($(date +%s) - start))
  stat() { awk -v k="stat::$1:" '$1 == k {print $2}' "$log"; }
  echo "fuzz: $target: $(stat number_of_executed_units) executions (asked $runs)," \
    "$(stat average_exec_per_sec) exec/s, ${seconds} s, peak RSS $(stat peak_rss_mb) MB," \
    "corpus $(ls "$out/corpus/$target" | wc -l) files"
done
exit $status
