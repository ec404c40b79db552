//! The per-request cost of the layer, against the floor and the peers, measured in one run.
//!
//! Run with `cargo bench -p tower-refresh-auth --bench layer`, then
//! `python3 tower-refresh-auth/benches/report.py` for the ratios (see BENCHMARKS.md).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tower_refresh_auth::dpop::Dpop;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use tower::{Layer, Service, service_fn};
use tower_http::auth::AsyncRequireAuthorizationLayer;
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::keys::SigningKey;
use tower_refresh_auth::{Claims, RefreshAuth};

#[path = "support/mod.rs"]
mod support;
use support::{Role, SECRET, copied, ok, run, shared};

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

struct Setup {
    name: &'static str,
    alg: Algorithm,
    signing: SigningKey,
    decoding: DecodingKey,
}

fn setups() -> Vec<Setup> {
    let pem = |alg: tower_refresh_auth::Algorithm,
               private: &str,
               public: &str,
               decoding: DecodingKey| Setup {
        name: alg.as_str(),
        alg: alg.as_str().parse().unwrap(),
        signing: SigningKey::from_pem(alg, private.as_bytes(), public.as_bytes()).unwrap(),
        decoding,
    };
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/");
    let read = |f: &str| std::fs::read_to_string(format!("{keys}{f}")).unwrap();
    vec![
        Setup {
            name: "HS256",
            alg: Algorithm::HS256,
            signing: SigningKey::hmac(tower_refresh_auth::Algorithm::HS256, SECRET.to_vec()),
            decoding: DecodingKey::from_secret(SECRET).expect("a non-empty secret"),
        },
        pem(
            tower_refresh_auth::Algorithm::ES256,
            &read("es256.pem"),
            &read("es256.pub.pem"),
            DecodingKey::from_ec_pem(read("es256.pub.pem").as_bytes()).unwrap(),
        ),
        pem(
            tower_refresh_auth::Algorithm::EdDSA,
            &read("ed25519.pem"),
            &read("ed25519.pub.pem"),
            DecodingKey::from_ed_pem(read("ed25519.pub.pem").as_bytes()).unwrap(),
        ),
        pem(
            tower_refresh_auth::Algorithm::RS256,
            &read("rsa.pem"),
            &read("rsa.pub.pem"),
            DecodingKey::from_rsa_pem(read("rsa.pub.pem").as_bytes()).unwrap(),
        ),
    ]
}

fn auth_for(setup: &Setup, clock: &ManualClock, cache: bool) -> RefreshAuth<Role> {
    let mut b = RefreshAuth::<Role>::builder()
        .signing_key(setup.signing.clone())
        .refresh_secret(SECRET.to_vec())
        .clock(clock.clone());
    if cache {
        b = b.verified_token_cache(10_000);
    }
    b.build().unwrap()
}

fn request(auth: &HeaderValue) -> Request<String> {
    let mut req = Request::get("/api/dashboard").body(String::new()).unwrap();
    req.headers_mut().insert(AUTHORIZATION, auth.clone());
    req
}

