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
