#!/usr/bin/env bash
# Runs clang-tidy (the repo's .clang-tidy) on our C++ files, with the compile commands of the clang
# build (`make thread-safety` makes build-clang/compile_commands.json).
#
#   scripts/tidy.sh                 files changed vs the merge base with origin/main (or main)
#   scripts/tidy.sh --base REF      files changed vs the merge base with REF
#   scripts/tidy.sh --all           every .cc of controller/, tests/ and bench/ in the build
#   scripts/tidy.sh FILE...         just these files
# Options: -p DIR (build dir, default build-clang), -j N (parallel runs, default nproc).
# "Changed" includes uncommitted edits. Headers are checked through the .cc files that include
# them (HeaderFilterRegex) and, when changed, on their own.
# Exits non-zero when clang-tidy reports an error (WarningsAsErrors) in any file.
set -euo pipefail

cd "$(dirname "$0")/.."
build=build-clang
jobs=$(nproc)
base=""
all=0
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --all) all=1 ;;
    --base) base="$2"; shift ;;
    -p) build="$2"; shift ;;
    -j) jobs="$2"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "tidy: unknown option $1" >&2; exit 2 ;;
    *) files+=("$1") ;;
  esac
  shift
done

db="$build/compile_commands.json"
if [ ! -f "$db" ]; then
  echo "tidy: $db is missing; run 'make thread-safety' (or configure $build) first" >&2
  exit 2
fi
tidy=$(command -v clang-tidy || command -v clang-tidy-14 || true)
if [ -z "$tidy" ]; then
  echo "tidy: clang-tidy is not installed (scripts/install-deps.sh installs it)" >&2
  exit 2
fi

ours='^(controller|tests|bench)/.*\.(cc|h)$'
if [ ${#files[@]} -eq 0 ]; then
  if [ "$all" -eq 1 ]; then
    # Every translation unit of ours in the build (generated *.pb.cc live in the build dir).
    mapfile -t files < <(python3 -c '
import json, os, sys
root = os.getcwd() + "/"
for e in json.load(open(sys.argv[1])):
    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
    if f.startswith(root):
        print(f[len(root):])' "$db" | grep -E "$ours" | sort -u)
  else
    if [ -z "$base" ]; then
      if git rev-parse -q --verify origin/main >/dev/null; then base=origin/main; else base=main; fi
    fi
    merge_base=$(git merge-base HEAD "$base")
    mapfile -t files < <({ git diff --name-only --diff-filter=d "$merge_base";
                           git ls-files --others --exclude-standard; } | grep -E "$ours" | sort -u)
  fi
fi

if [ ${#files[@]} -eq 0 ]; then
  echo "tidy: no C++ files to check${base:+ (nothing changed vs $base)}"
  exit 0
fi
echo "tidy: checking ${#files[@]} file(s) with $tidy -p $build, $jobs at a time"

# One clang-tidy per file; each file's report is printed whole once it is done.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export tidy build out
status=0
printf '%s\n' "${files[@]}" | xargs -P "$jobs" -I{} bash -c '
  log="$out/$(echo "{}" | tr / _).log"
  if "$tidy" -p "$build" --quiet --extra-arg=-Wthread-safety "{}" >"$log" 2>&1; then
    rc=0
  else
    rc=1
    touch "$out/failed"
  fi
  flock "$out/print.lock" grep -v -E "^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$" "$log" \
    || true
  exit 0' || status=1
if [ -e "$out/failed" ]; then
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "tidy: clang-tidy reported errors (see above)" >&2
fi
exit "$status"
