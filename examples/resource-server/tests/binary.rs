//! The resource server against a real axum dashboard over loopback TCP: the dashboard signs
//! with a key file and sets `iss` from `PUBLIC_URL`; the resource server, given only that URL,
//! finds its metadata and keys and verifies its tokens (docs/protocol.md §12). The same tokens
//! through poem's `ResourceServerMiddleware`. Bad sources stop the start naming the variable.
//!
//! Run with `cargo test -p resource-server`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;

use examples_test_support::{Running, command, test_key, wait};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_resource-server");

/// An axum dashboard on a loopback port, signing with `key`, its `PUBLIC_URL` its own address.
async fn dashboard(key: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let vars = [
        ("JWT_PRIVATE_KEY_FILE", test_key(key)),
        (
            "REFRESH_TOKEN_SECRET",
            "a refresh-token secret of at least 32 bytes".to_owned(),
        ),
        ("PUBLIC_URL", base.clone()),
    ];
    let settings = dashboard_shared::Settings::from_vars(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| OsString::from(v))
    })
    .unwrap();
    let store = settings.connect_store().await.unwrap();
    let auth = axum_dashboard::auth_builder(&settings, store)
        .build()
        .unwrap();
    let app = axum_dashboard::app(auth, dashboard_shared::Users::demo(), &settings);
    tokio::spawn(axum_dashboard::serve(listener, app, std::future::pending()));
    base
}

/// Logs `user1` in at the dashboard over HTTP; its access token.
async fn login(base: &str) -> String {
    let res: Value = reqwest_like_post(
        base,
        "/login",
        r#"{"username":"user1","password":"password1"}"#,
    )
    .await;
    res["accessToken"].as_str().unwrap().to_owned()
}

/// `POST path` with a JSON body over a plain TCP connection; the JSON answer.
async fn reqwest_like_post(base: &str, path: &str, body: &str) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let answer = examples_test_support::Answer::parse(&String::from_utf8_lossy(&response));
    assert_eq!(answer.status, 200, "{answer:?}");
    serde_json::from_str(&answer.body).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn it_verifies_the_dashboards_tokens_from_the_issuer_url_alone() {
    for key in ["es256.pem", "ed25519.pem"] {
        let base = dashboard(key).await;
        let token = login(&base).await;
        let issuer_url = base.clone();
        let server = tokio::task::spawn_blocking(move || {
            Running::spawn(
                BIN,
                command(BIN, &[("PORT", "0"), ("ISSUER_URL", &issuer_url)]),
            )
        })
        .await
        .unwrap();
        let bearer = format!("Bearer {token}");
        let (profile, anonymous, health, garbage) = tokio::task::spawn_blocking(move || {
            (
                server.send("GET", "/api/profile", &[("Authorization", &bearer)], ""),
                server.send("GET", "/api/profile", &[], ""),
                server.send("GET", "/healthz", &[], ""),
                server.send(
                    "GET",
                    "/api/profile",
                    &[("Authorization", "Bearer a.b.c")],
                    "",
                ),
            )
        })
        .await
        .unwrap();
        assert_eq!(profile.status, 200, "{key}: {profile:?}");
        assert_eq!(
            serde_json::from_str::<Value>(&profile.body).unwrap(),
            json!({ "subject": "user1", "issuer": base })
        );
        assert_eq!(anonymous.status, 401);
        assert_eq!(
            anonymous.header("www-authenticate"),
            Some("Bearer realm=\"api\"")
        );
        assert_eq!(health.status, 200);
        assert_eq!(garbage.status, 401);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_poem_middleware_verifies_the_same_tokens() {
    use poem::test::TestClient;
    use poem::{EndpointExt, Route, get, handler};
    use tower_refresh_auth::NoClaims;
    use tower_refresh_auth::resource::{Issuer, ResourceServer};
    use tower_refresh_auth_poem::{AuthClaims, ResourceServerMiddleware};

    #[handler]
    fn profile(AuthClaims(claims): AuthClaims) -> poem::web::Json<Value> {
        poem::web::Json(json!({ "subject": claims.sub, "issuer": claims.iss }))
    }

    let base = dashboard("es256.pem").await;
    let token = login(&base).await;
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::discover(&base))
        .build()
        .unwrap();
    // Not waited for: the first request waits for the keys itself.
    let app = Route::new()
        .at("/api/profile", get(profile))
        .with(ResourceServerMiddleware::new(server));
    let client = TestClient::new(app);
    let res = client
        .get("/api/profile")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    res.assert_status_is_ok();
    res.assert_json(json!({ "subject": "user1", "issuer": base }))
        .await;
    let res = client.get("/api/profile").send().await;
    res.assert_status(http::StatusCode::UNAUTHORIZED);
    res.assert_header("www-authenticate", "Bearer realm=\"api\"");
}

#[test]
fn unusable_key_sources_stop_the_start_naming_the_variable() {
    // Nothing listens on port 1; a non-loopback http URL; neither variable.
    for (vars, needle) in [
        (
            vec![("ISSUER_URL", "http://127.0.0.1:1")],
            "ISSUER_URL=http://127.0.0.1:1",
        ),
        (
            vec![("JWKS_URL", "http://keys.example.com/jwks.json")],
            "JWKS_URL=",
        ),
        (vec![], "ISSUER_URL"),
        (
            vec![("ISSUER_URL", "http://127.0.0.1:1"), ("DPOP", "required")],
            "DPOP",
        ),
    ] {
        let mut all = vec![("PORT", "0")];
        all.extend(vars);
        let mut child = command(BIN, &all).spawn().unwrap();
        let status = wait(BIN, &mut child);
        assert!(!status.success());
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}
