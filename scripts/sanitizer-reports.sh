#!/usr/bin/env bash
# The sanitizer build's reports (ASan, LSan, UBSan) of a test run: every process started by a test
# of BUILD_DIR (default build-clang), the etcd-registrar children included, writes its report to
# BUILD_DIR/sanitizer-reports/<test>.<binary>.<pid> (CMakeLists.txt, ER_TEST_ENV).
#
#   scripts/sanitizer-reports.sh [BUILD_DIR] --clear   remove old reports (before a run)
#   scripts/sanitizer-reports.sh [BUILD_DIR]           print every report; exit 1 when there is one
set -euo pipefail
build=build-clang
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then build=$1; shift; fi
dir=$build/sanitizer-reports
if [ "${1:-}" = "--clear" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  exit 0
fi
shopt -s nullglob
reports=("$dir"/*)
if [ ${#reports[@]} -eq 0 ]; then
  echo "sanitizer-reports: none in $dir"
  exit 0
fi
for r in "${reports[@]}"; do
  echo "===== $r"
  head -c 20000 "$r"
done
echo "sanitizer-reports: ${#reports[@]} report(s) in $dir (test.binary.pid): FAILED" >&2
exit 1
