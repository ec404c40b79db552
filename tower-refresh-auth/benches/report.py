#!/usr/bin/env python3
"""Prints the ratios of the `layer` benchmark from criterion's estimates (one run).

Usage: python3 tower-refresh-auth/benches/report.py [criterion dir]
The criterion dir defaults to $CARGO_TARGET_DIR/criterion, else target/criterion.
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")


def median_ns(group, bench):
    path = os.path.join(root, group, bench, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def fmt(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


print("| alg | pass-through | decode | layer | layer − floor | ÷ decode | cached | cached ÷ decode | tower-http + decode |")
print("|---|---|---|---|---|---|---|---|---|")
for alg in ["HS256", "ES256", "EdDSA", "RS256"]:
    g = f"verify_{alg}"
    try:
        floor, decode, layer, cached, peer = (median_ns(g, b) for b in [
            "passthrough", "jsonwebtoken_decode", "layer", "layer_cached",
            "tower_http_async_require_authorization"])
    except FileNotFoundError:
        continue
    print(f"| {alg} | {fmt(floor)} | {fmt(decode)} | {fmt(layer)} | {fmt(layer - floor)} | "
          f"{(layer - floor) / decode:.2f}× | {fmt(cached)} | {(cached - floor) / decode:.3f}× | {fmt(peer)} |")

print()
print("| error path (HS256) | median | ÷ valid |")
print("|---|---|---|")
valid = median_ns("errors_HS256", "valid")
for case in ["valid", "missing", "malformed", "garbage", "expired", "forged"]:
    ns = median_ns("errors_HS256", case)
    print(f"| {case} | {fmt(ns)} | {ns / valid:.2f}× |")

print()
encode = median_ns("refresh_HS256", "jsonwebtoken_encode")
print("| refresh (HS256, memory store) | median | ÷ one HS256 encode |")
print("|---|---|---|")
for case in ["jsonwebtoken_encode", "refresh_call", "layer_json"]:
    ns = median_ns("refresh_HS256", case)
    print(f"| {case} | {fmt(ns)} | {ns / encode:.2f}× |")

print()
try:
    empty = median_ns("revocation_HS256", "empty_cache")
    print("| revocation (HS256, memory store, cache on) | median | ÷ revocation on an empty cache |")
    print("|---|---|---|")
    for case in ["empty_cache", "cache_150k", "stale_cache_150k"]:
        ns = median_ns("revocation_HS256", case)
        print(f"| {case} | {fmt(ns)} | {ns / empty:.2f}× |")
except FileNotFoundError:
    pass
