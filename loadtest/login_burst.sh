#!/usr/bin/env bash
# Peak memory of an example server under a scripted login burst.
#
#   loadtest/login_burst.sh                        # axum-dashboard, release build
#   FRAMEWORK=poem PARALLEL=64 ROUNDS=5 loadtest/login_burst.sh
#   BIN=/path/to/axum-dashboard loadtest/login_burst.sh   # a binary built elsewhere
#
# Starts the server on 127.0.0.1 (memory store), reads its idle RSS, then sends ROUNDS bursts
# of PARALLEL concurrent logins with curl: in each burst a third are genuine, a third use a
# wrong password and a third are abandoned by their client after 50 ms. Prints the status
# counts, then VmHWM (the peak resident set) and VmRSS from /proc/<pid>/status. Linux only
# (/proc); needs curl. Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

FRAMEWORK=${FRAMEWORK:-axum}
PARALLEL=${PARALLEL:-48}
ROUNDS=${ROUNDS:-5}

command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }

if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p "$FRAMEWORK-dashboard"
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  BIN="$target_dir/release/$FRAMEWORK-dashboard"
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

JWT_SECRET="login burst secret, at least 32 bytes long" PORT=0 RUST_LOG=error \
  "$BIN" >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$work/stdout" 2>/dev/null && break
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$work/stdout")
[ -n "$base" ] || { echo "the server did not start:" >&2; cat "$work/stderr" >&2; exit 1; }

status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$server_pid/status"; }
idle=$(status_kib VmRSS)

login() { # username password max-time
  curl -s -o /dev/null -w "%{http_code}\n" --max-time "$3" \
    -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" "$base/login" || true
}

for round in $(seq "$ROUNDS"); do
  clients=()
  for i in $(seq "$PARALLEL"); do
    case $((i % 3)) in
      0) login "user$((i % 2 + 1))" "password$((i % 2 + 1))" 30 ;;
      1) login "burst$round-$i" wrong 30 ;;
      2) login "gone$round-$i" wrong 0.05 ;;
    esac >>"$work/statuses" &
    clients+=($!)
  done
  wait "${clients[@]}"
done

echo "$FRAMEWORK-dashboard ($BIN), $ROUNDS bursts of $PARALLEL logins"
sort "$work/statuses" | uniq -c | sed 's/^/  /; s/ 000$/ 000 (abandoned by the client)/'
echo "  idle RSS:   $((idle / 1024)) MiB"
echo "  peak RSS:   $(($(status_kib VmHWM) / 1024)) MiB (VmHWM)"
echo "  RSS after:  $(($(status_kib VmRSS) / 1024)) MiB"
