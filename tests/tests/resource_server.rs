//! A resource server (`tower_refresh_auth::resource`, `docs/protocol.md` §12) verifying tokens
//! of issuers served over real TCP on loopback: an issuing `RefreshAuth` publishing its JWKS
//! and RFC 8414 metadata, and a plain document server for the hostile cases. No mocked HTTP
//! client: every key fetch is a request to a local server, which counts them.
//!
//! Assertions are on statuses and fetch counts, never on timing. Waits for a background fetch
//! poll a counter a bounded number of times.
//!
//! Run with `cargo test -p tower-refresh-auth-tests --test resource_server`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Request as AxumRequest, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response as AxumResponse};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::keys::{Jwks, SigningKey};
use tower_refresh_auth::resource::{Issuer, KeySourceError, ResourceServer};
use tower_refresh_auth::{Claims, ConfigError, NoClaims, RefreshAuth, SecurityEvent};

fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tower-refresh-auth/tests/keys")
        .join(name)
}

/// What the local server answers besides the issuing layer's routes, and what it counts.
#[derive(Default)]
struct Control {
    down: AtomicBool,
    hits: Mutex<HashMap<String, u64>>,
    docs: Mutex<HashMap<String, Doc>>,
}

#[derive(Clone)]
enum Doc {
    Json(String),
    Redirect(String),
    Huge(usize),
}

impl Control {
    fn hits(&self, path: &str) -> u64 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn serve(&self, path: &str, doc: Doc) {
        self.docs.lock().unwrap().insert(path.to_owned(), doc);
    }
}

async fn count(State(control): State<Arc<Control>>, req: AxumRequest, next: Next) -> AxumResponse {
    *control
        .hits
        .lock()
        .unwrap()
        .entry(req.uri().path().to_owned())
        .or_default() += 1;
    if control.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    next.run(req).await
}

