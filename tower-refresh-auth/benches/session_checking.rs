//! The per-request cost of the three session-checking modes (`SessionChecking`), the same
//! access token through `decide` (and, per request, the store read of `StoreCheck::run`):
//! `off`, `feed` (its local set holding 1000 other revoked sessions) and `per_request` on the
//! memory store; the verified-token cache off and on.
//!
//! Run with `cargo bench -p tower-refresh-auth --bench session_checking` (BENCHMARKS.md §18).
//! Wall-clock timings on a shared machine drift by more than the difference between `off` and
//! `feed`; instructions under callgrind do not. Given `MODE CACHE N`, the binary runs only
//! `decide` N times for that mode and cache size:
//!
//! ```sh
//! cargo bench -p tower-refresh-auth --bench session_checking --no-run
//! valgrind --tool=callgrind --toggle-collect='*decide*' --callgrind-out-file=/tmp/cg.feed \
//!     target/release/deps/session_checking-* feed 0 20000
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Uri};
use tower_refresh_auth::adapter::{Decision, Verdict};
use tower_refresh_auth::store::MemoryStore;
use tower_refresh_auth::{NoClaims, RefreshAuth, SessionChecking};

/// How many other sessions the feed's set holds while it is measured.
const REVOKED: usize = 1000;

const MODES: [(&str, SessionChecking); 3] = [
    ("off", SessionChecking::Off),
    ("feed", SessionChecking::Feed),
    ("per_request", SessionChecking::PerRequest),
];

/// A layer in `mode` whose store holds [`REVOKED`] revoked sessions (and, with the feed, its
/// set too), and the headers of a request with a live session's token.
fn setup(
    runtime: &tokio::runtime::Runtime,
    mode: SessionChecking,
    cache: usize,
) -> (RefreshAuth<NoClaims>, HeaderMap) {
    // The feed's follower is a task: the layer is built inside the runtime.
    let _entered = runtime.enter();
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(b"a benchmark secret of at least 32 bytes".to_vec())
        .store(MemoryStore::new())
        .verified_token_cache(cache)
        .check_sessions(mode)
        .build()
        .unwrap();
    let pair = runtime.block_on(async {
        for _ in 0..REVOKED {
            let other = auth.issue("other", NoClaims {}).await.unwrap();
            auth.logout(&other.refresh_token).await.unwrap();
        }
        if mode == SessionChecking::Feed {
            while !auth.revocation_feed_status().unwrap().following {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        auth.issue("user1", NoClaims {}).await.unwrap()
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::try_from(format!("Bearer {}", pair.access_token)).unwrap(),
    );
    (auth, headers)
}

/// One guarded request: `decide`, and the store check when it asks for one.
fn request(
    runtime: &tokio::runtime::Runtime,
    auth: &RefreshAuth<NoClaims>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Verdict<NoClaims> {
    let verdict = match auth.decide(&Method::GET, uri, black_box(headers)) {
        Decision::Verdict(verdict) => verdict,
        Decision::StoreCheck(check) => runtime.block_on(check.run()),
        Decision::Endpoint(_) => unreachable!("not a route of the layer"),
    };
    assert!(matches!(verdict, Verdict::Authenticated(_)));
    verdict
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let runtime = runtime();
    let uri: Uri = "/api/profile".parse().unwrap();
    let mut group = c.benchmark_group("session_checking");
    for cache in [0, 10_000] {
        for (mode_name, mode) in MODES {
            let (auth, headers) = setup(&runtime, mode, cache);
            let cache_name = if cache == 0 { "cache-off" } else { "cache-on" };
            group.bench_function(format!("HS256/{cache_name}/{mode_name}"), |b| {
                b.iter(|| black_box(request(&runtime, &auth, &uri, &headers)));
            });
        }
    }
    group.finish();
}

/// `MODE CACHE N`: N requests in that mode, for callgrind.
fn count(mode: &str, cache: usize, n: usize) {
    let (_, mode) = MODES
        .into_iter()
        .find(|(name, _)| *name == mode)
        .expect("a mode: off, feed or per_request");
    let runtime = runtime();
    let (auth, headers) = setup(&runtime, mode, cache);
    let uri: Uri = "/api/profile".parse().unwrap();
    for _ in 0..n {
        black_box(request(&runtime, &auth, &uri, &headers));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, cache, n] = &args[..]
        && let (Ok(cache), Ok(n)) = (cache.parse(), n.parse())
    {
        count(mode, cache, n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
