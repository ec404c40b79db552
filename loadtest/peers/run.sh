#!/usr/bin/env bash
# The peers comparison in one command (from anywhere):
#
#   loadtest/peers/run.sh                           # 2 rounds, 5 s per run, server and wrk pinned
#   DURATION=10s ROUNDS=3 PIN=0 loadtest/peers/run.sh
#
# Builds the harness in release mode in its own target dir, then runs the driver (see
# src/bin/driver.rs), which prints the tables and writes docs/benchmarks/peers-*.{svg,json}.
# Needs wrk (`apt-get install wrk`) and taskset (util-linux). Traffic goes to 127.0.0.1 only;
# every run is bounded (about 6 min with the defaults: 3 algorithms, up to 8 systems each).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export CARGO_TARGET_DIR=${PEERS_TARGET_DIR:-$HOME/.cache/tower-refresh-auth/loadtest-target}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
cargo build --release --locked -q --manifest-path "$here/Cargo.toml" --bins
cd "$repo"
exec "$CARGO_TARGET_DIR/release/driver"
