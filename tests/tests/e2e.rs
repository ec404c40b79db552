//! End to end: the two example servers (`axum-dashboard`, `poem-dashboard`) over real HTTP.
//!
//! Every scenario is one function run against both servers, so each assertion — status,
//! headers, body — holds for both; `both_servers_answer_alike` also compares them directly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tower_refresh_auth_test_support::Reply;
use tower_refresh_auth_tests::dashboards::{Framework, Server, send};

/// Runs each scenario against both servers: `axum::<name>` and `poem::<name>`.
macro_rules! for_both_servers {
    ($($scenario:ident),* $(,)?) => {
        mod axum {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(tower_refresh_auth_tests::dashboards::Framework::Axum).await;
                }
            )*
        }
        mod poem {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(tower_refresh_auth_tests::dashboards::Framework::Poem).await;
                }
            )*
        }
    };
}

for_both_servers!(
    refresh_rotation_reuse_and_logout,
    form_encoded_refresh_and_logout,
    cookie_transport,
    wrong_credentials,
    pages_and_redirect,
    unauthenticated_requests,
    store_outage,
    published_keys,
    openapi_document,
);

const SECOND: Duration = Duration::from_secs(1);

async fn login(server: &Server, user: &str, password: &str) -> Reply {
    send(
        server
            .post("/login")
            .json(&json!({ "username": user, "password": password })),
    )
    .await
}

async fn dashboard(server: &Server, access_token: &str) -> Reply {
    send(server.get("/api/dashboard").bearer_auth(access_token)).await
}

async fn refresh(server: &Server, refresh_token: &str) -> Reply {
    send(
        server
            .post("/token")
            .json(&json!({ "refreshToken": refresh_token })),
    )
    .await
}

fn assert_pair(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), "no-store");
    assert_eq!(reply.header("content-type"), "application/json");
    let body = reply.json();
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 60);
    assert!(
        body["accessToken"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
}

fn assert_invalid_grant(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert_eq!(reply.field("error"), "invalid_grant");
    assert_eq!(reply.header("cache-control"), "no-store");
    assert!(reply.headers("www-authenticate").is_empty());
}

async fn refresh_rotation_reuse_and_logout(framework: Framework) {
    let server = Server::start(framework, &[]).await;

    // Login, then the API with the access token.
    let first = login(&server, "user1", "password1").await;
    assert_pair(&first);
    let (access, spent) = (first.field("accessToken"), first.field("refreshToken"));
    let api = dashboard(&server, &access).await;
    assert_eq!(api.status, StatusCode::OK);
    assert_eq!(
        api.json(),
        json!({ "message": "Welcome to your dashboard, user1!" })
    );

    // The access token expires: 401 invalid_token with the RFC 6750 challenge (not 403).
    server.advance(61 * SECOND);
    let expired = dashboard(&server, &access).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(
        expired
            .header("www-authenticate")
            .starts_with(r#"Bearer realm="api", error="invalid_token", error_description=""#),
        "{:?}",
        expired.headers
    );
    assert_eq!(expired.field("error"), "invalid_token");
    assert_eq!(expired.header("cache-control"), "no-store");

    // Refresh: a new pair; the dashboard works again.
    let second = refresh(&server, &spent).await;
    assert_pair(&second);
    let successor = second.field("refreshToken");
    assert_ne!(successor, spent);
    assert_eq!(
        dashboard(&server, &second.field("accessToken"))
            .await
            .status,
        StatusCode::OK
    );

    // Replaying the spent token inside the grace window: the same successor again.
    server.advance(5 * SECOND);
    let replay = refresh(&server, &spent).await;
    assert_pair(&replay);
    assert_eq!(replay.field("refreshToken"), successor);

    // After the grace window: reuse detected, the whole session revoked.
    server.advance(6 * SECOND);
    assert_invalid_grant(&refresh(&server, &spent).await);
    assert_invalid_grant(&refresh(&server, &successor).await);

    // A fresh login; logout (204, no body); its refresh token is dead.
    let fresh = login(&server, "user1", "password1").await;
    assert_pair(&fresh);
    let logout = send(
        server
            .post("/logout")
            .json(&json!({ "refreshToken": fresh.field("refreshToken") })),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(logout.body, "");
    assert_invalid_grant(&refresh(&server, &fresh.field("refreshToken")).await);

    server.stop().await;
}

async fn form_encoded_refresh_and_logout(framework: Framework) {
    let server = Server::start(framework, &[]).await;

    // A form login answers with the same JSON pair.
    let login = send(
        server
            .post("/login")
            .form(&[("username", "user2"), ("password", "password2")]),
    )
    .await;
    assert_pair(&login);

    // RFC 6749 §6 request, §5.1 response field names.
    let refreshed = send(server.post("/token").form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &login.field("refreshToken")),
    ]))
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text());
    assert_eq!(refreshed.header("cache-control"), "no-store");
    let body = refreshed.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 60);
    assert!(body.get("accessToken").is_none());
    let (access, token) = (
        refreshed.field("access_token"),
        refreshed.field("refresh_token"),
    );
    let api = dashboard(&server, &access).await;
    assert_eq!(
        api.json(),
        json!({ "message": "Welcome to your dashboard, user2!" })
    );

    let wrong_grant = send(
        server
            .post("/token")
            .form(&[("grant_type", "password"), ("refresh_token", &token)]),
    )
    .await;
    assert_eq!(wrong_grant.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_grant.field("error"), "unsupported_grant_type");

    // RFC 7009 revocation: 200.
    let logout = send(server.post("/logout").form(&[
        ("token", token.as_str()),
        ("token_type_hint", "refresh_token"),
    ]))
    .await;
    assert_eq!(logout.status, StatusCode::OK);
    assert_eq!(logout.body, "");
    let dead = send(
        server
            .post("/token")
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)]),
    )
    .await;
    assert_invalid_grant(&dead);

    server.stop().await;
}