fn bench_verify(c: &mut Criterion) {
    for setup in setups() {
        let clock = ManualClock::new(start());
        let auth = auth_for(&setup, &clock, false);
        let cached = auth_for(&setup, &clock, true);
        let pair = run(auth.issue(
            "user1",
            Role {
                role: "admin".into(),
            },
        ))
        .unwrap();
        let token = pair.access_token.clone();
        let bearer = HeaderValue::try_from(format!("Bearer {token}")).unwrap();
        let mut g = c.benchmark_group(format!("verify/{}", setup.name));

        // The floor: the same inner service behind a pass-through layer.
        let mut floor = tower::layer::util::Identity::new().layer(service_fn(ok));
        g.bench_function("passthrough", |b| {
            b.iter_batched(
                || request(&bearer),
                |req| run(floor.call(req)).unwrap(),
                BatchSize::SmallInput,
            )
        });

        // The raw cost of verifying this token with jsonwebtoken, into the same claims type.
        let mut validation = Validation::new(setup.alg);
        validation.validate_aud = false;
        g.bench_function("jsonwebtoken_decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Claims<Role>>(
                    black_box(&token),
                    &setup.decoding,
                    &validation,
                )
                .unwrap()
            })
        });

        let mut layered = auth.layer().layer(service_fn(ok));
        g.bench_function("layer", |b| {
            b.iter_batched(
                || request(&bearer),
                |req| {
                    let res = run(layered.call(req)).unwrap();
                    assert_eq!(res.status(), StatusCode::OK);
                    res
                },
                BatchSize::SmallInput,
            )
        });

        let mut with_cache = cached.layer().layer(service_fn(ok));
        g.bench_function("layer_cached", |b| {
            b.iter_batched(
                || request(&bearer),
                |req| run(with_cache.call(req)).unwrap(),
                BatchSize::SmallInput,
            )
        });

        // A cache hit to a handler that takes the claims as `AuthClaims` does (a copy out of
        // the extensions' `Arc`), and as `SharedClaims` does (the `Arc`).
        let mut copying = cached.layer().layer(service_fn(copied));
        g.bench_function("layer_cached_claims", |b| {
            b.iter_batched(
                || request(&bearer),
                |req| run(copying.call(req)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        let mut sharing = cached.layer().layer(service_fn(shared));
        g.bench_function("layer_cached_shared", |b| {
            b.iter_batched(
                || request(&bearer),
                |req| run(sharing.call(req)).unwrap(),
                BatchSize::SmallInput,
            )
        });

        // What users write by hand today: tower-http's AsyncRequireAuthorization + decode.
        let decoding = setup.decoding.clone();
        let hand_validation = validation.clone();
        let mut peer = AsyncRequireAuthorizationLayer::new(move |mut req: Request<String>| {
            let decoding = decoding.clone();
            let validation = hand_validation.clone();
            async move {
                let token = req
                    .headers()
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "));
                match token.map(|t| jsonwebtoken::decode::<Claims<Role>>(t, &decoding, &validation))
                {
                    Some(Ok(data)) => {
                        req.extensions_mut().insert(data.claims);
                        Ok(req)
                    }
                    _ => {
                        let mut res = Response::new(String::new());
                        *res.status_mut() = StatusCode::UNAUTHORIZED;
                        Err(res)
                    }
                }
            }
        })
        .layer(service_fn(ok));
        g.bench_function("tower_http_async_require_authorization", |b| {
            b.iter_batched(
                || request(&bearer),
                |req| {
                    let res = run(peer.call(req)).unwrap();
                    assert_eq!(res.status(), StatusCode::OK);
                    res
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

fn bench_errors(c: &mut Criterion) {
    let setup = &setups()[0];
    let clock = ManualClock::new(start());
    let auth = auth_for(setup, &clock, false);
    let pair = run(auth.issue(
        "user1",
        Role {
            role: "admin".into(),
        },
    ))
    .unwrap();
    let expired_clock = ManualClock::new(start() + Duration::from_secs(3600));
    let expired_auth = auth_for(setup, &expired_clock, false);
    let other = RefreshAuth::<Role>::builder()
        .hs256(b"another secret of at least thirty-two bytes".to_vec())
        .clock(clock.clone())
        .build()
        .unwrap();
    let foreign = run(other.issue(
        "user1",
        Role {
            role: "admin".into(),
        },
    ))
    .unwrap()
    .access_token;
    // The genuine header and payload with another key's signature.
    let forged = format!(
        "{}.{}",
        pair.access_token.rsplit_once('.').unwrap().0,
        foreign.rsplit_once('.').unwrap().1
    );

    let mut g = c.benchmark_group("errors/HS256");
    let cases: Vec<(&str, Option<String>, &RefreshAuth<Role>)> = vec![
        (
            "valid",
            Some(format!("Bearer {}", pair.access_token)),
            &auth,
        ),
        ("missing", None, &auth),
        ("malformed", Some("Bearer not a token".into()), &auth),
        (
            "garbage",
            Some(format!("Bearer {}", "x".repeat(200))),
            &auth,
        ),
        (
            "expired",
            Some(format!("Bearer {}", pair.access_token)),
            &expired_auth,
        ),
        ("forged", Some(format!("Bearer {forged}")), &auth),
    ];
    for (name, header, auth) in cases {
        let mut svc = auth.layer().layer(service_fn(ok));
        let value = header.map(|h| HeaderValue::try_from(h).unwrap());
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut req = Request::get("/api/dashboard").body(String::new()).unwrap();
                    if let Some(v) = &value {
                        req.headers_mut().insert(AUTHORIZATION, v.clone());
                    }
                    req
                },
                |req| run(svc.call(req)).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn bench_refresh(c: &mut Criterion) {
    let clock = ManualClock::new(start());
    let auth = RefreshAuth::<Role>::builder()
        .hs256(SECRET.to_vec())
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut g = c.benchmark_group("refresh/HS256");

    // The baseline: signing one access token with jsonwebtoken.
    #[derive(Serialize)]
    struct Plain<'a> {
        sub: &'a str,
        sid: &'a str,
        jti: &'a str,
        iat: u64,
        exp: u64,
        role: &'a str,
    }
    let key = EncodingKey::from_secret(SECRET).expect("a non-empty secret");
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("k".into());
    g.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| {
            let claims = Plain {
                sub: "user1",
                sid: "AAAAAAAAAAAAAAAAAAAAAA",
                jti: "BBBBBBBBBBBBBBBBBBBBBB",
                iat: 1_800_000_000,
                exp: 1_800_000_060,
                role: "admin",
            };
            jsonwebtoken::encode(&header, black_box(&claims), &key).unwrap()
        })
    });

    // A real rotation every iteration: each refresh spends the token the previous one got.
    let mut token = run(auth.issue(
        "user1",
        Role {
            role: "admin".into(),
        },
    ))
    .unwrap()
    .refresh_token;
    g.bench_function("refresh_call", |b| {
        b.iter(|| {
            let pair = run(auth.refresh(&token)).unwrap();
            token = pair.refresh_token;
        })
    });

    let mut svc = auth.layer().layer(service_fn(ok));
    let mut token = run(auth.issue(
        "user1",
        Role {
            role: "admin".into(),
        },
    ))
    .unwrap()
    .refresh_token;
    g.bench_function("layer_json", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let req = Request::post("/token")
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"refreshToken":"{token}"}}"#))
                    .unwrap();
                let started = Instant::now();
                let res = run(svc.call(req)).unwrap();
                let body = run(http_body_util::BodyExt::collect(res.into_body()))
                    .unwrap()
                    .to_bytes();
                total += started.elapsed();
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                token = json["refreshToken"].as_str().unwrap().to_owned();
            }
            total
        })
    });
    g.finish();
}

