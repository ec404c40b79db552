//! `docs/protocol.md` §14: `POST /introspect` (RFC 7662) — every state of a token, the
//! client's authentication, the bound on its failures, the request's shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Harness, Role, SECRET, admin};
use http::Request;
use serde_json::json;
use tower_refresh_auth::RefreshAuth;
use tower_refresh_auth::dpop::{Dpop, DpopMode};
use tower_refresh_auth::introspection::Introspection;
use tower_refresh_auth::session::SessionMetadata;
use tower_refresh_auth_test_support::Reply;
use tower_refresh_auth_test_support::dpop::DpopKey;

const CLIENT: &str = "gateway";
const CLIENT_SECRET: &str = "0f3a9c2e7b4d1a6f8e5c3b2a9d7f1e4c";

fn introspection() -> Introspection {
    Introspection::client(CLIENT, CLIENT_SECRET)
}

fn harness() -> Harness {
    Harness::with(|b| b.introspection(introspection()))
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// `POST /introspect` with `authorization` (if any) and a form body.
async fn introspect_as(h: &Harness, authorization: Option<&str>, body: &str) -> Reply {
    let mut req =
        Request::post("/introspect").header("content-type", "application/x-www-form-urlencoded");
    if let Some(authorization) = authorization {
        req = req.header("authorization", authorization);
    }
    h.send(req.body(body.to_owned()).unwrap()).await
}

/// `POST /introspect` of `token` by the configured client.
async fn introspect(h: &Harness, token: &str) -> Reply {
    let res = introspect_as(
        h,
        Some(&basic(CLIENT, CLIENT_SECRET)),
        &format!("token={token}"),
    )
    .await;
    if res.status == 200 {
        assert_eq!(res.header("content-type"), "application/json");
        assert_eq!(res.header("cache-control"), "no-store");
    }
    res
}

#[track_caller]
fn assert_inactive(res: &Reply) {
    assert_eq!(res.status, 200, "{}", res.describe());
    // RFC 7662 §2.2: nothing else about a token that is not live.
    assert_eq!(res.json(), json!({"active": false}));
}

#[track_caller]
fn assert_invalid_client(res: &Reply) {
    res.assert_error(401, "invalid_client");
    assert_eq!(res.header("www-authenticate"), "Basic realm=\"api\"");
    assert_eq!(res.header("cache-control"), "no-store");
}

#[tokio::test]
async fn a_live_access_token_is_active_with_its_claims() {
    let h = Harness::with(|b| {
        b.introspection(introspection())
            .issuer("https://login.example.com")
    });
    let pair = h.login().await;
    let res = introspect(&h, &pair.access_token).await;
    assert_eq!(res.status, 200, "{}", res.describe());
    let claims = h.auth.verify(&pair.access_token).unwrap();
    assert_eq!(
        res.json(),
        json!({
            "active": true,
            "sub": "user1",
            "exp": claims.exp,
            "iat": claims.iat,
            "sid": pair.session_id.to_string(),
            "token_type": "Bearer",
            "iss": "https://login.example.com",
        })
    );
    // RFC 7662 §2.1: the hint may be ignored; a wrong one changes nothing.
    let hinted = introspect_as(
        &h,
        Some(&basic(CLIENT, CLIENT_SECRET)),
        &format!("token={}&token_type_hint=refresh_token", pair.access_token),
    )
    .await;
    assert_eq!(hinted.json()["active"], true);
}

#[tokio::test]
async fn without_an_issuer_there_is_no_iss() {
    let h = harness();
    let pair = h.login().await;
    let body = introspect(&h, &pair.access_token).await.json();
    assert_eq!(body["active"], true);
    assert!(body.get("iss").is_none(), "{body}");
    assert!(body.get("cnf").is_none(), "{body}");
}

#[tokio::test]
async fn expired_revoked_malformed_unknown_and_refresh_tokens_are_inactive_alike() {
    let h = harness();
    // Expired: one second past its `exp`.
    let expiring = h.login().await;
    h.clock.advance(Duration::from_secs(61));
    assert_inactive(&introspect(&h, &expiring.access_token).await);

    // Revoked: the token verifies, its session has ended (no session checking configured:
    // introspection asks the store anyway).
    let revoked = h.login().await;
    assert_eq!(
        introspect(&h, &revoked.access_token).await.json()["active"],
        true
    );
    assert_eq!(h.logout(&revoked.refresh_token).await.status, 204);
    assert_inactive(&introspect(&h, &revoked.access_token).await);

    // Malformed, and a token of another issuer's key.
    assert_inactive(&introspect(&h, "not-a-jwt").await);
    assert_inactive(&introspect(&h, "a.b.c").await);
    let other = RefreshAuth::<Role>::builder()
        .hs256(b"another secret that is at least 32 bytes".to_vec())
        .build()
        .unwrap();
    let foreign = other.issue("user1", admin()).await.unwrap();
    assert_inactive(&introspect(&h, &foreign.access_token).await);

    // A refresh token, live or not, is never live here: no oracle for refresh tokens.
    let live = h.login().await;
    assert_inactive(&introspect(&h, &live.refresh_token).await);
    let hinted = introspect_as(
        &h,
        Some(&basic(CLIENT, CLIENT_SECRET)),
        &format!("token={}&token_type_hint=refresh_token", live.refresh_token),
    )
    .await;
    assert_inactive(&hinted);
    // And asking did not spend it.
    assert_eq!(h.refresh(&live.refresh_token).await.status, 200);
}

#[tokio::test]
async fn a_dpop_bound_token_is_active_with_its_confirmation() {
    let h = Harness::with(|b| {
        b.introspection(introspection())
            .dpop(Dpop::new(DpopMode::Optional).origin("https://api.example.com"))
    });
    let key = DpopKey::es256();
    let mut claims = key.claims("POST", "https://api.example.com/login", None);
    claims["iat"] = json!(
        common::t0()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    let req = Request::post("/login")
        .header("dpop", key.sign(&key.header(), &claims))
        .body(())
        .unwrap();
    let proof = h
        .auth
        .verify_dpop(req.method(), req.uri(), req.headers())
        .await
        .unwrap();
    let pair = h
        .auth
        .issue_with("user1", admin(), SessionMetadata::new().with_dpop(proof))
        .await
        .unwrap();
    let body = introspect(&h, &pair.access_token).await.json();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let jkt = body["cnf"]["jkt"].as_str().unwrap();
    assert_eq!(jkt, key.thumbprint());
}

#[tokio::test]
async fn wrong_or_missing_client_credentials_are_401_before_anything_is_read() {
    let h = harness();
    let pair = h.login().await;
    let body = format!("token={}", pair.access_token);
    for authorization in [
        None,
        Some(basic(CLIENT, "0f3a9c2e7b4d1a6f8e5c3b2a9d7f1e4d")),
        Some(basic("someone", CLIENT_SECRET)),
        Some(basic(CLIENT, "")),
        Some(format!("Bearer {}", pair.access_token)),
        Some("Basic not-base64!".to_owned()),
    ] {
        let res = introspect_as(&h, authorization.as_deref(), &body).await;
        assert_invalid_client(&res);
        assert!(!res.text().contains("active"), "{}", res.describe());
    }
    // Not even the body's shape is looked at first.
    let req = Request::post("/introspect")
        .header("content-type", "application/json")
        .body("{".to_owned())
        .unwrap();
    assert_invalid_client(&h.send(req).await);
    // The realm is the layer's.
    let h = Harness::with(|b| b.introspection(introspection()).realm("gateway-api"));
    let res = introspect_as(&h, None, &body).await;
    assert_eq!(
        res.header("www-authenticate"),
        "Basic realm=\"gateway-api\""
    );
}

#[tokio::test]
async fn failed_client_authentications_are_bounded() {
    let h = Harness::with(|b| {
        b.introspection(
            introspection().failed_authentications_per_minute(NonZeroU32::new(3).unwrap()),
        )
    });
    let pair = h.login().await;
    let body = format!("token={}", pair.access_token);
    let wrong = basic(CLIENT, "ffffffffffffffffffffffffffffffff0123456789");
    let good = basic(CLIENT, CLIENT_SECRET);
    // Requests without credentials guess nothing and do not count.
    for _ in 0..10 {
        assert_invalid_client(&introspect_as(&h, None, &body).await);
    }
    assert_eq!(introspect_as(&h, Some(&good), &body).await.status, 200);
    for _ in 0..3 {
        assert_invalid_client(&introspect_as(&h, Some(&wrong), &body).await);
    }
    // The allowance is spent: every request with credentials waits, the right ones too, and
    // none of them is compared.
    for authorization in [&wrong, &good] {
        let res = introspect_as(&h, Some(authorization), &body).await;
        res.assert_error(429, "too_many_requests");
        assert_eq!(res.header("retry-after"), "20");
        assert_eq!(res.header("cache-control"), "no-store");
    }
    h.clock.advance(Duration::from_secs(20));
    // One failure came back: the genuine client is answered again...
    let res = introspect_as(&h, Some(&good), &body).await;
    assert_eq!(res.json()["active"], true);
    // ...and the next wrong guess spends it.
    assert_invalid_client(&introspect_as(&h, Some(&wrong), &body).await);
    assert_eq!(introspect_as(&h, Some(&good), &body).await.status, 429);
}

#[tokio::test]
async fn malformed_requests_get_rfc_6749_errors() {
    let h = harness();
    let good = basic(CLIENT, CLIENT_SECRET);
    // No token.
    introspect_as(&h, Some(&good), "")
        .await
        .assert_error(400, "invalid_request");
    introspect_as(&h, Some(&good), "token=")
        .await
        .assert_error(400, "invalid_request");
    introspect_as(&h, Some(&good), "token=a&token=b")
        .await
        .assert_error(400, "invalid_request");
    // Not form-encoded (RFC 7662 §2.1).
    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let mut req = Request::post("/introspect").header("authorization", &good);
        if let Some(content_type) = content_type {
            req = req.header("content-type", content_type);
        }
        let res = h
            .send(req.body("{\"token\":\"x\"}".to_owned()).unwrap())
            .await;
        res.assert_error(400, "invalid_request");
        assert!(
            res.error_description().contains("form-encoded"),
            "{}",
            res.describe()
        );
    }
    // Over the body limit.
    let big = format!("token={}", "a".repeat(17 * 1024));
    introspect_as(&h, Some(&good), &big)
        .await
        .assert_error(413, "invalid_request");
    // Another method.
    let req = Request::get("/introspect")
        .header("authorization", &good)
        .body(String::new())
        .unwrap();
    let res = h.send(req).await;
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), "POST");
}

