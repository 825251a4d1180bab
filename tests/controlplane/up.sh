#!/usr/bin/env bash
# Starts a real local control plane for plumbline's tests and demo, with no
# Docker: etcd, kube-apiserver (RBAC on, the admission plugins of a normal
# cluster, an audit log) and kube-controller-manager running only the
# garbage-collector, namespace, service-account and clusterrole-aggregation
# controllers (no Pods are ever scheduled), on free loopback ports with
# temporary data under target/controlplane/.
#
# Writes an admin kubeconfig to target/controlplane/kubeconfig and returns
# once the server is ready. Running it again while it runs changes nothing.
#
# Environment:
#   PLUMBLINE_CONTROLPLANE_DIR  state directory (default: <repo>/target/controlplane)
#   PLUMBLINE_APISERVER_PORT    a fixed port for kube-apiserver (default: a free one)
#   PLUMBLINE_READY_TIMEOUT     seconds to wait for readiness (default: 120)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="${PLUMBLINE_CONTROLPLANE_DIR:-$repo/target/controlplane}"
timeout="${PLUMBLINE_READY_TIMEOUT:-120}"
# shellcheck source=tests/controlplane/lib.sh
source "$here/lib.sh"

# Test binaries may start it concurrently: one at a time.
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9

if all_running "$dir"; then
  say "already running (kubeconfig: $dir/kubeconfig); 'make controlplane-down' stops it"
  exit 0
fi
if any_running "$dir"; then
  say "found a partly running control plane in $dir: stopping it first"
  PLUMBLINE_CONTROLPLANE_LOCKED=1 "$here/down.sh" >/dev/null
fi
rm -rf "$dir"

bin="$("$here/build.sh")"
mkdir -p "$dir"/{etcd,pki,logs}
dir="$(cd "$dir" && pwd)"

etcd_client_port="$(free_port)"
etcd_peer_port="$(free_port)"
if [ -n "${PLUMBLINE_APISERVER_PORT:-}" ]; then
  api_port="$PLUMBLINE_APISERVER_PORT"
  if port_in_use "$api_port"; then
    say "port $api_port (PLUMBLINE_APISERVER_PORT) is already in use on 127.0.0.1: free it or choose another port"
    exit 1
  fi
else
  api_port="$(free_port)"
fi

# Identities: a static token per user. admin is a cluster administrator; the
# others hold no rights until a test grants them some through RBAC.
admin_token="$(openssl rand -hex 16)"
{
  echo "$admin_token,admin,admin-uid,system:masters"
  for user in alice bob carol dave operator; do
    echo "$(openssl rand -hex 16),$user,$user-uid,plumbline:users"
  done
} > "$dir/pki/tokens.csv"
openssl genrsa -out "$dir/pki/sa.key" 2048 2>/dev/null

cat > "$dir/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
POLICY

start() { # name, then the program's arguments
  local name="$1"; shift
  # 9>&-: the programs must not inherit (and so keep holding) the start-up lock.
  setsid "$bin/$name" "$@" </dev/null >"$dir/logs/$name.log" 2>&1 9>&- &
  echo $! > "$dir/$name.pid"
}

start etcd \
  --name default \
  --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_client_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_client_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "default=http://127.0.0.1:$etcd_peer_port" \
  --unsafe-no-fsync \
  --log-level warn

start kube-apiserver \
  --etcd-servers "http://127.0.0.1:$etcd_client_port" \
  --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 \
  --endpoint-reconciler-type none \
  --secure-port "$api_port" \
  --cert-dir "$dir/pki" \
  --token-auth-file "$dir/pki/tokens.csv" \
  --authorization-mode RBAC \
  --allow-privileged=true \
  --service-account-key-file "$dir/pki/sa.key" \
  --service-account-signing-key-file "$dir/pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range 10.96.0.0/16 \
  --audit-policy-file "$dir/audit-policy.yaml" \
  --audit-log-path "$dir/logs/audit.log" \
  --audit-log-maxsize 200

# Wait for the server to write its serving certificate: the file holds the
# serving certificate followed by the CA that signed it, which clients trust.
deadline=$((SECONDS + timeout))
until [ -s "$dir/pki/apiserver.crt" ]; do
  check_alive "$dir" etcd kube-apiserver
  [ "$SECONDS" -lt "$deadline" ] || fail_start "$dir" "kube-apiserver wrote no serving certificate within ${timeout}s"
  sleep 0.2
done
ca_data="$(awk 'n>=1{print} /END CERTIFICATE/{n++}' "$dir/pki/apiserver.crt" | base64 -w0)"
[ -n "$ca_data" ] || ca_data="$(base64 -w0 < "$dir/pki/apiserver.crt")"

cat > "$dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: plumbline-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $ca_data
users:
- name: admin
  user:
    token: $admin_token
contexts:
- name: plumbline-local
  context:
    cluster: plumbline-local
    user: admin
current-context: plumbline-local
KUBECONFIG
chmod 600 "$dir/kubeconfig"

kubectl=("$bin/kubectl" --kubeconfig "$dir/kubeconfig" --request-timeout 5s)
until "${kubectl[@]}" get --raw /readyz >/dev/null 2>&1; do
  check_alive "$dir" etcd kube-apiserver
  [ "$SECONDS" -lt "$deadline" ] || fail_start "$dir" "kube-apiserver was not ready within ${timeout}s"
  sleep 0.2
done

start kube-controller-manager \
  --kubeconfig "$dir/kubeconfig" \
  --controllers garbage-collector-controller,namespace-controller,serviceaccount-controller,clusterrole-aggregation-controller \
  --leader-elect=false \
  --secure-port 0 \
  --use-service-account-credentials=false

until "${kubectl[@]}" get namespace default >/dev/null 2>&1 \
  && "${kubectl[@]}" get serviceaccount default -n default >/dev/null 2>&1; do
  check_alive "$dir" etcd kube-apiserver kube-controller-manager
  [ "$SECONDS" -lt "$deadline" ] || fail_start "$dir" "the default namespace or its service account did not appear within ${timeout}s"
  sleep 0.2
done

echo "$bin" > "$dir/bin"
say "ready: kube-apiserver on https://127.0.0.1:$api_port"
say "  export KUBECONFIG=$dir/kubeconfig"
say "  kubectl: $bin/kubectl"