/// Revoking a session with the verified-token cache on: its cost against the size of the
/// cache (issue 10: it used to scan the whole cache under every shard's lock).
fn bench_revocation(c: &mut Criterion) {
    const FULL: usize = 150_000;
    let clock = ManualClock::new(start());
    let cached_auth = || {
        RefreshAuth::<Role>::builder()
            .hs256(SECRET.to_vec())
            .clock(clock.clone())
            .verified_token_cache(FULL + 1_000)
            .build()
            .unwrap()
    };
    let role = || Role {
        role: "admin".into(),
    };
    let empty = cached_auth();
    let full = cached_auth();
    for _ in 0..FULL {
        let pair = run(full.issue("someone", role())).unwrap();
        full.verify(&pair.access_token).unwrap();
    }
    let mut g = c.benchmark_group("revocation/HS256");
    for (name, auth) in [("empty_cache", &empty), ("cache_150k", &full)] {
        // A live session with one cached token, revoked: the store's delete and the cache's.
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let pair = run(auth.issue("user1", role())).unwrap();
                    auth.verify(&pair.access_token).unwrap();
                    pair.session_id
                },
                |sid| assert!(run(auth.revoke_session(&sid)).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    // A replayed, stale logout: the store has no such session, so the cache is not touched.
    let gone = run(full.issue("user1", role())).unwrap().session_id;
    run(full.revoke_session(&gone)).unwrap();
    g.bench_function("stale_cache_150k", |b| {
        b.iter(|| assert!(!run(full.revoke_session(black_box(&gone))).unwrap()))
    });
    g.finish();
}

/// The cost of the metrics of protocol §9 on the HS256 verification path: without a recorder
/// (the facade's no-op: the goal is nil within noise), with the facade's `NoopRecorder`
/// installed, and with `metrics-util`'s `DebuggingRecorder` (a real registry: one lookup and
/// an atomic add per request). The recorders are local to the benchmark's thread.
fn bench_metrics(c: &mut Criterion) {
    let Some(setup) = setups().into_iter().find(|s| s.alg == Algorithm::HS256) else {
        return;
    };
    let clock = ManualClock::new(start());
    let auth = auth_for(&setup, &clock, false);
    let pair = run(auth.issue(
        "user1",
        Role {
            role: "admin".into(),
        },
    ))
    .unwrap();
    let bearer = HeaderValue::try_from(format!("Bearer {}", pair.access_token)).unwrap();
    let mut layered = auth.layer().layer(service_fn(ok));
    let mut g = c.benchmark_group("metrics/HS256");
    let mut measure = |b: &mut criterion::Bencher<'_>| {
        b.iter_batched(
            || request(&bearer),
            |req| {
                let res = run(layered.call(req)).unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                res
            },
            BatchSize::SmallInput,
        )
    };
    g.bench_function("layer_without_recorder", |b| measure(b));
    let noop = metrics::NoopRecorder;
    g.bench_function("layer_noop_recorder", |b| {
        metrics::with_local_recorder(&noop, || measure(b))
    });
    let debugging = metrics_util::debugging::DebuggingRecorder::new();
    g.bench_function("layer_debugging_recorder", |b| {
        metrics::with_local_recorder(&debugging, || measure(b))
    });
    g.finish();
}