async fn documents(State(control): State<Arc<Control>>, uri: Uri) -> AxumResponse {
    let doc = control.docs.lock().unwrap().get(uri.path()).cloned();
    match doc {
        Some(Doc::Json(body)) => {
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Some(Doc::Redirect(to)) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Some(Doc::Huge(n)) => (
            [(header::CONTENT_TYPE, "application/json")],
            format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(n)),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A loopback server: its base URL and its control.
struct Site {
    base: String,
    control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    (listener, base)
}

fn start(listener: tokio::net::TcpListener, base: String, auth: Option<&RefreshAuth>) -> Site {
    let control = Arc::new(Control::default());
    let mut app = Router::new()
        .fallback(documents)
        .with_state(Arc::clone(&control));
    if let Some(auth) = auth {
        app = app.layer(auth.layer());
    }
    let app = app.layer(from_fn_with_state(Arc::clone(&control), count));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Site {
        base,
        control,
        task,
    }
}

/// An issuing layer signing with `key`, its `iss` the base URL, the JWKS route on.
fn issuing(key: SigningKey, base: &str, jwks_max_age: Duration) -> RefreshAuth {
    RefreshAuth::<NoClaims>::builder()
        .signing_key(key)
        .refresh_secret(b"the refresh-token secret, 32 bytes or more".to_vec())
        .issuer(base)
        .jwks(Jwks::new().max_age(jwks_max_age))
        .access_ttl(Duration::from_secs(4 * 3600))
        .optional()
        .build()
        .unwrap()
}

/// An issuer on loopback signing with the key file `key`.
async fn issuer_site(key: &str) -> (Site, RefreshAuth) {
    let (listener, base) = bind().await;
    let auth = issuing(
        SigningKey::from_file(key_file(key)).unwrap(),
        &base,
        Duration::from_secs(600),
    );
    (start(listener, base, Some(&auth)), auth)
}

const JWKS: &str = "/.well-known/jwks.json";

async fn token(auth: &RefreshAuth, sub: &str) -> String {
    auth.issue(sub, NoClaims {}).await.unwrap().access_token
}

/// A request through the resource server's layer: status, headers, body.
async fn call(server: &ResourceServer, token: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let svc = ServiceBuilder::new()
        .layer(server.layer())
        .service(service_fn(|req: Request<String>| async move {
            let claims = req.extensions().get::<Arc<Claims>>().cloned().unwrap();
            let body = json!({ "subject": claims.sub, "issuer": claims.iss }).to_string();
            Ok::<_, Infallible>(Response::new(body))
        }));
    let mut req = Request::get("/api/profile");
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let res = svc.oneshot(req.body(String::new()).unwrap()).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// Waits (a bounded number of short sleeps) until `done`; panics if it never is.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn an_issuer_url_alone_finds_the_keys_es256_and_eddsa() {
    for key in ["es256.pem", "ed25519.pem"] {
        let (site, auth) = issuer_site(key).await;

        // The issuing side's metadata (docs/protocol.md §12).
        let res = reqwest::get(format!(
            "{}/.well-known/oauth-authorization-server",
            site.base
        ))
        .await
        .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "public, max-age=600");
        let metadata: Value = res.json().await.unwrap();
        assert_eq!(
            metadata,
            json!({
                "issuer": site.base,
                "jwks_uri": format!("{}{JWKS}", site.base),
                "token_endpoint": format!("{}/token", site.base),
                "revocation_endpoint": format!("{}/logout", site.base),
                "token_endpoint_auth_methods_supported": ["none"],
            })
        );

        let server = ResourceServer::<NoClaims>::builder()
            .issuer(Issuer::discover(&site.base))
            .build()
            .unwrap();
        server.ready().await.unwrap();
        let (status, _, body) = call(&server, Some(&token(&auth, "user1").await)).await;
        assert_eq!(status, StatusCode::OK, "{key}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body, json!({ "subject": "user1", "issuer": site.base }));
        assert_eq!(site.control.hits(JWKS), 1, "{key}");

        // The refusals of docs/protocol.md §1.
        let (status, headers, _) = call(&server, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"api\"");
        let (status, headers, _) = call(&server, Some("garbage")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
}

#[tokio::test]
async fn metadata_naming_another_issuer_stops_the_start_naming_the_url() {
    let (site, _auth) = issuer_site("es256.pem").await;
    // Configured with a trailing path: the metadata's `issuer` is not this one.
    let wrong = format!("{}/", site.base);
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::discover(&wrong))
        .build()
        .unwrap();
    let err = server.ready().await.unwrap_err();
    assert!(
        matches!(err, KeySourceError::IssuerMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&site.base), "{err}");

    // Nobody listening: the error names the URL.
    let (listener, base) = bind().await;
    drop(listener);
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::discover(&base))
        .build()
        .unwrap();
    let err = server.ready().await.unwrap_err();
    assert!(err.url().starts_with(&base), "{err}");
}

#[tokio::test]
async fn without_waiting_requests_are_answered_503_until_the_keys_arrive() {
    let (listener, base) = bind().await;
    let auth = issuing(
        SigningKey::from_file(key_file("es256.pem")).unwrap(),
        &base,
        Duration::from_secs(600),
    );
    let good = token(&auth, "user1").await;
    let site = start(listener, base.clone(), Some(&auth));
    site.control.down.store(true, Ordering::SeqCst);
    let clock = ManualClock::new(SystemTime::now());
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::jwks_url(format!("{base}{JWKS}")).issuer(&base))
        .clock(clock.clone())
        .refetch_cooldown(Duration::from_secs(5))
        .build()
        .unwrap();
    let (status, headers, body) = call(&server, Some(&good)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert!(!headers.contains_key(header::WWW_AUTHENTICATE));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    site.control.down.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(6));
    let (status, _, body) = call(&server, Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_rotation_at_the_issuer_mid_traffic_refuses_no_good_token() {
    let (listener, base) = bind().await;
    // Short max-ages so the resource server refetches often; every fetch is counted.
    let auth = issuing(
        SigningKey::from_file(key_file("es256.pem")).unwrap(),
        &base,
        Duration::from_secs(1),
    );
    let site = start(listener, base.clone(), Some(&auth));
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::discover(&base))
        .cache_ttl(
            Duration::from_millis(400),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .refetch_cooldown(Duration::from_millis(100))
        .build()
        .unwrap();
    server.ready().await.unwrap();
    let old = token(&auth, "before").await;
    assert_eq!(call(&server, Some(&old)).await.0, StatusCode::OK);

    // Publish the next key ahead of signing; wait for a fetch that saw it.
    let next = SigningKey::from_file(key_file("ed25519.pem")).unwrap();
    auth.keys().publish(next.verifying_key()).unwrap();
    let seen = site.control.hits(JWKS);
    eventually("a refetch after the publish", || {
        site.control.hits(JWKS) > seen
    })
    .await;
    let fetches = site.control.hits(JWKS);

    // Rotate: tokens of the new key verify with no fetch for them; old ones still do.
    auth.keys().rotate(next).unwrap();
    for i in 0..50 {
        let new = token(&auth, &format!("after{i}")).await;
        assert_eq!(call(&server, Some(&new)).await.0, StatusCode::OK);
        assert_eq!(call(&server, Some(&old)).await.0, StatusCode::OK);
    }
    // At most the background refreshes ran meanwhile (each at most one per cooldown).
    assert!(site.control.hits(JWKS) >= fetches);

    // Prune the old key: once a fetch has seen the set without it, its tokens are refused.
    let old_kid = auth.keys().verifying_kids()[1].clone();
    assert!(auth.keys().remove(&old_kid));
    let seen = site.control.hits(JWKS);
    eventually("a refetch after the prune", || {
        site.control.hits(JWKS) > seen
    })
    .await;
    // A fetch that started before the prune may have finished after it; wait for one more.
    let seen = site.control.hits(JWKS);
    eventually("a second refetch after the prune", || {
        site.control.hits(JWKS) > seen
    })
    .await;
    let (status, headers, _) = call(&server, Some(&old)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("kid is unknown")
    );
    let new = token(&auth, "late").await;
    assert_eq!(call(&server, Some(&new)).await.0, StatusCode::OK);
}

/// A token with header `header` and claims `claims`, signed by nobody we trust.
fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

#[tokio::test]
async fn a_flood_of_random_kids_costs_the_issuer_one_fetch_per_cooldown() {
    let (site, auth) = issuer_site("es256.pem").await;
    let clock = ManualClock::new(SystemTime::now());
    // The refetch shares this runtime with the 3000 tasks of the flood and with the issuer's
    // site: on a loaded machine the default 5 s timeout can run out before the site answers,
    // which the fetch count would show as no refetch at all.
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::discover(&site.base))
        .clock(clock.clone())
        .fetch_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    server.ready().await.unwrap();
    assert_eq!(site.control.hits(JWKS), 1);
    let good = token(&auth, "user1").await;
    let claims = json!({ "sub": "x", "sid": "AAAAAAAAAAAAAAAAAAAAAA", "jti": "j", "iat": 1, "exp": 4_000_000_000u64, "iss": site.base });

    // Past the cooldown since the first fetch: the flood may cause one fetch, shared.
    clock.advance(Duration::from_secs(11));
    let mut tasks = Vec::new();
    for i in 0..3000u32 {
        let server = server.clone();
        let header =
            json!({ "alg": "ES256", "typ": "at+jwt", "kid": format!("random-{i}-{}", rand_kid()) });
        let bad = forged(&header, &claims, &[7; 64]);
        let good = good.clone();
        tasks.push(tokio::spawn(async move {
            let flood = call(&server, Some(&bad)).await.0;
            let fine = if i % 10 == 0 {
                Some(call(&server, Some(&good)).await.0)
            } else {
                None
            };
            (flood, fine)
        }));
    }
    let mut good_calls = 0;
    for task in tasks {
        let (flood, fine) = task.await.unwrap();
        assert_eq!(flood, StatusCode::UNAUTHORIZED);
        if let Some(fine) = fine {
            assert_eq!(fine, StatusCode::OK);
            good_calls += 1;
        }
    }
    assert_eq!(good_calls, 300);
    // One fetch at start, one for the whole flood.
    assert_eq!(site.control.hits(JWKS), 2);

    // Within the cooldown, another flood costs nothing.
    clock.advance(Duration::from_secs(5));
    for i in 0..500u32 {
        let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": format!("again-{i}") });
        let bad = forged(&header, &claims, &[7; 64]);
        assert_eq!(call(&server, Some(&bad)).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(site.control.hits(JWKS), 2);
    assert_eq!(call(&server, Some(&good)).await.0, StatusCode::OK);
}

fn rand_kid() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

#[tokio::test]
async fn with_the_source_down_good_tokens_pass_until_the_maximum_staleness() {
    let (site, auth) = issuer_site("ed25519.pem").await;
    let good = token(&auth, "user1").await;
    let clock = ManualClock::new(SystemTime::now());
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::discover(&site.base))
        .clock(clock.clone())
        .cache_ttl(
            Duration::from_secs(60),
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
        .max_staleness(Duration::from_secs(300))
        .refetch_cooldown(Duration::from_secs(10))
        .on_security_event(move |e: &SecurityEvent| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    server.ready().await.unwrap();
    assert_eq!(call(&server, Some(&good)).await.0, StatusCode::OK);

    site.control.down.store(true, Ordering::SeqCst);
    // Past the max-age: stale, still verifying; the refresh fails in the background.
    clock.advance(Duration::from_secs(61));
    let before = site.control.hits(JWKS);
    assert_eq!(call(&server, Some(&good)).await.0, StatusCode::OK);
    eventually("a background refetch", || site.control.hits(JWKS) > before).await;
    eventually("a failure event", || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, SecurityEvent::KeySetFetchFailed { .. }))
    })
    .await;
    clock.advance(Duration::from_secs(200));
    assert_eq!(call(&server, Some(&good)).await.0, StatusCode::OK);

    // Past max-age plus maximum staleness: 503 with Retry-After, never 401, never 200.
    clock.advance(Duration::from_secs(100));
    let (status, headers, body) = call(&server, Some(&good)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "temporarily_unavailable"
    );
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, SecurityEvent::KeySetUnavailable { .. }))
    );

    // Back up: the next request past the cooldown fetches, and verifies. No restart.
    site.control.down.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(11));
    let (status, _, body) = call(&server, Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn two_issuers_and_a_cross_signed_token() {
    let (a, auth_a) = issuer_site("es256.pem").await;
    let (b, auth_b) = issuer_site("ed25519.pem").await;
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::discover(&a.base))
        .issuer(Issuer::discover(&b.base))
        .build()
        .unwrap();
    server.ready().await.unwrap();
    let (status, _, body) = call(&server, Some(&token(&auth_a, "alice").await)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["issuer"],
        a.base
    );
    let (status, _, body) = call(&server, Some(&token(&auth_b, "bob").await)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["issuer"],
        b.base
    );

    // B's key, A's name: routed to A's keys, which do not hold it.
    let impostor = issuing(
        SigningKey::from_file(key_file("ed25519.pem")).unwrap(),
        &a.base,
        Duration::from_secs(600),
    );
    let (status, headers, _) = call(&server, Some(&token(&impostor, "mallory").await)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("kid is unknown")
    );
    // An issuer nobody configured.
    let stranger = issuing(
        SigningKey::from_file(key_file("ed25519.pem")).unwrap(),
        "https://elsewhere.example",
        Duration::from_secs(600),
    );
    let (status, headers, _) = call(&server, Some(&token(&stranger, "eve").await)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("issuer is not accepted")
    );
}