/// `name=value` of the first `Set-Cookie`, and every `Set-Cookie` checked for the §5
/// attributes and one path each for `/token` and `/logout`.
fn refresh_cookie(reply: &Reply) -> String {
    let cookies = reply.headers("set-cookie");
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for cookie in &cookies {
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict"] {
            assert!(
                cookie.split("; ").any(|a| a == attribute),
                "{attribute} missing in {cookie}"
            );
        }
    }
    let paths: Vec<&str> = cookies
        .iter()
        .filter_map(|c| c.split("; ").find_map(|a| a.strip_prefix("Path=")))
        .collect();
    assert_eq!(paths, ["/token", "/logout"]);
    let first = cookies[0].split(';').next().unwrap_or_default();
    assert_eq!(cookies[1].split(';').next(), Some(first));
    first.to_owned()
}

async fn cookie_transport(framework: Framework) {
    let server = Server::start(framework, &[("REFRESH_TRANSPORT", "cookie")]).await;

    // §5, §6: the login sets the refresh cookie, so it needs the CSRF header too.
    let login = send(
        server
            .post("/login")
            .header("x-requested-with", "XMLHttpRequest")
            .json(&json!({ "username": "user1", "password": "password1" })),
    )
    .await;
    assert_pair(&login);
    assert!(
        login.json().get("refreshToken").is_none(),
        "{}",
        login.text()
    );
    let cookie = refresh_cookie(&login);

    // The cookie alone is refused: the CSRF header is required.
    let csrf = send(server.post("/token").header("cookie", &cookie)).await;
    assert_eq!(csrf.status, StatusCode::FORBIDDEN);
    assert_eq!(csrf.field("error"), "invalid_request");

    let refreshed = send(
        server
            .post("/token")
            .header("cookie", &cookie)
            .header("x-requested-with", "XMLHttpRequest"),
    )
    .await;
    assert_pair(&refreshed);
    assert!(refreshed.json().get("refreshToken").is_none());
    let rotated = refresh_cookie(&refreshed);
    assert_ne!(rotated, cookie);
    assert_eq!(
        dashboard(&server, &refreshed.field("accessToken"))
            .await
            .status,
        StatusCode::OK
    );

    // Logout: 204 and both cookies cleared.
    let logout = send(
        server
            .post("/logout")
            .header("cookie", &rotated)
            .header("x-requested-with", "XMLHttpRequest"),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let cleared = logout.headers("set-cookie");
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    assert!(
        cleared.iter().all(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );

    let dead = send(
        server
            .post("/token")
            .header("cookie", &rotated)
            .header("x-requested-with", "XMLHttpRequest"),
    )
    .await;
    assert_invalid_grant(&dead);

    server.stop().await;
}

async fn wrong_credentials(framework: Framework) {
    let server = Server::start(framework, &[]).await;
    let wrong_password = login(&server, "user1", "password2").await;
    let unknown_user = login(&server, "mallory", "password1").await;
    for reply in [&wrong_password, &unknown_user] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.field("error"), "invalid_credentials");
        assert_eq!(reply.header("cache-control"), "no-store");
    }
    // One answer for both: no oracle for which names exist.
    assert_eq!(wrong_password, unknown_user);
    server.stop().await;
}