#[tokio::test]
async fn a_store_that_cannot_say_is_503_never_a_guess() {
    let h = harness();
    let pair = h.login().await;
    h.store.set_down(true);
    let res = introspect(&h, &pair.access_token).await;
    res.assert_error(503, "temporarily_unavailable");
    assert_eq!(res.header("retry-after"), "1");
    // A token that does not verify needs no store.
    assert_inactive(&introspect(&h, "not-a-jwt").await);
}

#[tokio::test]
async fn the_route_is_off_unless_configured_and_its_path_is_configurable() {
    let h = Harness::new();
    let pair = h.login().await;
    // An ordinary guarded path: refused without a bearer token, the inner service with one.
    let res = introspect_as(&h, Some(&basic(CLIENT, CLIENT_SECRET)), "token=x").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("www-authenticate"), "Bearer realm=\"api\"");
    let res = introspect_as(
        &h,
        Some(&format!("Bearer {}", pair.access_token)),
        "token=x",
    )
    .await;
    assert!(
        res.text().starts_with("claims sub=user1"),
        "{}",
        res.describe()
    );

    let h = Harness::with(|b| b.introspection(introspection().path("/oauth/introspect")));
    let pair = h.login().await;
    let req = Request::post("/oauth/introspect")
        .header("authorization", basic(CLIENT, CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", pair.access_token))
        .unwrap();
    assert_eq!(h.send(req).await.json()["active"], true);
}

#[test]
fn clashing_paths_and_weak_secrets_are_refused_when_built() {
    let build = |i: Introspection| {
        RefreshAuth::<Role>::builder()
            .hs256(SECRET.to_vec())
            .sessions_route()
            .introspection(i)
            .build()
    };
    for path in ["/token", "/logout", "/sessions", "introspect"] {
        let err = build(introspection().path(path)).unwrap_err();
        assert!(err.to_string().contains(path), "{err}");
    }
    let err = build(Introspection::client(CLIENT, "too-short")).unwrap_err();
    assert!(err.to_string().contains("openssl rand -hex 32"), "{err}");
    let err = build(Introspection::client("gate way", CLIENT_SECRET)).unwrap_err();
    assert!(err.to_string().contains("client id"), "{err}");
}