#[tokio::test]
async fn algorithm_confusion_and_header_keys_are_refused() {
    let (site, auth) = issuer_site("es256.pem").await;
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::discover(&site.base))
        .build()
        .unwrap();
    server.ready().await.unwrap();
    let good = token(&auth, "user1").await;
    let kid = auth.keys().signing_kid();
    let payload = good.split('.').nth(1).unwrap().to_owned();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&payload).unwrap()).unwrap();

    // alg: none, with and without a signature.
    for sig in [&b""[..], b"x"] {
        let t = forged(
            &json!({ "alg": "none", "typ": "at+jwt", "kid": kid }),
            &claims,
            sig,
        );
        assert_eq!(call(&server, Some(&t)).await.0, StatusCode::UNAUTHORIZED);
    }
    // HS256 "signed" with the issuer's public key (its PEM, its JWK) as the HMAC secret.
    let jwks: Value = reqwest::get(format!("{}{JWKS}", site.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_pem = std::fs::read(key_file("es256.pub.pem")).unwrap();
    for secret in [public_pem, jwks["keys"][0].to_string().into_bytes()] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.clone());
        header.typ = Some("at+jwt".into());
        let t = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret).unwrap(),
        )
        .unwrap();
        let (status, headers, _) = call(&server, Some(&t)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("algorithm is not accepted")
        );
    }
    // Keys named by the token itself, on an otherwise good token: re-signed by our key with
    // the extra header, so only the header makes it bad.
    let encoding =
        jsonwebtoken::EncodingKey::from_ec_pem(&std::fs::read(key_file("es256.pem")).unwrap());
    if let Ok(encoding) = encoding {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        for field in ["jku", "x5u", "jwk", "x5c"] {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            header.kid = Some(kid.clone());
            header.typ = Some("at+jwt".into());
            match field {
                "jku" => header.jku = Some(format!("{}{JWKS}", site.base)),
                "x5u" => header.x5u = Some("https://evil.example/cert.pem".into()),
                "jwk" => header.jwk = Some(jwk.clone()),
                _ => header.x5c = Some(vec!["MIIB".into()]),
            }
            let t = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
            let (status, headers, _) = call(&server, Some(&t)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{field}");
            assert!(
                headers[header::WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .contains("names its own key"),
                "{field}"
            );
        }
        // The same token without the extra header verifies: the refusal was the header's.
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.clone());
        header.typ = Some("at+jwt".into());
        let t = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
        assert_eq!(call(&server, Some(&t)).await.0, StatusCode::OK);
    }
    // The real token still verifies.
    assert_eq!(call(&server, Some(&good)).await.0, StatusCode::OK);
}