async fn pages_and_redirect(framework: Framework) {
    let server = Server::start(framework, &[]).await;
    let root = send(server.get("/")).await;
    assert!(root.status.is_redirection(), "{}", root.status);
    assert_eq!(root.header("location"), "/login.html");

    for path in ["/login", "/login.html"] {
        let page = send(server.get(path)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.header("content-type").starts_with("text/html"));
        for id in ["loginForm", "username", "password"] {
            assert!(
                page.text().contains(&format!(r#"id="{id}""#)),
                "{id} in {path}"
            );
        }
    }
    for path in ["/dashboard", "/dashboard.html"] {
        let page = send(server.get(path)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        for id in ["welcomeMessage", "logoutButton"] {
            assert!(
                page.text().contains(&format!(r#"id="{id}""#)),
                "{id} in {path}"
            );
        }
    }
    server.stop().await;
}

async fn unauthenticated_requests(framework: Framework) {
    let server = Server::start(framework, &[]).await;

    // RFC 6750 §3.1: no credentials, no error code in the challenge.
    let bare = send(server.get("/api/dashboard")).await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bare.header("www-authenticate"), r#"Bearer realm="api""#);

    let malformed = send(
        server
            .get("/api/dashboard")
            .header("authorization", "Bearer"),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        malformed
            .header("www-authenticate")
            .starts_with(r#"Bearer realm="api", error="invalid_request""#)
    );

    // Unknown paths are guarded too; with a token they are a plain 404.
    let unknown = send(server.get("/admin")).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let pair = login(&server, "user1", "password1").await;
    let missing = send(server.get("/admin").bearer_auth(pair.field("accessToken"))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    server.stop().await;
}

async fn store_outage(framework: Framework) {
    let server = Server::start(framework, &[]).await;
    let pair = login(&server, "user1", "password1").await;
    let token = pair.field("refreshToken");

    server.set_store_down(true);
    let assert_unavailable = |reply: &Reply| {
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.text()
        );
        assert_eq!(reply.field("error"), "temporarily_unavailable");
        assert!(!reply.header("retry-after").is_empty());
        assert_eq!(reply.header("cache-control"), "no-store");
    };
    assert_unavailable(&login(&server, "user1", "password1").await);
    // Never `invalid_grant`: the client keeps its token and retries.
    assert_unavailable(&refresh(&server, &token).await);
    // A logout that did not happen never reports success.
    assert_unavailable(
        &send(
            server
                .post("/logout")
                .json(&json!({ "refreshToken": token })),
        )
        .await,
    );
    // Verifying an access token needs no store.
    assert_eq!(
        dashboard(&server, &pair.field("accessToken")).await.status,
        StatusCode::OK
    );

    // Back up: the session survived the outage.
    server.set_store_down(false);
    assert_pair(&refresh(&server, &token).await);
    server.stop().await;
}

/// The same requests to both servers get the same statuses, headers (but `date`) and bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_servers_answer_alike() {
    let mut transcripts = Vec::new();
    for framework in Framework::ALL {
        let server = Server::start(framework, &[]).await;
        let pair = login(&server, "user1", "password1").await;
        let access = pair.field("accessToken");
        let mut replies = vec![
            send(server.get("/")).await,
            send(server.get("/login.html")).await,
            send(server.get("/dashboard")).await,
            send(server.get("/login.js")).await,
            send(server.get("/dashboard.js")).await,
            login(&server, "user1", "nope").await,
            send(server.post("/login").body("user1")).await,
            // Malformed logins: each framework's extractor rejections, mapped alike.
            send(
                server
                    .post("/login")
                    .header("content-type", "application/json")
                    .body("{"),
            )
            .await,
            send(server.post("/login").json(&json!({ "username": "user1" }))).await,
            send(server.post("/login").form(&[("username", "user1")])).await,
            send(
                server
                    .post("/login")
                    .header("content-type", "application/json")
                    .body("x".repeat(16 * 1024 + 1)),
            )
            .await,
            send(server.get("/api/dashboard")).await,
            send(server.get("/api/dashboard").bearer_auth("not.a.token")).await,
            send(
                server
                    .get("/api/dashboard")
                    .header("authorization", "Basic dXNlcjE6cGFzc3dvcmQx"),
            )
            .await,
            dashboard(&server, &access).await,
            send(server.get("/token")).await,
            send(server.post("/token").body("refreshToken")).await,
            send(
                server
                    .post("/token")
                    .header("content-type", "application/json")
                    .body("{"),
            )
            .await,
            refresh(&server, "forged").await,
            send(server.post("/logout").json(&json!({ "refreshToken": "x" }))).await,
            send(server.get("/nowhere").bearer_auth(&access)).await,
        ];
        server.advance(61 * SECOND);
        replies.push(dashboard(&server, &access).await);
        server.stop().await;
        transcripts.push(replies);
    }
    let [axum, poem] = <[_; 2]>::try_from(transcripts).unwrap();
    for (i, (a, p)) in axum.iter().zip(&poem).enumerate() {
        assert_eq!(a, p, "request #{i}: axum and poem differ");
    }
}

/// The library's test key (tower-refresh-auth/tests/keys/README.md), as `JWT_PRIVATE_KEY_FILE`.
const ES256_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tower-refresh-auth/tests/keys/es256.pem"
);

const REFRESH_SECRET: &str = "a refresh-token secret of 32+ bytes";

/// §6 `JWT_PRIVATE_KEY_FILE`, §7: the access token verifies with `jsonwebtoken` given only the
/// JWK fetched over HTTP; no private parameter; cacheable; `/token` still rotates.
async fn published_keys(framework: Framework) {
    let server = Server::start(
        framework,
        &[
            ("JWT_PRIVATE_KEY_FILE", ES256_KEY),
            ("REFRESH_TOKEN_SECRET", REFRESH_SECRET),
        ],
    )
    .await;
    let pair = login(&server, "user1", "password1").await;
    assert_pair(&pair);

    let jwks = send(server.get("/.well-known/jwks.json")).await;
    assert_eq!(jwks.status, StatusCode::OK, "{}", jwks.text());
    assert_eq!(jwks.header("content-type"), "application/json");
    let max_age = jwks
        .header("cache-control")
        .strip_prefix("public, max-age=")
        .and_then(|n| n.parse::<u64>().ok());
    assert!(max_age.is_some_and(|n| n > 0), "{:?}", jwks.headers);
    let keys = jwks.json()["keys"].as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), 1, "{}", jwks.text());
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(keys[0].get(private).is_none(), "{private} in {}", keys[0]);
    }
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    // The server's clock is a manual one started now: the token is valid by the real clock too.
    let verify = |token: &str| {
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map(|t| t.claims)
    };
    let access = pair.field("accessToken");
    let claims = verify(&access).unwrap();
    assert_eq!(claims["sub"], "user1");
    // The same header and claims under another key: the published key refuses it, and so
    // does the server.
    let foreign = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tower-refresh-auth/tests/keys/foreign-es256.pem"
    ))
    .unwrap();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::decode_header(&access).unwrap(),
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(&foreign).unwrap(),
    )
    .unwrap();
    assert!(verify(&forged).is_err());
    assert_eq!(
        dashboard(&server, &forged).await.status,
        StatusCode::UNAUTHORIZED
    );

    let refreshed = refresh(&server, &pair.field("refreshToken")).await;
    assert_pair(&refreshed);
    assert_ne!(refreshed.field("refreshToken"), pair.field("refreshToken"));
    assert_eq!(
        verify(&refreshed.field("accessToken")).unwrap()["sub"],
        "user1"
    );
    assert_eq!(server.rotations(), 1);
    let api = dashboard(&server, &refreshed.field("accessToken")).await;
    assert_eq!(api.status, StatusCode::OK);

    server.stop().await;
}

