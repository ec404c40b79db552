//! Runs one per-request path N times, for counting instructions under callgrind, which is
//! repeatable where wall-clock timings on a shared machine are not.
//!
//! ```sh
//! cargo bench -p tower-refresh-auth --bench instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.layer \
//!     target/release/deps/instructions-* layer 20000
//! ```
//!
//! Paths: `decode` (bare `jsonwebtoken::decode`), `verify` (`RefreshAuth::verify`, no
//! cache), `verify_cached` (the same, a cache hit), `layer`, `layer_cached`, `refresh`,
//! `refresh_layer` (`POST /token` through the layer, JSON in and out), `encode`, and
//! `layer_cached_claims` / `layer_cached_shared`: a cache hit through the layer to a handler
//! that takes the claims as `AuthClaims` does (a copy out of the extensions' `Arc`) or as
//! `SharedClaims` does (the `Arc`). With no arguments (as `cargo bench` runs it) it runs each
//! path once, as a smoke test.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use tower::{Layer, Service, service_fn};
use tower_refresh_auth::{Claims, RefreshAuth};

#[path = "support/mod.rs"]
mod support;
use support::{Role, SECRET, copied, ok, run, shared};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (paths, n): (Vec<&str>, usize) = match args.as_slice() {
        [path, n] => (vec![path.as_str()], n.parse().unwrap()),
        _ => (
            vec![
                "decode",
                "verify",
                "verify_cached",
                "layer",
                "layer_cached",
                "layer_cached_claims",
                "layer_cached_shared",
                "refresh",
                "refresh_layer",
                "encode",
            ],
            1,
        ),
    };
    let auth = RefreshAuth::<Role>::builder()
        .hs256(SECRET.to_vec())
        .build()
        .unwrap();
    let cached = RefreshAuth::<Role>::builder()
        .hs256(SECRET.to_vec())
        .verified_token_cache(1000)
        .build()
        .unwrap();
    let pair = run(auth.issue(
        "user1",
        Role {
            role: "admin".into(),
        },
    ))
    .unwrap();
    let bearer = HeaderValue::try_from(format!("Bearer {}", pair.access_token)).unwrap();
    let key = DecodingKey::from_secret(SECRET).expect("a non-empty secret");
    let validation = Validation::new(Algorithm::HS256);
    for path in paths {
        match path {
            "decode" => {
                for _ in 0..n {
                    black_box(
                        jsonwebtoken::decode::<Claims<Role>>(
                            black_box(&pair.access_token),
                            &key,
                            &validation,
                        )
                        .unwrap(),
                    );
                }
            }
            "verify" | "verify_cached" => {
                let a = if path == "verify" { &auth } else { &cached };
                for _ in 0..n {
                    black_box(a.verify(black_box(&pair.access_token)).unwrap());
                }
            }
            "layer" | "layer_cached" => {
                let a = if path == "layer" { &auth } else { &cached };
                let mut svc = a.layer().layer(service_fn(ok));
                for _ in 0..n {
                    let mut req = Request::new(String::new());
                    req.headers_mut().insert(AUTHORIZATION, bearer.clone());
                    black_box(run(svc.call(req)).unwrap());
                }
            }
            "layer_cached_claims" | "layer_cached_shared" => {
                let mut copy = cached.layer().layer(service_fn(copied));
                let mut share = cached.layer().layer(service_fn(shared));
                for _ in 0..n {
                    let mut req = Request::new(String::new());
                    req.headers_mut().insert(AUTHORIZATION, bearer.clone());
                    if path == "layer_cached_claims" {
                        black_box(run(copy.call(req)).unwrap());
                    } else {
                        black_box(run(share.call(req)).unwrap());
                    }
                }
            }
            "refresh" => {
                let mut token = pair.refresh_token.clone();
                for _ in 0..n {
                    token = run(auth.refresh(&token)).unwrap().refresh_token;
                }
            }
            "refresh_layer" => {
                // POST /token through the layer, JSON in and out; the next token is sliced out
                // of the answer (a `find`, not a JSON parse, so the bench adds little).
                let mut svc = auth.layer().layer(service_fn(ok));
                let mut token = run(auth.issue(
                    "user1",
                    Role {
                        role: "admin".into(),
                    },
                ))
                .unwrap()
                .refresh_token;
                for _ in 0..n {
                    let req = Request::post("/token")
                        .header("content-type", "application/json")
                        .body(format!(r#"{{"refreshToken":"{token}"}}"#))
                        .unwrap();
                    let res = run(svc.call(req)).unwrap();
                    let body = run(http_body_util::BodyExt::collect(res.into_body()))
                        .unwrap()
                        .to_bytes();
                    let text = std::str::from_utf8(&body).unwrap();
                    let start = text.find(r#""refreshToken":""#).unwrap() + 16;
                    let len = text[start..].find('"').unwrap();
                    token = text[start..start + len].to_owned();
                }
            }
            "encode" => {
                let enc = EncodingKey::from_secret(SECRET).expect("a non-empty secret");
                let header = Header::new(Algorithm::HS256);
                for _ in 0..n {
                    black_box(
                        jsonwebtoken::encode(
                            &header,
                            &serde_json::json!({"sub": "user1", "exp": 1, "role": "admin"}),
                            &enc,
                        )
                        .unwrap(),
                    );
                }
            }
            other => panic!("unknown path {other}"),
        }
    }
}
