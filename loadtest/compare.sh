#!/usr/bin/env bash
# Two builds of one example server, measured in alternating rounds on loopback (wrk): a guarded
# GET /api/dashboard (one bearer token, 32 connections) and POST /token (four sessions, each
# rotating its own refresh token; refresh.lua). One line per build and round, requests/s.
#
#   ROUNDS=3 DUR=5s loadtest/compare.sh OLD_BINARY NEW_BINARY
#
# Build each commit in release first (e.g. a worktree per commit, each with its own
# CARGO_TARGET_DIR). Needs wrk and curl. Each server runs on the in-memory store with a fixed
# JWT_SECRET and is stopped after its round.
set -u
OLD=$1; NEW=$2; ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5s}
SECRET=perf-comparison-secret-of-at-least-32-bytes
run() { # bin label
  local bin=$1 label=$2 out url at
  out=$(mktemp)
  JWT_SECRET=$SECRET PORT=0 RUST_LOG=warn "$bin" >"$out" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do url=$(sed -n 's/^listening on //p' "$out"); [ -n "$url" ] && break; sleep 0.1; done
  local tokens; tokens=$(mktemp)
  at=""
  for i in 1 2 3 4; do
    resp=$(curl -s -H 'content-type: application/json' -d '{"username":"user1","password":"password1"}' "$url/login")
    [ -z "$at" ] && at=$(echo "$resp" | sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
    echo "$resp" | sed -n 's/.*"refreshToken":"\([^"]*\)".*/\1/p' >> "$tokens"
  done
  dash=$(wrk -t2 -c32 -d$DUR -H "Authorization: Bearer $at" "$url/api/dashboard" | awk '/Requests\/sec/ {print $2}')
  tok=$(TOKENS=$tokens wrk -t4 -c4 -d$DUR -s "$(dirname "$0")/refresh.lua" "$url" | awk '/Requests\/sec/ {print $2}')
  kill -TERM $pid; wait $pid 2>/dev/null
  rm -f "$out" "$tokens"
  echo "$label dashboard $dash token $tok"
}
for r in $(seq $ROUNDS); do
  run "$OLD" old; run "$NEW" new
done