/// Feature `openapi`: `GET /openapi.json` is public and lists the layer's routes, the JWKS
/// route with a key file, the application's own, and the bearer scheme.
async fn openapi_document(framework: Framework) {
    let server = Server::start(
        framework,
        &[
            ("JWT_PRIVATE_KEY_FILE", ES256_KEY),
            ("REFRESH_TOKEN_SECRET", REFRESH_SECRET),
        ],
    )
    .await;
    let reply = send(server.get("/openapi.json")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), "application/json");
    let doc = reply.json();
    for (path, method) in [
        ("/token", "post"),
        ("/logout", "post"),
        ("/.well-known/jwks.json", "get"),
        ("/login", "post"),
        ("/api/dashboard", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["paths"]["/api/dashboard"]["get"]["security"],
        json!([{ "bearerAuth": [] }])
    );
    server.stop().await;

    // Cookie mode: the login describes the cookie it sets, and the CSRF refusal.
    let server = Server::start(framework, &[("REFRESH_TRANSPORT", "cookie")]).await;
    let doc = send(server.get("/openapi.json")).await.json();
    let login = &doc["paths"]["/login"]["post"]["responses"];
    assert!(login["200"]["headers"]["Set-Cookie"].is_object(), "{login}");
    assert!(login["403"].is_object(), "{login}");
    assert!(doc["paths"].get("/.well-known/jwks.json").is_none());
    server.stop().await;
}

