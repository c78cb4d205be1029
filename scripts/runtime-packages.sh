#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries a binary loads (ldd, then dpkg -S),
# one a line: the image's runtime stage installs exactly these (Dockerfile). Fails when a library
# belongs to no package (a library built or copied by hand would be missing from the image).
# Usage: scripts/runtime-packages.sh BINARY
set -euo pipefail
binary=${1:?usage: $0 BINARY}

# With merged /usr a library is found as /lib/... or /usr/lib/... but dpkg knows only the path
# its package shipped, so both spellings are asked.
owner() {
  local path=$1 alt
  case "$path" in
    /usr/*) alt=${path#/usr} ;;
    *) alt=/usr$path ;;
  esac
  dpkg -S "$path" 2>/dev/null || dpkg -S "$alt" 2>/dev/null || {
    echo "runtime-packages: no package owns $path (needed by $binary)" >&2
    return 1
  }
}

ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
  while read -r lib; do
    owner "$lib"
    owner "$(readlink -f "$lib")"
  done | sed 's/: .*//; s/, /\n/g' | sed 's/:.*//' | sort -u