/// A document server (no issuing layer) and a resource server on its JWKS at `path`.
async fn document_site() -> Site {
    let (listener, base) = bind().await;
    start(listener, base, None)
}

#[tokio::test]
async fn oversized_malformed_and_redirected_key_sets_are_refused() {
    let site = document_site().await;
    let build = |url: String| {
        ResourceServer::<NoClaims>::builder()
            .issuer(Issuer::jwks_url(url))
            .max_jwks_bytes(4096)
            .build()
            .unwrap()
    };
    site.control.serve("/huge", Doc::Huge(10_000));
    let err = build(format!("{}/huge", site.base))
        .ready()
        .await
        .unwrap_err();
    assert!(
        matches!(err, KeySourceError::TooLarge { limit: 4096, .. }),
        "{err}"
    );

    for (path, body) in [
        ("/not-json", "<html>"),
        ("/no-keys", r#"{"keys":[]}"#),
        (
            "/symmetric",
            r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}"#,
        ),
    ] {
        site.control.serve(path, Doc::Json(body.to_owned()));
        let err = build(format!("{}{path}", site.base))
            .ready()
            .await
            .unwrap_err();
        assert!(
            matches!(err, KeySourceError::Invalid { .. }),
            "{path}: {err}"
        );
        assert!(err.url().ends_with(path));
    }

    // A redirect to another host (localhost is not 127.0.0.1) is not followed.
    let port = site.base.rsplit(':').next().unwrap();
    site.control.serve(
        "/moved",
        Doc::Redirect(format!("http://localhost:{port}/no-keys")),
    );
    let err = build(format!("{}/moved", site.base))
        .ready()
        .await
        .unwrap_err();
    assert!(matches!(err, KeySourceError::Redirect { .. }), "{err}");
    assert_eq!(
        site.control.hits("/no-keys"),
        1,
        "only the direct fetch above"
    );

    // Within the host it is.
    let (_, auth) = issuer_site("es256.pem").await;
    let jwks = auth
        .answer(
            tower_refresh_auth::adapter::Endpoint::Jwks,
            Request::get(JWKS).body(String::new()).unwrap(),
        )
        .await;
    site.control.serve(
        "/keys",
        Doc::Json(String::from_utf8(jwks.body().to_vec()).unwrap()),
    );
    site.control
        .serve("/here", Doc::Redirect("/keys".to_owned()));
    let server = build(format!("{}/here", site.base));
    server.ready().await.unwrap();
    assert_eq!(
        call(&server, Some(&token(&auth, "user1").await)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_when_built() {
    for issuer in [
        Issuer::jwks_url("http://keys.example.com/jwks.json"),
        Issuer::discover("http://login.example.com"),
    ] {
        let err = ResourceServer::<NoClaims>::builder()
            .issuer(issuer.clone())
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::InsecureKeySource { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("allow_insecure_http"), "{err}");
        assert!(
            ResourceServer::<NoClaims>::builder()
                .issuer(issuer)
                .allow_insecure_http(true)
                .build()
                .is_ok()
        );
    }
    let err = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::jwks_url("not a url"))
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidKeySource { .. }), "{err}");
}

