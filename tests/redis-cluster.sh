#!/usr/bin/env bash
# A local Redis Cluster for the tests: 3 masters with 1 replica each on loopback.
#
#   tests/redis-cluster.sh start [BASE_PORT] [--tls]   # nodes on BASE_PORT..BASE_PORT+5
#   tests/redis-cluster.sh stop  [BASE_PORT]
#
# BASE_PORT defaults to 7000. `start` waits for `cluster_state:ok` and every replica in sync,
# then prints the seed URL (redis+cluster://127.0.0.1:7000,...; rediss+cluster:// with
# --tls, whose CA is then $DIR/tls/ca.crt). A short cluster-node-timeout makes a failover
# take about a second. Nodes keep nothing on disk beyond their run directory, which `stop`
# removes. Every node is started by this script and stopped by its pid file.
set -euo pipefail

cmd=${1:-}
base=${2:-7000}
tls=no
[[ "${3:-}" == "--tls" ]] && tls=yes
dir="${TMPDIR:-/tmp}/tra-redis-cluster-$base"
ports=$(seq "$base" $((base + 5)))

cli() {
  local port=$1
  shift
  if [[ -f "$dir/tls.on" ]]; then
    redis-cli --tls --cacert "$dir/tls/ca.crt" -h 127.0.0.1 -p "$port" "$@"
  else
    redis-cli -h 127.0.0.1 -p "$port" "$@"
  fi
}

make_certs() {
  mkdir -p "$dir/tls"
  (
    cd "$dir/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tra test CA" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout node.key -out node.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext.cnf
    openssl x509 -req -in node.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile ext.cnf -out node.crt 2>/dev/null
  )
}

start() {
  if [[ -d "$dir" ]]; then
    echo "a cluster already runs in $dir: stop it first" >&2
    exit 1
  fi
  command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
  mkdir -p "$dir"
  if [[ $tls == yes ]]; then
    make_certs
    touch "$dir/tls.on"
  fi
  for port in $ports; do
    mkdir -p "$dir/$port"
    local net=(--port "$port")
    if [[ $tls == yes ]]; then
      net=(--port 0 --tls-port "$port" --tls-cluster yes --tls-replication yes
        --tls-cert-file "$dir/tls/node.crt" --tls-key-file "$dir/tls/node.key"
        --tls-ca-cert-file "$dir/tls/ca.crt" --tls-auth-clients no)
    fi
    redis-server --daemonize yes --bind 127.0.0.1 "${net[@]}" \
      --cluster-enabled yes --cluster-config-file "$dir/$port/nodes.conf" \
      --cluster-node-timeout 1000 --cluster-replica-validity-factor 0 \
      --save "" --appendonly no --dir "$dir/$port" \
      --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log"
  done
  for port in $ports; do
    for _ in $(seq 50); do
      cli "$port" ping 2>/dev/null | grep -q PONG && break
      sleep 0.1
    done
  done
  local nodes=()
  for port in $ports; do nodes+=("127.0.0.1:$port"); done
  local tls_args=()
  [[ $tls == yes ]] && tls_args=(--tls --cacert "$dir/tls/ca.crt")
  redis-cli "${tls_args[@]}" --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log"
  for _ in $(seq 100); do
    if cli "$base" cluster info 2>/dev/null | grep -q "cluster_state:ok" && synced; then
      local scheme=redis+cluster
      [[ $tls == yes ]] && scheme=rediss+cluster
      echo "$scheme://127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
      return
    fi
    sleep 0.2
  done
  echo "the cluster on $base did not become ready; see $dir/*/redis.log" >&2
  exit 1
}

# Every node reports cluster_state:ok and every replica is connected to its master.
synced() {
  local port
  for port in $ports; do
    cli "$port" cluster info 2>/dev/null | grep -q "cluster_state:ok" || return 1
    if cli "$port" info replication 2>/dev/null | grep -q "role:slave"; then
      cli "$port" info replication | grep -q "master_link_status:up" || return 1
    fi
  done
}

stop() {
  [[ -d "$dir" ]] || return 0
  local port pid
  for port in $ports; do
    if [[ -f "$dir/$port/redis.pid" ]]; then
      pid=$(cat "$dir/$port/redis.pid")
      kill "$pid" 2>/dev/null || true
    fi
  done
  for port in $ports; do
    if [[ -f "$dir/$port/redis.pid" ]]; then
      pid=$(cat "$dir/$port/redis.pid")
      for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
  done
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop [BASE_PORT] [--tls]" >&2
    exit 2
    ;;
esac
