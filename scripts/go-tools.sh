#!/usr/bin/env bash
# Builds the Go test tools from their modules, once per version, into a cache outside the clone:
#   kube-apiserver, kubectl   k8s.io/kubernetes            (wrapper module tools/k8s)
#   etcd, etcdctl 3.5.x       go.etcd.io/etcd/{server,etcdctl}/v3   (tools/etcd-3.5)
#   etcd, etcdctl 3.6.x       go.etcd.io/etcd/{server,etcdctl}/v3   (tools/etcd-3.6)
# Versions come from tools/versions.env only. Binaries land in
#   ${ER_TOOLS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/etcd-registrar/tools}/<tool>-<version>/
# and the clone gets stable links: .tools/k8s, .tools/etcd-3.5, .tools/etcd-3.6 -> those folders.
# A binary present in the cache is reused (a fresh clone rebuilds nothing); a missing one is built
# with a line before and after naming it and the seconds it took. Any failure ends the script with
# one line "go-tools: FAILED: ..." and a non-zero exit.
#
# Usage: scripts/go-tools.sh            build what is missing, link .tools/
#        scripts/go-tools.sh pin        rewrite tools/*/go.mod and go.sum from tools/versions.env
#        scripts/go-tools.sh path NAME  print the cached folder of NAME (k8s, etcd-3.5, etcd-3.6)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "go-tools: FAILED: $*" >&2
  exit 1
}

# shellcheck source=../tools/versions.env
. tools/versions.env
cache=${ER_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-registrar/tools}

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-trimpath

# The 31 staging modules that k8s.io/kubernetes replaces with ./staging/src/... in its own go.mod;
# as a dependency each needs a replace line to the published k8s.io/<name> v0.<minor>.<patch>.
k8s_staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"

# folder in tools/ -> "module-at-version" its go.mod must require, and the cache folder name.
declare -A want_module=(
  [k8s]="k8s.io/kubernetes $K8S_VERSION"
  [etcd-3.5]="go.etcd.io/etcd/server/v3 $ETCD35_VERSION"
  [etcd-3.6]="go.etcd.io/etcd/server/v3 $ETCD36_VERSION"
)
declare -A cache_name=(
  [k8s]="k8s-$K8S_VERSION"
  [etcd-3.5]="etcd-$ETCD35_VERSION"
  [etcd-3.6]="etcd-$ETCD36_VERSION"
)

version_ge() {  # version_ge A B: A >= B (dotted numbers)
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

check_go() {
  command -v go >/dev/null 2>&1 || fail "no 'go' in PATH; Go >= 1.24 is needed to build the test tools"
  local have need=1.24 d m
  have=$(go env GOVERSION 2>/dev/null | sed 's/^go//; s/[^0-9.].*$//')
  # The wrapper modules may need more than 1.24: their 'go' line is the floor of their dependencies.
  for d in k8s etcd-3.5 etcd-3.6; do
    m=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "tools/$d/go.mod")
    if [ -n "$m" ] && ! version_ge "$need" "$m"; then
      need=$m
    fi
  done
  version_ge "$have" "$need" ||
    fail "go $have is too old: the tools in tools/ need go >= $need (GOTOOLCHAIN=local, no download)"
}

write_k8s_mod() {
  local staging_version="v0.${K8S_VERSION#v1.}" s
  {
    echo "// Wrapper module: builds kube-apiserver and kubectl from k8s.io/kubernetes for the tests."
    echo "// Written by scripts/go-tools.sh pin from tools/versions.env; no Kubernetes code is here."
    echo "module etcd-registrar/tools/k8s"
    echo
    echo "go 1.24.0"
    echo
    printf 'tool (\n\tk8s.io/kubernetes/cmd/kube-apiserver\n\tk8s.io/kubernetes/cmd/kubectl\n)\n\n'
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for s in $k8s_staging; do
      printf '\tk8s.io/%s => k8s.io/%s %s\n' "$s" "$s" "$staging_version"
    done
    echo ")"
  } >tools/k8s/go.mod
}

write_etcd_mod() {  # write_etcd_mod FOLDER VERSION
  {
    echo "// Wrapper module: builds etcd and etcdctl $2 for the tests."
    echo "// Written by scripts/go-tools.sh pin from tools/versions.env."
    echo "module etcd-registrar/tools/$1"
    echo
    echo "go 1.24.0"
    echo
    printf 'tool (\n\tgo.etcd.io/etcd/etcdctl/v3\n\tgo.etcd.io/etcd/server/v3\n)\n\n'
    printf 'require (\n\tgo.etcd.io/etcd/etcdctl/v3 %s\n\tgo.etcd.io/etcd/server/v3 %s\n)\n' "$2" "$2"
  } >"tools/$1/go.mod"
}

