#!/usr/bin/env bash
# Installs the Debian bookworm packages etcd-registrar needs to build, test and run, and the
# dev tooling `make test` uses (clang for the -Wthread-safety build, clang-tidy, clang-format), and
# clang's runtime libraries for the sanitizer build and `make fuzz` (libFuzzer, ASan, UBSan), and
# heaptrack and gdb for bench/shrink.sh (allocations of a shrinking folder, malloc_trim), and lua5.1
# for the Argo CD health check test (tests/integration/packaging).
# `--image`: the tools that build and run the container image instead (`make image`, the image
# test, docs/image.md): buildah 1.28 and podman 4.3 (OCI builds and runs, rootful here), runc as
# the OCI runtime (packaging/containers.conf selects it), mmdebstrap for the locally made base
# image (no registry is reachable), uidmap/fuse-overlayfs/slirp4netns for a rootless user.
# Idempotent: packages already present are skipped; apt runs only when something is missing.
set -euo pipefail

# `--build`: only what the etcd-registrar binary needs to build (the image's build stage, Dockerfile).
build_packages=(
  build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libcpprest-dev libyaml-cpp-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  libssl-dev libboost1.74-dev
)
packages=(
  "${build_packages[@]}" git
  libgtest-dev libgmock-dev libbenchmark-dev
  etcd-server etcd-client openssl procps iproute2 curl
  clang clang-tidy clang-format libclang-rt-14-dev
  heaptrack gdb
  lua5.1
)

image_packages=(buildah podman runc conmon mmdebstrap uidmap fuse-overlayfs slirp4netns)

case "${1:-}" in
  --build) packages=("${build_packages[@]}") ;;
  --image) packages=("${image_packages[@]}") ;;
esac

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
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts etcd as a service on install; tests start their own on free ports.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi
