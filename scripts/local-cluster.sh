#!/usr/bin/env bash
# A local Kubernetes control plane for a person, the same as the tests' fixture
# (tests/fixtures/kube_control_plane): etcd (3.6 by default) + kube-apiserver 1.34 built by
# scripts/go-tools.sh, on free 127.0.0.1 ports, RBAC on, an admin client certificate
# (CN=admin, O=system:masters), data in a temp dir. No kube-controller-manager: see docs/testing.md.
#
#   scripts/local-cluster.sh up     start (or say it is already up); prints the export lines
#   scripts/local-cluster.sh env    print `export KUBECONFIG=...` and kubectl 1.34 first in PATH
#   scripts/local-cluster.sh down   stop both processes by PID and remove the data
#   eval "$(scripts/local-cluster.sh env)" && kubectl get ns
#
# ETCD=3.5 or ETCD=3.4 (Debian's /usr/bin/etcd) picks another etcd for `up`.
set -euo pipefail
cd "$(dirname "$0")/.."
clone=$(pwd)
state_dir=$clone/.run/local-cluster
state=$state_dir/state

say() { echo "local-cluster: $*" >&2; }
fail() {
  echo "local-cluster: FAILED: $*" >&2
  exit 1
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

load_state() {
  DIR='' ETCD_PID='' APISERVER_PID='' PORT='' ETCD_PORT=''
  # shellcheck disable=SC1090
  [ -f "$state" ] && . "$state"
  return 0
}

print_env() {
  echo "export KUBECONFIG=$DIR/admin.kubeconfig"
  echo "export PATH=$clone/.tools/k8s:\$PATH"
}

free_port() {
  local used port
  used=$(ss -ltnH 2>/dev/null | awk '{print $4}' | sed 's/.*://')
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 40000))
    if ! grep -qx "$port" <<<"$used" && [ "$port" != "${1:-}" ]; then
      echo "$port"
      return
    fi
  done
  fail "no free port found"
}

make_certs() {
  local d=$1 ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes) name subj
  local names=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default
  names=$names,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
  printf '%s\n' "subjectAltName=$names" "extendedKeyUsage=serverAuth" >"$d/server.ext"
  echo "extendedKeyUsage=clientAuth" >"$d/admin.ext"
  openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.crt" -days 30 \
    -subj "/CN=etcd-registrar local kube CA" 2>/dev/null
  for name in server admin; do
    subj=/CN=kube-apiserver
    [ "$name" = admin ] && subj=/O=system:masters/CN=admin
    openssl req "${ec[@]}" -keyout "$d/$name.key" -out "$d/$name.csr" -subj "$subj" 2>/dev/null
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -out "$d/$name.crt" -days 30 -extfile "$d/$name.ext" 2>/dev/null
  done
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$d/sa.key" 2>/dev/null
  openssl pkey -in "$d/sa.key" -pubout -out "$d/sa.pub"
}

write_kubeconfig() {
  local d=$1 port=$2
  cat >"$d/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: er-local
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $d/ca.crt
users:
- name: admin
  user:
    client-certificate: $d/admin.crt
    client-key: $d/admin.key
contexts:
- name: er-local
  context:
    cluster: er-local
    user: admin
current-context: er-local
EOF
}

up() {
  load_state
  if alive "$APISERVER_PID" && alive "$ETCD_PID"; then
    say "already up on https://127.0.0.1:$PORT (pids $ETCD_PID, $APISERVER_PID)"
    print_env
    return
  fi
  [ -f "$state" ] && down
  scripts/go-tools.sh >&2 || exit 1
  local etcd etcdctl
  ETCD=${ETCD:-3.6}
  case "$ETCD" in
    3.6 | 3.5) etcd=$clone/.tools/etcd-$ETCD/etcd etcdctl=$clone/.tools/etcd-$ETCD/etcdctl ;;
    3.4) etcd=/usr/bin/etcd etcdctl=/usr/bin/etcdctl ;;
    *) fail "ETCD=$ETCD: use 3.6, 3.5 or 3.4" ;;
  esac
  DIR=$(mktemp -d /tmp/er-local-cluster-XXXXXX)
  ETCD_PORT=$(free_port)
  local peer_port
  peer_port=$(free_port "$ETCD_PORT")
  PORT=$(free_port "$ETCD_PORT")
  [ "$PORT" != "$peer_port" ] || PORT=$(free_port "$peer_port")
  mkdir -p "$state_dir"
  make_certs "$DIR"
  write_kubeconfig "$DIR" "$PORT"

  local start
  start=$(date +%s)
  local client_url=http://127.0.0.1:$ETCD_PORT peer_url=http://127.0.0.1:$peer_port
  nohup "$etcd" --name=er-local --data-dir="$DIR/etcd" \
    --listen-client-urls="$client_url" --advertise-client-urls="$client_url" \
    --listen-peer-urls="$peer_url" --initial-advertise-peer-urls="$peer_url" \
    --initial-cluster="er-local=$peer_url" --logger=zap \
    </dev/null >"$DIR/etcd.log" 2>&1 &
  ETCD_PID=$!
  printf 'DIR=%s\nETCD_PID=%s\nETCD_PORT=%s\nPORT=%s\n' "$DIR" "$ETCD_PID" "$ETCD_PORT" "$PORT" >"$state"
  for _ in $(seq 100); do
    ETCDCTL_API=3 "$etcdctl" --endpoints="127.0.0.1:$ETCD_PORT" endpoint health >/dev/null 2>&1 && break
    alive "$ETCD_PID" || fail "etcd exited; see $DIR/etcd.log"
    sleep 0.2
  done
  say "etcd $("$etcd" --version | head -n1 | awk '{print $3}') on 127.0.0.1:$ETCD_PORT (pid $ETCD_PID)"

  nohup "$clone/.tools/k8s/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$PORT" \
    --cert-dir="$DIR/apiserver-certs" --tls-cert-file="$DIR/server.crt" \
    --tls-private-key-file="$DIR/server.key" --client-ca-file="$DIR/ca.crt" \
    --authorization-mode=RBAC --service-cluster-ip-range=10.0.0.0/24 \
    --disable-admission-plugins=ServiceAccount \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$DIR/sa.pub" --service-account-signing-key-file="$DIR/sa.key" \
    </dev/null >"$DIR/kube-apiserver.log" 2>&1 &
  APISERVER_PID=$!
  echo "APISERVER_PID=$APISERVER_PID" >>"$state"
  local ready=''
  for _ in $(seq 450); do
    if [ "$("$clone/.tools/k8s/kubectl" --kubeconfig="$DIR/admin.kubeconfig" get --raw=/readyz \
      --request-timeout=5s 2>/dev/null)" = ok ]; then
      ready=1
      break
    fi
    alive "$APISERVER_PID" || fail "kube-apiserver exited; see $DIR/kube-apiserver.log"
    sleep 0.2
  done
  [ -n "$ready" ] || fail "kube-apiserver not ready in 90 s; see $DIR/kube-apiserver.log"
  say "kube-apiserver on https://127.0.0.1:$PORT (pid $APISERVER_PID)," \
    "ready in $(($(date +%s) - start)) s; data in $DIR"
  print_env
}

stop_pid() {
  local pid=$1
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    alive "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

down() {
  load_state
  if [ ! -f "$state" ]; then
    say "not up"
    return
  fi
  stop_pid "$APISERVER_PID"
  stop_pid "$ETCD_PID"
  case "$DIR" in
    /tmp/er-local-cluster-*) rm -rf "$DIR" ;;
  esac
  rm -f "$state"
  say "stopped"
}

env_cmd() {
  load_state
  alive "$APISERVER_PID" || fail "not up: run scripts/local-cluster.sh up"
  print_env
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) env_cmd ;;
  *)
    echo "usage: scripts/local-cluster.sh up|down|env" >&2
    exit 2
    ;;
esac
