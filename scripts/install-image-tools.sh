#!/usr/bin/env bash
# Installs the Debian bookworm tools that build and run the container image (`make image`, the
# image test, docs/image.md): buildah 1.28 and podman 4.3 (OCI builds and runs, rootful here),
# runc as the OCI runtime (packaging/containers.conf selects it), mmdebstrap for the locally made
# base image (no registry is reachable), uidmap/fuse-overlayfs/slirp4netns for a rootless user.
# Idempotent: packages already present are skipped; apt runs only when something is missing.
set -euo pipefail

packages=(buildah podman runc conmon mmdebstrap uidmap fuse-overlayfs slirp4netns)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-image-tools: missing packages: ${missing[*]}" >&2
  echo "install-image-tools: run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "install-image-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