pin() {
  mkdir -p tools/k8s tools/etcd-3.5 tools/etcd-3.6
  write_k8s_mod
  write_etcd_mod etcd-3.5 "$ETCD35_VERSION"
  write_etcd_mod etcd-3.6 "$ETCD36_VERSION"
  local d
  for d in k8s etcd-3.5 etcd-3.6; do
    rm -f "tools/$d/go.sum"
    (cd "tools/$d" && go mod tidy) || fail "go mod tidy in tools/$d"
    echo "go-tools: pinned tools/$d: $(sed -n 's/^go /go /p' "tools/$d/go.mod")"
  done
}

check_pins() {
  local d want
  for d in k8s etcd-3.5 etcd-3.6; do
    want=${want_module[$d]}
    grep -Eq "^(require)?[[:space:]]*${want// /[[:space:]]+}([[:space:]]|$)" "tools/$d/go.mod" ||
      fail "tools/$d/go.mod does not require '$want' (tools/versions.env); run scripts/go-tools.sh pin"
  done
}

# build FOLDER OUTPUT PACKAGE LDFLAGS: go build in tools/FOLDER into the cache, unless present.
build() {
  local folder=$1 name=$2 package=$3 ldflags=$4
  local dir="$cache/${cache_name[$folder]}"
  if [ -x "$dir/$name" ]; then
    return 0
  fi
  mkdir -p "$dir"
  local start tmp
  start=$(date +%s)
  echo "go-tools: building $name from $package (${cache_name[$folder]}, $(go env GOVERSION));" \
    "a cold build takes minutes ..."
  tmp="$dir/.$name.partial.$$"
  if ! (cd "tools/$folder" && go build -ldflags "$ldflags" -o "$tmp" "$package") \
    >"$dir/.$name.log" 2>&1; then
    tail -n 20 "$dir/.$name.log" >&2
    rm -f "$tmp"
    fail "go build $package in tools/$folder (log: $dir/.$name.log)"
  fi
  mv -f "$tmp" "$dir/$name"
  echo "go-tools: built $name in $(($(date +%s) - start)) s -> $dir/$name"
}

k8s_ldflags() {
  local minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  local flags="-s -w" p
  # Both version packages: the server's /version and `kubectl version` read them.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags="$flags -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    flags="$flags -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

etcd_ldflags() {
  echo "-s -w"
}

link() {  # link FOLDER: .tools/FOLDER -> the cache folder
  mkdir -p .tools
  ln -sfn "$cache/${cache_name[$1]}" ".tools/$1"
}

main() {
  case "${1:-build}" in
    pin)
      check_go
      pin
      return
      ;;
    path)
      [ -n "${cache_name[${2:-}]:-}" ] || fail "path: unknown tool '${2:-}' (k8s, etcd-3.5, etcd-3.6)"
      echo "$cache/${cache_name[$2]}"
      return
      ;;
    build) ;;
    *) fail "unknown command '$1' (build, pin, path NAME)" ;;
  esac
  check_pins
  local all_start missing=0 d
  all_start=$(date +%s)
  for d in k8s/kube-apiserver k8s/kubectl etcd-3.5/etcd etcd-3.5/etcdctl etcd-3.6/etcd \
    etcd-3.6/etcdctl; do
    [ -x "$cache/${cache_name[${d%/*}]}/${d#*/}" ] || missing=1
  done
  if [ "$missing" = 1 ]; then
    check_go
    # One builder at a time per cache (another clone may be building the same tools).
    mkdir -p "$cache"
    exec 9>"$cache/.lock"
    flock 9
  fi
  build k8s kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$(k8s_ldflags)"
  build k8s kubectl k8s.io/kubernetes/cmd/kubectl "$(k8s_ldflags)"
  build etcd-3.5 etcd go.etcd.io/etcd/server/v3 "$(etcd_ldflags)"
  build etcd-3.5 etcdctl go.etcd.io/etcd/etcdctl/v3 "$(etcd_ldflags)"
  build etcd-3.6 etcd go.etcd.io/etcd/server/v3 "$(etcd_ldflags)"
  build etcd-3.6 etcdctl go.etcd.io/etcd/etcdctl/v3 "$(etcd_ldflags)"
  for d in k8s etcd-3.5 etcd-3.6; do
    link "$d"
  done
  echo "go-tools: kube-apiserver/kubectl $K8S_VERSION, etcd $ETCD35_VERSION and $ETCD36_VERSION" \
    "ready in .tools/ ($(($(date +%s) - all_start)) s; cache $cache)"
}

main "$@"
