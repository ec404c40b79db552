#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, one after the other.
#
#   fuzz/run.sh [seconds-per-target] [target…]      (default: 60 seconds, every target)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain; without nightly
# the stable toolchain is used with RUSTC_BOOTSTRAP=1. Corpora are seeded by seed.sh and
# kept in fuzz/corpus (gitignored); crashes land in fuzz/artifacts (gitignored) and the run
# stops there with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-60}"
shift || true
targets=("$@")
# shellcheck source=env.sh
. ./env.sh
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${all_targets[@]}")
fi

./seed.sh
mkdir -p logs
for target in "${targets[@]}"; do
  echo "==> $target for ${secs}s"
  status=0
  "${fuzz[@]}" run "$target" "corpus/$target" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"logs/$target.log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|SUMMARY)' "logs/$target.log" || true
  if [ "$status" -ne 0 ]; then
    echo "$target failed: see fuzz/logs/$target.log and fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
