#!/usr/bin/env bash
# Builds the container image etcd-registrar:<project version> (`make image`; docs/image.md).
#
#   scripts/image.sh [build]   the base image when missing, then the image (always rebuilt; the
#                              layer cache and the ccache cache mount make an unchanged tree
#                              quick). What `make image` and the ctest test image_build run.
#   scripts/image.sh base      only the base image debian:bookworm-slim, when missing
#   scripts/image.sh name      prints the image name, e.g. localhost/etcd-registrar:0.1.0
#
# No container registry is reachable here, so the base is made locally: mmdebstrap's minbase of
# bookworm from the Debian mirrors apt uses on this machine (apt-get indextargets), without man
# pages, docs and locales (as Docker's bookworm-slim), imported into podman's storage as
# debian:bookworm-slim. buildah bud then builds the Dockerfile with --pull=never and chroot
# isolation (no nested user namespace or runtime needed for RUN). Tools: install-deps.sh --image.
# Settings: packaging/containers.conf through CONTAINERS_CONF. Times go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/packaging/containers.conf}"
base_image=debian:bookworm-slim
version=$(sed -n 's/^project(etcd_registrar VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
image=localhost/etcd-registrar:${version}

log() { echo "image: $*" >&2; }

make_base() {
  if podman image exists "$base_image"; then
    return
  fi
  local tmp start
  tmp=$(mktemp -d)
  # A RETURN trap stays set after this function returns (bash traps are not local): it clears
  # itself, or it would fire again when build_image returns, with $tmp out of scope (set -u).
  trap 'rm -rf "$tmp"; trap - RETURN' RETURN
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(IDENTIFIER)' |
    awk '$4 == "Packages" && $2 ~ /^bookworm(-updates|-security)?$/ { print "deb", $1, $2, $3 }' |
    sort -u >"$tmp/sources.list"
  if ! grep -q ' bookworm ' "$tmp/sources.list"; then
    echo "deb http://deb.debian.org/debian bookworm main" >>"$tmp/sources.list"
  fi
  log "making $base_image with mmdebstrap from: $(awk '{ print $2, $3 }' "$tmp/sources.list" | paste -sd,)"
  start=$SECONDS
  if ! mmdebstrap --variant=minbase bookworm "$tmp/rootfs.tar" "$tmp/sources.list" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/info/*' >"$tmp/mmdebstrap.log" 2>&1; then
    tail -n 40 "$tmp/mmdebstrap.log" >&2
    log "FAILED: mmdebstrap (above: the end of its log)"
    return 1
  fi
  podman import --quiet --change 'CMD ["bash"]' "$tmp/rootfs.tar" "$base_image" >/dev/null
  log "$base_image made in $((SECONDS - start)) s"
}

build_image() {
  make_base
  local start=$SECONDS
  log "building $image"
  local source revision
  source=$(git remote get-url origin 2>/dev/null || true)
  revision=$(git rev-parse HEAD 2>/dev/null || true)
  # The host's ccache for the build stage (Dockerfile: /host-ccache), when there is one.
  local host_ccache=() cache_dir
  if cache_dir=$(ccache -k cache_dir 2>/dev/null) && [ -n "$cache_dir" ]; then
    mkdir -p "$cache_dir"
    host_ccache=(--volume "$cache_dir:/host-ccache")
  fi
  buildah bud --isolation chroot --pull=never --layers "${host_ccache[@]}" \
    --build-arg "VERSION=$version" --build-arg "SOURCE=$source" --build-arg "REVISION=$revision" \
    -t "$image" -f Dockerfile .
  log "$image built in $((SECONDS - start)) s, $(podman image inspect --format '{{.Size}}' "$image") bytes"
}

case "${1:-build}" in
  base | build) ./scripts/install-deps.sh --image ;;
esac
case "${1:-build}" in
  base) make_base ;;
  build) build_image ;;
  name) echo "$image" ;;
  *) echo "usage: $0 [build|base|name]" >&2; exit 2 ;;
esac
