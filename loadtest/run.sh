#!/usr/bin/env bash
# Load test of the example servers on 127.0.0.1 with wrk, bounded in time.
#
#   loadtest/run.sh                          # both frameworks, memory store, 10 s per run
#   DURATION=30s STORES="memory:// redis://127.0.0.1:6379" loadtest/run.sh
#   STORES="redis://127.0.0.1:6379 redis+cluster://127.0.0.1:7000" loadtest/run.sh
#                                            # one node against a Redis Cluster
#                                            # (tests/redis-cluster.sh start), same run
#
# For each framework and store it measures, against one server in release mode:
#   - the ceiling: GET /api/dashboard on `no-auth-ceiling <framework>` (loadtest/ceiling) —
#     the example's route, handler and response layers, no authentication layer (a fixed
#     user's claims where the layer would put the verified ones);
#   - GET /api/dashboard    with a valid bearer token, verified-token cache off and on;
#   - POST /token           every connection rotating its own session (refresh.lua);
# and prints requests/s, p50/p99 latency, the ratios to the ceiling, and the server's peak RSS
# (VmHWM) so far. Needs wrk (`apt-get install wrk`) and curl. Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
REFRESH_CONNECTIONS=${REFRESH_CONNECTIONS:-8}
FRAMEWORKS=${FRAMEWORKS:-"axum poem"}
STORES=${STORES:-"memory://"}
THREADS=${THREADS:-1}

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }

# Every store compiled in, so that STORES can name any of them.
cargo build --release -q -p axum-dashboard -p poem-dashboard -p loadtest-ceiling \
  --features redis,postgres,sqlite
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Starts an example server; sets $server_pid and $base. A fourth argument 1: the ceiling.
start_server() {
  local framework=$1 store=$2 cache=$3 ceiling=${4:-0}
  local program=("$target_dir/release/$framework-dashboard")
  [ "$ceiling" = 1 ] && program=("$target_dir/release/no-auth-ceiling" "$framework")
  JWT_SECRET="load test secret, at least 32 bytes long" ACCESS_TOKEN_TTL=1h PORT=0 \
    STORE_URL="$store" VERIFIED_TOKEN_CACHE="$cache" RUST_LOG=warn \
    "${program[@]}" >"$work/out" 2>"$work/err" &
  server_pid=$!
  for _ in $(seq 100); do
    base=$(sed -n 's/^listening on //p' "$work/out")
    [ -n "$base" ] && return
    sleep 0.1
  done
  echo "the $framework server did not start:" >&2
  cat "$work/err" >&2
  exit 1
}

stop_server() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

login() {
  curl -fsS -H 'content-type: application/json' -d '{"username":"user1","password":"password1"}' \
    "$base/login"
}

field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }

hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$server_pid/status"; }

# Runs wrk; prints "requests/s p50 p99 non-2xx".
measure() {
  wrk --latency "$@" >"$work/wrk" 2>&1
  python3 - "$work/wrk" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
print(f"{rps:.0f} {pct(50):.3f} {pct(99):.3f} {bad.group(1) if bad else 0}")
PY
}

printf '| framework | store | route | requests/s | p50 ms | p99 ms | ÷ ceiling | non-2xx | peak RSS (VmHWM) |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for framework in $FRAMEWORKS; do
  for store in $STORES; do
    # The ceiling first, then the layer with the cache off and on, each its own server.
    start_server "$framework" "$store" 0 1
    read -r ceiling p50 p99 bad < <(measure -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
      "$base/api/dashboard")
    printf '| %s | %s | GET /api/dashboard, no layer (ceiling) | %s | %s | %s | 1.00 | %s | %s KiB |\n' \
      "$framework" "$store" "$ceiling" "$p50" "$p99" "$bad" "$(hwm_kib)"
    stop_server
    for cache in 0 10000; do
      start_server "$framework" "$store" "$cache"
      token=$(login | field accessToken)
      read -r rps p50 p99 bad < <(measure -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
        -H "Authorization: Bearer $token" "$base/api/dashboard")
      label="GET /api/dashboard, cache $([ "$cache" = 0 ] && echo off || echo on)"
      printf '| %s | %s | %s | %s | %s | %s | %.2f | %s | %s KiB |\n' \
        "$framework" "$store" "$label" "$rps" "$p50" "$p99" \
        "$(python3 -c "print($rps / $ceiling)")" "$bad" "$(hwm_kib)"
      if [ "$cache" = 0 ]; then
        : >"$work/tokens"
        for _ in $(seq "$REFRESH_CONNECTIONS"); do
          login | field refreshToken >>"$work/tokens"
        done
        read -r rps p50 p99 bad < <(TOKENS="$work/tokens" measure -t"$REFRESH_CONNECTIONS" \
          -c"$REFRESH_CONNECTIONS" -d"$DURATION" -s loadtest/refresh.lua "$base/token")
        printf '| %s | %s | POST /token (rotating) | %s | %s | %s | — | %s | %s KiB |\n' \
          "$framework" "$store" "$rps" "$p50" "$p99" "$bad" "$(hwm_kib)"
      fi
      stop_server
    done
  done
done
