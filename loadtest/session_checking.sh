#!/usr/bin/env bash
# What session checking costs under load (issue 22; BENCHMARKS.md §18): one guarded route,
# GET /api/dashboard of the axum example with a valid bearer token, served with
# CHECK_SESSIONS=false (off), feed and true (per request), verified-token cache off and on.
#
#   loadtest/session_checking.sh                       # memory store, 5 rounds of 5 s runs
#   ROUNDS=7 DURATION=10s STORES="memory:// redis://127.0.0.1:6379" loadtest/session_checking.sh
#
# Each run is its own release server (a fresh login, 1 s of warm-up, then DURATION of wrk at
# CONNECTIONS connections). The three modes alternate within a round, in an order that turns
# by one each round, so a slow stretch of a shared machine falls on every mode alike. Per run
# it records requests/s and the server's CPU per request: utime + stime of /proc/<pid>/stat
# (every thread, user and kernel) over the measured run, divided by the requests wrk counted.
# It prints every run, then per store and cache the medians over the rounds and the medians of
# each round's ratios: feed ÷ off and per request ÷ feed. The server and wrk are pinned to
# CPUs 0 and 1 (taskset) unless PIN=0; `uptime` is printed before and after, since the
# machine may be shared. Needs wrk and taskset. Traffic goes to 127.0.0.1 only; every run is
# bounded (about ROUNDS × stores × 6 × (DURATION + 2 s)).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
STORES=${STORES:-"memory://"}
PIN=${PIN:-1}
MODES=(false feed true)

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }

cargo build --release -q -p axum-dashboard --features redis,postgres,sqlite
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

server_cpu=() wrk_cpu=()
if [ "$PIN" = 1 ]; then
  server_cpu=(taskset -c 0)
  wrk_cpu=(taskset -c 1)
fi

# Starts the example server; sets $server_pid and $base.
start_server() {
  local store=$1 cache=$2 check=$3
  # Emptied here, before the server starts: the last server's address must not be read.
  : >"$work/out"
  JWT_SECRET="load test secret, at least 32 bytes long" ACCESS_TOKEN_TTL=1h PORT=0 \
    STORE_URL="$store" VERIFIED_TOKEN_CACHE="$cache" CHECK_SESSIONS="$check" RUST_LOG=warn \
    "${server_cpu[@]}" "$target_dir/release/axum-dashboard" >"$work/out" 2>"$work/err" &
  server_pid=$!
  for _ in $(seq 100); do
    base=$(sed -n 's/^listening on //p' "$work/out")
    [ -n "$base" ] && return
    sleep 0.1
  done
  echo "the server did not start (CHECK_SESSIONS=$check, STORE_URL=$store):" >&2
  cat "$work/err" >&2
  exit 1
}

stop_server() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# The server's CPU time so far, in clock ticks: utime + stime of every thread.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }

# One run: prints "requests/s requests non-2xx ticks".
measure() {
  local token=$1
  wrk -t1 -c"$CONNECTIONS" -d1s -H "Authorization: Bearer $token" "$base/api/dashboard" \
    >/dev/null
  local before after
  before=$(cpu_ticks)
  "${wrk_cpu[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: Bearer $token" \
    "$base/api/dashboard" >"$work/wrk" 2>&1
  after=$(cpu_ticks)
  python3 - "$work/wrk" "$((after - before))" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
n = int(re.search(r"(\d+) requests in", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
print(f"{rps:.0f} {n} {bad.group(1) if bad else 0} {sys.argv[2]}")
PY
}

echo "uptime before: $(uptime)"
echo "$(date -u +%Y-%m-%dT%H:%MZ), ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS PIN=$PIN, $(nproc) CPUs"
runs="$work/runs"
: >"$runs"
printf '| round | store | cache | CHECK_SESSIONS | requests/s | requests | non-2xx | server CPU µs/request |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for round in $(seq "$ROUNDS"); do
  for store in $STORES; do
    for cache in 0 10000; do
      for k in 0 1 2; do
        check=${MODES[$(((round + k) % 3))]}
        start_server "$store" "$cache" "$check"
        token=$(curl -fsS -H 'content-type: application/json' \
          -d '{"username":"user1","password":"password1"}' "$base/login" |
          python3 -c "import json, sys; print(json.load(sys.stdin)['accessToken'])")
        curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$base/api/dashboard"
        read -r rps n bad ticks < <(measure "$token")
        stop_server
        us=$(python3 -c "print(f'{$ticks / $(getconf CLK_TCK) / $n * 1e6:.2f}')")
        echo "$round $store $cache $check $rps $n $bad $us" >>"$runs"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' \
          "$round" "$store" "$([ "$cache" = 0 ] && echo off || echo on)" "$check" "$rps" "$n" \
          "$bad" "$us"
      done
    done
  done
done
echo "uptime after: $(uptime)"
echo

python3 - "$runs" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(dict)  # (store, cache) -> round -> mode -> (rps, us)
bad = 0
for line in open(sys.argv[1]):
    rnd, store, cache, check, rps, n, non2xx, us = line.split()
    bad += int(non2xx)
    runs[(store, cache)].setdefault(rnd, {})[check] = (float(rps), float(us))
med = statistics.median
print("Medians over the rounds (ratios: the median of each round's ratio).")
print()
print("| store | cache | off req/s | feed req/s | per request req/s | off µs/req | feed µs/req "
      "| per request µs/req | feed ÷ off CPU/req | per request ÷ feed CPU/req "
      "| feed ÷ off req/s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (store, cache), rounds in runs.items():
    rs = list(rounds.values())
    col = lambda mode, i: med(r[mode][i] for r in rs)
    ratio = lambda a, b, i: med(r[a][i] / r[b][i] for r in rs)
    print(f"| {store} | {'off' if cache == '0' else 'on'} "
          f"| {col('false', 0):.0f} | {col('feed', 0):.0f} | {col('true', 0):.0f} "
          f"| {col('false', 1):.2f} | {col('feed', 1):.2f} | {col('true', 1):.2f} "
          f"| {ratio('feed', 'false', 1):.3f} | {ratio('true', 'feed', 1):.2f} "
          f"| {ratio('feed', 'false', 0):.3f} |")
print()
print(f"non-2xx answers over every run: {bad}")
PY
