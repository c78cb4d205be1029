#!/usr/bin/env bash
# Builds tests/compat (gozero-compat: go-zero's own Publisher and Subscriber, the judge of the
# `compat` tests) once per content into a cache outside the clone, and links it at
# .tools/gozero-compat. The cache key is a hash of the Go toolchain version and
# tests/compat/{go.mod,go.sum,*.go}; an unchanged tree costs one hash and a symlink.
# Needs Go and the Go module proxy (the first time); the go-zero version is pinned in
# tests/compat/go.mod (checked against GOZERO_VERSION in tools/versions.env when that file sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath

die() {
  echo "build-compat: $*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "go not found in PATH (Go 1.26 is needed to build tests/compat)"
pinned=$(awk '$1 == "require" && $2 == "github.com/zeromicro/go-zero" {print $3}
  $1 == "github.com/zeromicro/go-zero" {print $2}' tests/compat/go.mod)
[ -n "$pinned" ] || die "tests/compat/go.mod does not require github.com/zeromicro/go-zero"
if [ -f tools/versions.env ]; then
  wanted=$(sed -n 's/^GOZERO_VERSION=["]*\([^"]*\)["]*$/\1/p' tools/versions.env)
  if [ -n "$wanted" ] && [ "$wanted" != "$pinned" ]; then
    die "tools/versions.env says GOZERO_VERSION=$wanted but tests/compat/go.mod pins $pinned"
  fi
fi

hash=$( { go version; for f in tests/compat/go.mod tests/compat/go.sum tests/compat/*.go; do
  echo "$f"; cat "$f"; done; } | sha256sum | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/etcd-registrar/tools/gozero-compat-$hash
binary=$cache/gozero-compat
mkdir -p .tools
if [ -x "$binary" ]; then
  ln -sfn "$binary" .tools/gozero-compat
  echo "build-compat: gozero-compat (go-zero $pinned) up to date -> .tools/gozero-compat"
  exit 0
fi

start=$(date +%s%N)
mkdir -p "$cache"
log=$cache/build.$$.log
tmp=$binary.tmp.$$
if ! (cd tests/compat && go build -o "$tmp" .) >"$log" 2>&1; then
  rm -f "$tmp"
  die "go build of tests/compat (go-zero $pinned) failed: $(grep -v '^#' "$log" | head -n1) (full log: $log)"
fi
mv -f "$tmp" "$binary"
rm -f "$log"
ln -sfn "$binary" .tools/gozero-compat
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'build-compat: built gozero-compat (go-zero %s) in %d.%01d s -> .tools/gozero-compat\n' \
  "$pinned" $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100))
