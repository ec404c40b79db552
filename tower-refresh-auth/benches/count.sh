#!/usr/bin/env bash
# Instructions per iteration of the `instructions` bench's paths, under callgrind:
# (Ir of N iterations - Ir of none) / N, so set-up and start-up cancel out.
#
#   cargo bench -p tower-refresh-auth --bench instructions --no-run   # prints the binary
#   tower-refresh-auth/benches/count.sh target/release/deps/instructions-<hash> [N] [path...]
#
# N defaults to 2000; the paths to every one the bench has.
set -euo pipefail
bin=$1
n=${2:-2000}
shift $(($# < 2 ? $# : 2))
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(encode decode verify verify_cached layer layer_cached refresh refresh_layer)
out=$(mktemp -d)
ir() { # path iterations
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" "$1" "$2" >/dev/null 2>&1
  grep -m1 '^summary:' "$out/cg" | awk '{print $2}'
}
for path in "${paths[@]}"; do
  full=$(ir "$path" "$n")
  none=$(ir "$path" 0)
  echo "$path $(((full - none) / n))"
done
rm -rf "$out"
