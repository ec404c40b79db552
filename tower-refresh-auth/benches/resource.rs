//! The per-request cost of a resource server (`resource::ResourceServer`, static keys) against
//! the issuing layer's, the same token through each one's `decide`: ES256 and EdDSA, the
//! verified-token cache off and on; and a resource server trusting two issuers (`two-issuers`),
//! where a token is routed by its `iss`.
//!
//! Three ways to run it (BENCHMARKS.md §17):
//!
//! ```sh
//! # criterion, each path on its own
//! cargo bench -p tower-refresh-auth --bench resource
//! # both layers in alternating rounds in one run: medians and the median per-round ratio
//! cargo bench -p tower-refresh-auth --bench resource -- alternate 15
//! # one path N times, for callgrind (see `count.sh`); e.g. `resource/ES256/cache-on/resource`
//! valgrind --tool=callgrind target/release/deps/resource-<hash> count ES256/cache-on/resource 2000
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::Criterion;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Uri};
use tower_refresh_auth::adapter::{Decision, Verdict};
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::keys::SigningKey;
use tower_refresh_auth::resource::{self, Issuer, ResourceServer};
use tower_refresh_auth::{NoClaims, RefreshAuth};

const ISS: &str = "https://login.example.com";
const OTHER_ISS: &str = "https://other.example.com";

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn key(file: &str) -> SigningKey {
    SigningKey::from_file(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/keys")
            .join(file),
    )
    .unwrap()
}

/// One configuration: the issuing layer, a resource server with its one issuer, one with two,
/// and a request carrying a token of the first.
struct Setup {
    name: String,
    auth: RefreshAuth,
    server: ResourceServer,
    two_issuers: ResourceServer,
    headers: HeaderMap,
}

fn setups() -> Vec<Setup> {
    let mut all = Vec::new();
    for (name, file, other) in [
        ("ES256", "es256.pem", "ed25519.pem"),
        ("EdDSA", "ed25519.pem", "es256.pem"),
    ] {
        let key = key(file);
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
            let two_issuers = ResourceServer::<NoClaims>::builder()
                .issuer(Issuer::from_keys([self::key(other).verifying_key()]).issuer(OTHER_ISS))
                .issuer(Issuer::from_keys([key.verifying_key()]).issuer(ISS))
                .clock(clock.clone())
                .verified_token_cache(cache)
                .build()
                .unwrap();
            let pair = block_on(auth.issue("user1", NoClaims {})).unwrap();
            let mut headers = HeaderMap::new();
            headers.insert(
                AUTHORIZATION,
                HeaderValue::try_from(format!("Bearer {}", pair.access_token)).unwrap(),
            );
            let cache_name = if cache == 0 { "cache-off" } else { "cache-on" };
            all.push(Setup {
                name: format!("{name}/{cache_name}"),
                auth,
                server,
                two_issuers,
                headers,
            });
        }
    }
    all
}

/// The three layers a setup measures, by the last part of a path's name.
const LAYERS: [&str; 3] = ["issuing", "resource", "two-issuers"];

impl Setup {
    /// One request through `layer`, which must let it in.
    fn run(&self, layer: &str, uri: &Uri) {
        let headers = black_box(&self.headers);
        let ok = match layer {
            "issuing" => matches!(
                self.auth.decide(&Method::GET, uri, headers),
                Decision::Verdict(Verdict::Authenticated(_))
            ),
            "resource" => matches!(
                self.server.decide(&Method::GET, uri, headers),
                resource::Decision::Verdict(Verdict::Authenticated(_))
            ),
            "two-issuers" => matches!(
                self.two_issuers.decide(&Method::GET, uri, headers),
                resource::Decision::Verdict(Verdict::Authenticated(_))
            ),
            other => panic!("no layer {other}"),
        };
        assert!(ok, "{}/{layer} refused the token", self.name);
    }
}

fn bench(c: &mut Criterion) {
    let uri: Uri = "/api/profile".parse().unwrap();
    let mut group = c.benchmark_group("resource");
    for setup in setups() {
        for layer in LAYERS {
            group.bench_function(format!("{}/{layer}", setup.name), |b| {
                b.iter(|| setup.run(layer, &uri));
            });
        }
    }
    group.finish();
}

/// `rounds` rounds; in each, every layer of every setup runs a batch in turn (the order
/// reversed every other round), so the machine's load falls on all of them alike. Prints each
/// layer's median nanoseconds per request and the median of its per-round ratios to the
/// issuing layer.
fn alternate(rounds: usize) {
    let uri: Uri = "/api/profile".parse().unwrap();
    let setups = setups();
    println!("| setup | issuing ns | resource ns | ratio | two issuers ns | ratio |");
    println!("|---|---|---|---|---|---|");
    for setup in &setups {
        // A batch of about 20 ms, sized from a first one.
        let probe = Instant::now();
        for _ in 0..200 {
            setup.run("resource", &uri);
        }
        let batch = (200 * 20_000_000 / probe.elapsed().as_nanos().max(1)).max(200) as u32;
        let mut times: [Vec<f64>; 3] = Default::default();
        for round in 0..rounds {
            let mut order = [0, 1, 2];
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let began = Instant::now();
                for _ in 0..batch {
                    setup.run(LAYERS[i], &uri);
                }
                times[i].push(began.elapsed().as_nanos() as f64 / f64::from(batch));
            }
        }
        let ratio = |i: usize| {
            median(
                times[i]
                    .iter()
                    .zip(&times[0])
                    .map(|(t, base)| t / base)
                    .collect(),
            )
        };
        println!(
            "| {} | {:.0} | {:.0} | {:.3} | {:.0} | {:.3} |",
            setup.name,
            median(times[0].clone()),
            median(times[1].clone()),
            ratio(1),
            median(times[2].clone()),
            ratio(2),
        );
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs the path `setup/layer` (e.g. `ES256/cache-on/resource`) `n` times after one warm-up
/// request, for callgrind: `(Ir of n) - (Ir of 0)` over `n` is its cost per request.
fn count(path: &str, n: usize) {
    let uri: Uri = "/api/profile".parse().unwrap();
    let (name, layer) = path.rsplit_once('/').expect("a path is setup/layer");
    let setups = setups();
    let setup = setups
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no setup {name}"));
    setup.run(layer, &uri);
    for _ in 0..n {
        setup.run(layer, &uri);
    }
}

/// Polls a future that never waits (the memory store) to its end.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["count", path, n] => count(path, n.parse().unwrap()),
        ["alternate", rounds] => alternate(rounds.parse().unwrap()),
        ["alternate"] => alternate(15),
        _ => {
            let mut c = Criterion::default()
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2))
                .configure_from_args();
            bench(&mut c);
            c.final_summary();
        }
    }
}
