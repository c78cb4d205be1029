#!/usr/bin/env bash
# `make bench`: runs every benchmark with the figures of bench/README.md.
set -euo pipefail
build_dir=${1:-build}
"$build_dir/bench/engine_bench" --n 100,1000,10000 --hold 60 --scale 100000