/// An issuer that is not ours: tokens and keys made by `jwt-simple` (RustCrypto, no code in
/// common with jsonwebtoken), its metadata at the OpenID Connect path only.
#[tokio::test]
async fn an_issuer_that_is_not_ours_made_by_an_independent_jose_implementation() {
    use jwt_simple::prelude::{
        ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair, Ed25519KeyPair,
        EdDSAKeyPairLike, HeaderOptions,
    };

    let site = document_site().await;
    let ed = Ed25519KeyPair::generate().with_key_id("ed-1");
    let es = ES256KeyPair::generate().with_key_id("es-1");
    let point = es.public_key().public_key().to_bytes_uncompressed();
    let jwks = json!({ "keys": [
        // No `alg`: the algorithm comes from the key type.
        { "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig",
          "x": URL_SAFE_NO_PAD.encode(ed.public_key().to_bytes()) },
        { "kty": "EC", "crv": "P-256", "kid": "es-1", "alg": "ES256",
          "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]) },
    ]});
    site.control.serve("/keys", Doc::Json(jwks.to_string()));
    // RFC 8414's path answers 404: OpenID Connect discovery is the fallback.
    site.control.serve(
        "/.well-known/openid-configuration",
        Doc::Json(
            json!({ "issuer": site.base, "jwks_uri": format!("{}/keys", site.base) }).to_string(),
        ),
    );
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::discover(&site.base).audience("orders"))
        .build()
        .unwrap();
    server.ready().await.unwrap();
    assert_eq!(
        site.control.hits("/.well-known/oauth-authorization-server"),
        1
    );

    let claims = || {
        jwt_simple::claims::Claims::with_custom_claims(
            json!({ "sid": tower_refresh_auth::session::SessionId::random().to_string() }),
            jwt_simple::prelude::Duration::from_mins(5),
        )
        .with_subject("carol")
        .with_issuer(&site.base)
        .with_audience("orders")
        .with_jwt_id("elsewhere")
    };
    let at_jwt = HeaderOptions {
        signature_type: Some("at+jwt".into()),
        ..HeaderOptions::default()
    };
    let by_ed = ed.sign_with_options(claims(), &at_jwt).unwrap();
    let by_es = es.sign_with_options(claims(), &at_jwt).unwrap();
    for token in [&by_ed, &by_es] {
        let (status, _, body) = call(&server, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({ "subject": "carol", "issuer": site.base })
        );
    }
    // Another key under a known kid; the wrong audience; no `typ`: refused.
    let impostor = Ed25519KeyPair::generate()
        .with_key_id("ed-1")
        .sign_with_options(claims(), &at_jwt)
        .unwrap();
    let elsewhere = ed
        .sign_with_options(claims().with_audience("billing"), &at_jwt)
        .unwrap();
    let untyped = ed.sign(claims()).unwrap();
    for token in [impostor, elsewhere, untyped] {
        assert_eq!(
            call(&server, Some(&token)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
}

/// The key-set metrics of docs/protocol.md §9, recorded by a local recorder on one thread (the
/// issuer, the resource server and its refresher all run on this test's current-thread
/// runtime).
#[test]
fn key_set_fetches_unknown_kids_and_staleness_are_counted() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let (site, auth) = issuer_site("es256.pem").await;
            let good = token(&auth, "user1").await;
            let clock = ManualClock::new(SystemTime::now());
            let server = ResourceServer::<NoClaims>::builder()
                .issuer(Issuer::discover(&site.base))
                .clock(clock.clone())
                .cache_ttl(
                    Duration::from_secs(60),
                    Duration::from_secs(60),
                    Duration::from_secs(60),
                )
                .max_staleness(Duration::from_secs(60))
                .build()
                .unwrap();
            server.ready().await.unwrap();
            assert_eq!(call(&server, Some(&good)).await.0, StatusCode::OK);
            let claims = json!({ "sub": "x", "exp": 4_000_000_000u64, "iss": site.base });
            let unknown = forged(
                &json!({ "alg": "ES256", "typ": "at+jwt", "kid": "nobody" }),
                &claims,
                &[7; 64],
            );
            // Past the cooldown: one fetch for the unknown kid; again: remembered, no fetch.
            clock.advance(Duration::from_secs(11));
            assert_eq!(
                call(&server, Some(&unknown)).await.0,
                StatusCode::UNAUTHORIZED
            );
            assert_eq!(
                call(&server, Some(&unknown)).await.0,
                StatusCode::UNAUTHORIZED
            );
            // Down, stale: served; past the staleness: unavailable.
            site.control.down.store(true, Ordering::SeqCst);
            clock.advance(Duration::from_secs(61));
            assert_eq!(call(&server, Some(&good)).await.0, StatusCode::OK);
            clock.advance(Duration::from_secs(60));
            assert_eq!(
                call(&server, Some(&good)).await.0,
                StatusCode::SERVICE_UNAVAILABLE
            );
        });
    });
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut age_seen = false;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .filter(|l| l.key() != "issuer")
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match value {
            DebugValue::Counter(n) => {
                *counts.entry(name).or_default() += n;
            }
            DebugValue::Gauge(_) if key.name() == "refresh_auth_key_set_age_seconds" => {
                age_seen = true;
            }
            _ => {}
        }
    }
    let count = |name: &str| counts.get(name).copied().unwrap_or(0);
    assert_eq!(
        count("refresh_auth_key_set_fetches_total{outcome=ok}"),
        2,
        "{counts:?}"
    );
    assert!(
        count("refresh_auth_key_set_fetches_total{outcome=error}") >= 1,
        "{counts:?}"
    );
    assert_eq!(
        count("refresh_auth_unknown_kid_total{outcome=refetched}"),
        1,
        "{counts:?}"
    );
    assert_eq!(
        count("refresh_auth_unknown_kid_total{outcome=refused}"),
        2,
        "{counts:?}"
    );
    assert!(
        count("refresh_auth_stale_key_set_total{outcome=served}") >= 1,
        "{counts:?}"
    );
    assert_eq!(
        count("refresh_auth_stale_key_set_total{outcome=unavailable}"),
        1,
        "{counts:?}"
    );
    assert!(
        count("refresh_auth_verifications_total{outcome=ok}") >= 2,
        "{counts:?}"
    );
    assert!(age_seen, "{counts:?}");
}
