//! The per-request cost of a resource server (`resource::ResourceServer`, static keys) against
//! the issuing layer's, the same token through each one's `decide`: ES256 and EdDSA, the
//! verified-token cache off and on.
//!
//! Run with `cargo bench -p tower-refresh-auth --bench resource` (BENCHMARKS.md §17).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Uri};
use tower_refresh_auth::adapter::{Decision, Verdict};
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::keys::SigningKey;
use tower_refresh_auth::resource::{self, Issuer, ResourceServer};
use tower_refresh_auth::{NoClaims, RefreshAuth};

const ISS: &str = "https://login.example.com";

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("resource");
    for (name, file) in [("ES256", "es256.pem"), ("EdDSA", "ed25519.pem")] {
        let key = SigningKey::from_file(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/keys")
                .join(file),
        )
        .unwrap();
        for cache in [0, 10_000] {
            let clock = ManualClock::new(start());
            let auth = RefreshAuth::<NoClaims>::builder()
                .signing_key(key.clone())
                .refresh_secret(b"a refresh-token secret of at least 32 bytes".to_vec())
                .issuer(ISS)
                .clock(clock.clone())
                .verified_token_cache(cache)
                .build()
                .unwrap();
            let server = ResourceServer::<NoClaims>::builder()
                .issuer(Issuer::from_keys([key.verifying_key()]).issuer(ISS))
                .clock(clock.clone())
                .verified_token_cache(cache)
                .build()
                .unwrap();
            let pair = futures_lite_block_on(auth.issue("user1", NoClaims {})).unwrap();
            let mut headers = HeaderMap::new();
            headers.insert(
                AUTHORIZATION,
                HeaderValue::try_from(format!("Bearer {}", pair.access_token)).unwrap(),
            );
            let uri: Uri = "/api/profile".parse().unwrap();
            let cache_name = if cache == 0 { "cache-off" } else { "cache-on" };
            group.bench_function(format!("{name}/{cache_name}/issuing"), |b| {
                b.iter(|| {
                    let decision = auth.decide(&Method::GET, &uri, black_box(&headers));
                    assert!(matches!(
                        decision,
                        Decision::Verdict(Verdict::Authenticated(_))
                    ));
                });
            });
            group.bench_function(format!("{name}/{cache_name}/resource"), |b| {
                b.iter(|| {
                    let decision = server.decide(&Method::GET, &uri, black_box(&headers));
                    assert!(matches!(
                        decision,
                        resource::Decision::Verdict(Verdict::Authenticated(_))
                    ));
                });
            });
        }
    }
    group.finish();
}

/// Polls a future that never waits (the memory store) to its end.
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
