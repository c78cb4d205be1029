#!/usr/bin/env bash
# The build targets of the tests a ctest selection holds, one per line:
#
#   scripts/test-targets.sh BUILD_DIR [ctest selection: -L regex, -R regex, ...]
#
# ctest itself selects (`ctest --show-only=json-v1` with the arguments given, in a configured
# BUILD_DIR), so the list is the same tests `ctest` with those arguments runs; each test's target
# is the ER_TEST_TARGET of its environment (cmake/test_targets.cmake). `make sanitize-build` builds
# only these (plus etcd-registrar) in build-clang for `make sanitize-run` (docs/testing.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$dir" && ctest --show-only=json-v1 "$@") >"$tmp/tests.json"
cmake -DJSON="$tmp/tests.json" -DOUT="$tmp/targets" -P "$root/cmake/test_targets.cmake"
grep . "$tmp/targets" || true