/// A DPoP-protected request (RFC 9449: the DPoP scheme, a proof by the token's key, its
/// `jti` spent in the memory store) against a bearer request, for tokens and proofs of the
/// same algorithm. The proofs are signed before each measured call, as a client would.
fn bench_dpop(c: &mut Criterion) {
    use tower_refresh_auth::session::SessionMetadata;
    use tower_refresh_auth::store::MemoryStore;
    use tower_refresh_auth_test_support::dpop::DpopKey;

    const ORIGIN: &str = "https://api.example.com";
    for setup in setups()
        .into_iter()
        .filter(|s| matches!(s.alg, Algorithm::ES256 | Algorithm::EdDSA))
    {
        let clock = ManualClock::new(start());
        let build = |dpop: bool| {
            let mut b = RefreshAuth::<Role>::builder()
                .signing_key(setup.signing.clone())
                .refresh_secret(SECRET.to_vec())
                .clock(clock.clone())
                // Room for every proof of the run: a full store refuses new proofs.
                .store(MemoryStore::new().with_proofs_capacity(50_000_000));
            if dpop {
                b = b.dpop(Dpop::optional().origin(ORIGIN));
            }
            b.build().unwrap()
        };
        let role = || Role {
            role: "admin".into(),
        };
        let bearer_auth = build(false);
        let bearer_pair = run(bearer_auth.issue("user1", role())).unwrap();
        let bearer = HeaderValue::try_from(format!("Bearer {}", bearer_pair.access_token)).unwrap();

        let key = match setup.alg {
            Algorithm::EdDSA => DpopKey::ed25519(),
            _ => DpopKey::es256(),
        };
        let dpop_auth = build(true);
        let login = {
            let mut claims = key.claims("POST", &format!("{ORIGIN}/login"), None);
            claims["iat"] = serde_json::json!(1_800_000_000u64);
            let req = Request::post("/login")
                .header("dpop", key.sign(&key.header(), &claims))
                .body(())
                .unwrap();
            run(dpop_auth.verify_dpop(req.method(), req.uri(), req.headers()))
                .unwrap()
                .expect("a proof")
        };
        let pair = run(dpop_auth.issue_with(
            "user1",
            role(),
            SessionMetadata::new().with_dpop(Some(login)),
        ))
        .unwrap();
        let scheme = HeaderValue::try_from(format!("DPoP {}", pair.access_token)).unwrap();
        let dpop_request = || {
            let mut claims = key.claims(
                "GET",
                &format!("{ORIGIN}/api/dashboard"),
                Some(&pair.access_token),
            );
            claims["iat"] = serde_json::json!(1_800_000_000u64);
            let mut req = request(&scheme);
            req.headers_mut().insert(
                "dpop",
                HeaderValue::try_from(key.sign(&key.header(), &claims)).unwrap(),
            );
            req
        };

        let mut g = c.benchmark_group(format!("dpop/{}", setup.name));
        let mut bearer_layer = bearer_auth.layer().layer(service_fn(ok));
        g.bench_function("bearer", |b| {
            b.iter_batched(
                || request(&bearer),
                |req| {
                    let res = run(bearer_layer.call(req)).unwrap();
                    assert_eq!(res.status(), StatusCode::OK);
                    res
                },
                BatchSize::SmallInput,
            )
        });
        let mut dpop_layer = dpop_auth.layer().layer(service_fn(ok));
        g.bench_function("dpop", |b| {
            b.iter_batched(
                dpop_request,
                |req| {
                    let res = run(dpop_layer.call(req)).unwrap();
                    assert_eq!(res.status(), StatusCode::OK);
                    res
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40);
    targets = bench_verify, bench_errors, bench_refresh, bench_revocation, bench_metrics, bench_dpop
}
criterion_main!(benches);