/// With a key file, both servers publish the same key set and the same API document, byte
/// for byte (but `date`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_servers_publish_alike() {
    let mut transcripts = Vec::new();
    for framework in Framework::ALL {
        let server = Server::start(
            framework,
            &[
                ("JWT_PRIVATE_KEY_FILE", ES256_KEY),
                ("REFRESH_TOKEN_SECRET", REFRESH_SECRET),
            ],
        )
        .await;
        let replies = vec![
            send(server.get("/.well-known/jwks.json")).await,
            send(
                server
                    .get("/.well-known/jwks.json")
                    .bearer_auth("not.a.token"),
            )
            .await,
            send(server.post("/.well-known/jwks.json")).await,
            send(server.get("/openapi.json")).await,
            send(server.get("/openapi.json").bearer_auth("not.a.token")).await,
        ];
        server.stop().await;
        let hs = Server::start(framework, &[]).await;
        let mut replies = replies;
        replies.push(send(hs.get("/openapi.json")).await);
        replies.push(send(hs.get("/.well-known/jwks.json")).await);
        hs.stop().await;
        transcripts.push(replies);
    }
    let [axum, poem] = <[_; 2]>::try_from(transcripts).unwrap();
    for (i, (a, p)) in axum.iter().zip(&poem).enumerate() {
        assert_eq!(a, p, "request #{i}: axum and poem differ");
    }
    // Not alike by being empty: the key set and the documents are there.
    assert_eq!(axum[0].status, StatusCode::OK);
    assert_eq!(axum[2].status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(axum[3].status, StatusCode::OK);
    assert_eq!(axum[5].status, StatusCode::OK);
    assert_ne!(axum[3].body, axum[5].body);
    assert_eq!(axum[6].status, StatusCode::UNAUTHORIZED);
}
