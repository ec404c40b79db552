//! The layer's own memory, counted by the allocator: what 10,000 sessions cost in the memory
//! store, and what 10,000 entries of the verified-token cache cost.
//!
//! ```sh
//! cargo bench -p tower-refresh-auth --bench memory
//! ```
//!
//! Each figure is the net heap growth (`allocation-counter`'s `bytes_current`) of the step,
//! minus what the step hands back to its caller (the access tokens kept for the next step),
//! with the resident-set growth (`VmRSS`) beside it. HS256, one subject per session.

use std::hint::black_box;
use std::time::Duration;

use tower_refresh_auth::{NoClaims, RefreshAuth};

const N: usize = 10_000;
const SECRET: &[u8] = b"memory bench secret, at least 32 bytes long";

fn rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(-1)
}

fn auth(cache: usize) -> RefreshAuth {
    let builder = RefreshAuth::builder()
        .hs256(SECRET.to_vec())
        .access_ttl(Duration::from_secs(3600));
    let builder = if cache > 0 {
        builder.verified_token_cache(cache)
    } else {
        builder
    };
    builder.build().expect("a valid configuration")
}

/// Issues `N` sessions; returns their access tokens and the heap bytes the store kept.
fn sessions(rt: &tokio::runtime::Runtime, auth: &RefreshAuth) -> (Vec<String>, i64, i64) {
    let mut tokens = Vec::with_capacity(N);
    let rss = rss_kib();
    let info = allocation_counter::measure(|| {
        for i in 0..N {
            let pair = rt
                .block_on(auth.issue(format!("user{i}"), NoClaims {}))
                .expect("the memory store does not fail");
            tokens.push(pair.access_token);
        }
    });
    let kept: usize = tokens.iter().map(String::capacity).sum();
    (tokens, info.bytes_current - kept as i64, rss_kib() - rss)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to filter here.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    let plain = auth(0);
    let (tokens, bytes, rss) = sessions(&rt, &plain);
    println!("| what | heap bytes per 10k | per item | RSS growth per 10k |");
    println!("|---|---|---|---|");
    println!(
        "| 10k sessions, memory store (issue) | {:.2} MiB | {} B | {:.2} MiB |",
        bytes as f64 / 1048576.0,
        bytes / N as i64,
        rss as f64 / 1024.0
    );
    let token_len = tokens[0].len();
    drop(tokens);

    let cached = auth(2 * N);
    let (tokens, _, _) = sessions(&rt, &cached);
    let rss = rss_kib();
    let info = allocation_counter::measure(|| {
        for token in &tokens {
            black_box(cached.verify(token).expect("a fresh token verifies"));
        }
    });
    let rss = rss_kib() - rss;
    println!(
        "| 10k verified-token cache entries (first verify of each token, {token_len}-byte tokens) | {:.2} MiB | {} B | {:.2} MiB |",
        info.bytes_current as f64 / 1048576.0,
        info.bytes_current / N as i64,
        rss as f64 / 1024.0
    );
    // A hit allocates only the claims handed back.
    let hit = allocation_counter::measure(|| {
        black_box(cached.verify(&tokens[0]).expect("verifies"));
    });
    println!(
        "| one cache hit | {} B allocated, {} B kept | | |",
        hit.bytes_total, hit.bytes_current
    );
}
