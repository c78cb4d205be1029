#!/usr/bin/env bash
# `make bench`: runs every benchmark with the figures of bench/README.md, once per etcd version
# (BENCH_ETCD="3.4 3.5 3.6" by default; 3.5 and 3.6 come from .tools/, scripts/go-tools.sh).
set -euo pipefail
build_dir=${1:-build}
export ER_SOURCE_DIR=${ER_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
for version in ${BENCH_ETCD:-3.4 3.5 3.6}; do
  echo "=== etcd $version"
  "$build_dir/bench/engine_bench" --etcd "$version" --n 100,1000,10000 --hold 60 --scale 100000
  # The binary end to end in manifest mode: exec to all 10 000 keys, hold CPU and RSS, beside the
  # raw baseline and the engine alone of the same run (bench/README.md, "The binary end to end").
  "$build_dir/bench/process_bench" --etcd "$version" --n 10000 --files 100 --hold 30 --runs 3
done
echo "=== idle (bench/idle.sh: threads and wake-ups of the binary held idle on examples/)"
"$(dirname "$0")/idle.sh" "$build_dir" 20 | tail -1
