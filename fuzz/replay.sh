#!/usr/bin/env bash
# Builds every fuzz target and runs each once over its seed corpus (libFuzzer's -runs=0):
# what CI does, so the targets keep compiling against the crate and every seed case keeps
# meeting the target's assertions. Takes a minute or two once the build is warm.
#
#   fuzz/replay.sh
#
# Needs cargo-fuzz (installed by .ci/run when missing) and a nightly toolchain; without
# nightly the stable toolchain is used with RUSTC_BOOTSTRAP=1. No sanitizer: the crate forbids
# unsafe code, and the point here is the assertions, not memory errors (run.sh fuzzes with
# AddressSanitizer).
set -euo pipefail
cd "$(dirname "$0")"

# shellcheck source=env.sh
. ./env.sh

./seed.sh
"${fuzz[@]}" build --sanitizer none
mkdir -p logs
for target in "${all_targets[@]}"; do
  count=$(find "corpus/$target" -type f | wc -l)
  echo "==> $target: $count seed inputs"
  if ! "${fuzz[@]}" run --sanitizer none "$target" "corpus/$target" -- -runs=0 \
    >"logs/replay-$target.log" 2>&1; then
    tail -n 40 "logs/replay-$target.log" >&2
    echo "$target failed on its seed corpus: see fuzz/logs/replay-$target.log" >&2
    exit 1
  fi
  grep -E 'INFO: seed corpus|INITED|DONE' "logs/replay-$target.log" || true
done
