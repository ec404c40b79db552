//! `docs/protocol.md` §1: protected requests, through the tower stack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Harness, Role, SECRET, admin};
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// A JWT over arbitrary header fields and claims, signed with `secret` under `alg`.
fn forge(
    alg: Algorithm,
    typ: Option<&str>,
    kid: Option<&str>,
    claims: serde_json::Value,
    secret: &[u8],
) -> String {
    let mut header = Header::new(alg);
    header.typ = typ.map(str::to_owned);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

/// The kid and claims of a genuine token, to build near-copies of it.
fn genuine_parts(token: &str) -> (String, serde_json::Value) {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    (
        header.kid.unwrap(),
        serde_json::from_slice(&claims).unwrap(),
    )
}

#[tokio::test]
async fn a_valid_token_reaches_the_inner_service_with_its_claims() {
    let h = Harness::new();
    let pair = h.login().await;
    let res = h.get("/api/dashboard", Some(&pair.access_token)).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.text(),
        format!("claims sub=user1 role=admin sid={}", pair.session_id)
    );
}

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let h = Harness::new();
    let pair = h.login().await;
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let req = Request::get("/x")
            .header("authorization", format!("{scheme} {}", pair.access_token))
            .body(String::new())
            .unwrap();
        assert_eq!(h.send(req).await.status, 200, "{scheme}");
    }
}

#[tokio::test]
async fn no_credentials_is_401_with_a_bare_challenge() {
    let h = Harness::new();
    for req in [
        Request::get("/x").body(String::new()).unwrap(),
        // Another scheme counts as no bearer credentials (RFC 6750 §3.1).
        Request::get("/x")
            .header("authorization", "Basic dXNlcjE6cGFzc3dvcmQx")
            .body(String::new())
            .unwrap(),
    ] {
        let res = h.send(req).await;
        assert_eq!(res.status, 401);
        assert_eq!(res.header("www-authenticate"), r#"Bearer realm="api""#);
        assert_eq!(res.header("cache-control"), "no-store");
        assert_eq!(res.json()["error"], "unauthorized");
        assert!(res.json()["error_description"].is_string());
    }
}

#[tokio::test]
async fn malformed_credentials_are_400_invalid_request() {
    let h = Harness::with(|b| b.access_token_cookie("access_token"));
    let pair = h.login().await;
    let at = &pair.access_token;
    let cases: Vec<(&str, Request<String>)> = vec![
        (
            "Bearer with no token",
            Request::get("/x")
                .header("authorization", "Bearer")
                .body(String::new())
                .unwrap(),
        ),
        (
            "Bearer and a space",
            Request::get("/x")
                .header("authorization", "Bearer ")
                .body(String::new())
                .unwrap(),
        ),
        (
            "two Authorization headers",
            Request::get("/x")
                .header("authorization", format!("Bearer {at}"))
                .header("authorization", format!("Bearer {at}"))
                .body(String::new())
                .unwrap(),
        ),
        (
            "header and cookie at once",
            Request::get("/x")
                .header("authorization", format!("Bearer {at}"))
                .header("cookie", format!("access_token={at}"))
                .body(String::new())
                .unwrap(),
        ),
        (
            "not a b64token",
            Request::get("/x")
                .header("authorization", "Bearer abc def")
                .body(String::new())
                .unwrap(),
        ),
        (
            "a tab",
            Request::get("/x")
                .header("authorization", format!("Bearer {at}\tx"))
                .body(String::new())
                .unwrap(),
        ),
        (
            "non-ASCII bytes",
            Request::get("/x")
                .header(
                    "authorization",
                    http::HeaderValue::from_bytes(b"Bearer \xc3\xa9t\xc3\xa9").unwrap(),
                )
                .body(String::new())
                .unwrap(),
        ),
    ];
    for (what, req) in cases {
        let res = h.send(req).await;
        assert_eq!(res.status, 400, "{what}");
        res.assert_challenge(400, "invalid_request");
    }
    // The cookie alone is a valid source.
    let req = Request::get("/x")
        .header("cookie", format!("access_token={at}"))
        .body(String::new())
        .unwrap();
    assert_eq!(h.send(req).await.status, 200);
}

#[tokio::test]
async fn expired_tokens_are_401_not_403() {
    let h = Harness::new();
    let pair = h.login().await;
    h.clock.advance(Duration::from_secs(59));
    assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
    h.clock.advance(Duration::from_secs(1));
    let res = h.get("/x", Some(&pair.access_token)).await;
    res.assert_challenge(401, "invalid_token");
    assert!(res.header("www-authenticate").contains("expired"));
}

#[tokio::test]
async fn leeway_extends_expiry_by_exactly_that_much() {
    let h = Harness::with(|b| b.leeway(Duration::from_secs(5)));
    let pair = h.login().await;
    h.clock.advance(Duration::from_millis(64_999));
    assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 401);
}

#[tokio::test]
async fn not_yet_valid_tokens_are_refused() {
    let h = Harness::new();
    let pair = h.login().await;
    h.clock.set(common::t0() - Duration::from_secs(30));
    h.get("/x", Some(&pair.access_token))
        .await
        .assert_challenge(401, "invalid_token");
}

#[tokio::test]
async fn tokens_that_do_not_verify_are_401_invalid_token() {
    let h = Harness::with(|b| b.issuer("https://issuer.example").audience("api"));
    let pair = h.login().await;
    let (kid, claims) = genuine_parts(&pair.access_token);
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let other_secret = b"another secret that is at least 32 bytes long";
    let mut flipped = pair.access_token.clone().into_bytes();
    let last = flipped.len() - 5;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let cases = [
        (
            "bad signature",
            forge(
                Algorithm::HS256,
                Some("at+jwt"),
                Some(&kid),
                claims.clone(),
                other_secret,
            ),
        ),
        ("tampered signature", String::from_utf8(flipped).unwrap()),
        (
            "wrong typ",
            forge(
                Algorithm::HS256,
                Some("JWT"),
                Some(&kid),
                claims.clone(),
                SECRET,
            ),
        ),
        (
            "no typ",
            forge(Algorithm::HS256, None, Some(&kid), claims.clone(), SECRET),
        ),
        (
            "wrong alg",
            forge(
                Algorithm::HS384,
                Some("at+jwt"),
                Some(&kid),
                claims.clone(),
                SECRET,
            ),
        ),
        (
            "unknown kid",
            forge(
                Algorithm::HS256,
                Some("at+jwt"),
                Some("nope"),
                claims.clone(),
                SECRET,
            ),
        ),
        (
            "wrong iss",
            forge(
                Algorithm::HS256,
                Some("at+jwt"),
                Some(&kid),
                with("iss", json!("https://evil.example")),
                SECRET,
            ),
        ),
        (
            "wrong aud",
            forge(
                Algorithm::HS256,
                Some("at+jwt"),
                Some(&kid),
                with("aud", json!("other")),
                SECRET,
            ),
        ),
        ("no sub", {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove("sub");
            forge(Algorithm::HS256, Some("at+jwt"), Some(&kid), c, SECRET)
        }),
        (
            "non-numeric exp",
            forge(
                Algorithm::HS256,
                Some("at+jwt"),
                Some(&kid),
                with("exp", json!("tomorrow")),
                SECRET,
            ),
        ),
        ("a refresh token", pair.refresh_token.clone()),
        ("garbage", "abc.def.ghi".to_owned()),
    ];
    // What each case must be refused for: the `error_description` names it.
    let reasons = [
        ("bad signature", "the signature does not verify"),
        ("tampered signature", "the signature does not verify"),
        ("wrong typ", "the token is not an access token (typ)"),
        ("no typ", "the token is not an access token (typ)"),
        ("wrong alg", "the token's algorithm is not accepted"),
        ("unknown kid", "the token's kid is unknown"),
        ("wrong iss", "the token's issuer is not accepted"),
        ("wrong aud", "the token's audience is not accepted"),
        ("no sub", "the token is malformed"),
        ("non-numeric exp", "the token is malformed"),
        ("a refresh token", "the token is malformed"),
        ("garbage", "the token is malformed"),
    ];
    assert_eq!(reasons.len(), cases.len());
    for ((what, token), (named, reason)) in cases.into_iter().zip(reasons) {
        assert_eq!(what, named);
        let res = h.get("/x", Some(&token)).await;
        assert_eq!(res.status, 401, "{what}: {}", res.text());
        res.assert_challenge(401, "invalid_token");
        assert_eq!(res.error_description(), reason, "{what}");
        assert!(
            res.header("www-authenticate")
                .contains(&format!(r#"error_description="{reason}""#)),
            "{what}: {}",
            res.header("www-authenticate")
        );
    }
    // The genuine token is fine, so the cases above fail for the reason they name.
    assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
    // Without a kid, the one configured key could have signed it (RFC 7515 §4.1.4: kid is
    // optional): accepted.
    let kidless = forge(Algorithm::HS256, Some("at+jwt"), None, claims, SECRET);
    assert_eq!(h.get("/x", Some(&kidless)).await.status, 200);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let h = Harness::new();
    let pair = h.login().await;
    let mut parts = pair.access_token.split('.');
    let (_, payload) = (parts.next(), parts.next().unwrap());
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64.encode(format!(r#"{{"alg":"{alg}","typ":"at+jwt"}}"#));
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.c2ln"),
        ] {
            h.get("/x", Some(&token))
                .await
                .assert_challenge(401, "invalid_token");
        }
    }
}

#[tokio::test]
async fn the_realm_is_configurable() {
    let h = Harness::with(|b| b.realm("dashboard"));
    let res = h.get("/x", None).await;
    assert_eq!(
        res.header("www-authenticate"),
        r#"Bearer realm="dashboard""#
    );
}

#[tokio::test]
async fn public_paths_pass_without_a_token_and_still_get_claims() {
    let h = Harness::with(|b| b.public_prefix("/static/"));
    let pair = h.login().await;
    assert_eq!(h.get("/login", None).await.text(), "rejection none");
    assert_eq!(h.get("/static/app.css", None).await.status, 200);
    assert!(
        h.get("/login", Some(&pair.access_token))
            .await
            .text()
            .starts_with("claims sub=user1")
    );
    assert_eq!(
        h.get("/login", Some("abc.def.ghi")).await.text(),
        "rejection invalid_token"
    );
    // Only the exact public path, not one that merely starts the same.
    assert_eq!(h.get("/login/admin", None).await.status, 401);
}

#[tokio::test]
async fn optional_mode_leaves_the_decision_to_the_handler() {
    let h = Harness::with(|b| b.optional());
    let pair = h.login().await;
    assert_eq!(h.get("/anything", None).await.text(), "rejection none");
    assert_eq!(
        h.get("/anything", Some("abc.def.ghi")).await.text(),
        "rejection invalid_token"
    );
    let res = h.get("/anything", Some(&pair.access_token)).await;
    assert_eq!(res.status, 200);
    assert!(res.text().starts_with("claims sub=user1 role=admin"));
}

#[tokio::test]
async fn session_checking_refuses_tokens_of_revoked_sessions() {
    let h = Harness::with(|b| b.check_sessions(true));
    let pair = h.login().await;
    assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
    assert_eq!(h.logout(&pair.refresh_token).await.status, 204);
    let res = h.get("/x", Some(&pair.access_token)).await;
    res.assert_challenge(401, "invalid_token");
    assert!(res.header("www-authenticate").contains("revoked"));
    // A public path still runs, without claims.
    assert_eq!(
        h.get("/login", Some(&pair.access_token)).await.text(),
        "rejection invalid_token"
    );
}

#[tokio::test]
async fn without_session_checking_a_verified_request_costs_no_store_call() {
    let h = Harness::new();
    let pair = h.login().await;
    let before = h.store.calls();
    for _ in 0..10 {
        assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
    }
    assert_eq!(h.store.calls(), before);
}

#[tokio::test]
async fn session_checking_fails_closed_when_the_store_is_down() {
    let h = Harness::with(|b| b.check_sessions(true));
    let pair = h.login().await;
    h.store.set_down(true);
    let res = h.get("/x", Some(&pair.access_token)).await;
    res.assert_error(503, "temporarily_unavailable");
    assert_eq!(res.header("retry-after"), "1");
}

#[tokio::test]
async fn error_bodies_leak_no_secret() {
    let h = Harness::new();
    let forged = forge(
        Algorithm::HS256,
        Some("at+jwt"),
        None,
        json!({"sub": "x", "exp": 1}),
        SECRET,
    );
    let res = h.get("/x", Some(&forged)).await;
    let everything = format!("{:?}{}", res.headers, res.text());
    assert!(!everything.contains(std::str::from_utf8(SECRET).unwrap()));
    assert!(!everything.contains(&forged));
}

#[tokio::test]
async fn application_claims_that_clash_with_registered_ones_are_refused() {
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    struct Bad {
        sub: String,
    }
    let auth = tower_refresh_auth::RefreshAuth::<Bad>::builder()
        .hs256(SECRET.to_vec())
        .build()
        .unwrap();
    let err = auth
        .issue(
            "user1",
            Bad {
                sub: "admin".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`sub`"), "{err}");
    let _ = (
        admin(),
        Role {
            role: String::new(),
        },
    );
}

mod verified_token_cache {
    use super::*;

    #[tokio::test]
    async fn a_cached_token_still_expires_on_time() {
        let h = Harness::with(|b| b.verified_token_cache(100));
        let pair = h.login().await;
        for _ in 0..3 {
            assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
        }
        h.clock.advance(Duration::from_secs(60));
        h.get("/x", Some(&pair.access_token))
            .await
            .assert_challenge(401, "invalid_token");
    }

    #[tokio::test]
    async fn a_near_copy_of_a_cached_token_is_not_served_from_the_cache() {
        let h = Harness::with(|b| b.verified_token_cache(100));
        let pair = h.login().await;
        assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
        let mut tampered = pair.access_token.clone();
        tampered.push('A');
        h.get("/x", Some(&tampered))
            .await
            .assert_challenge(401, "invalid_token");
    }

    /// The cache finds an entry by the token's tail and length, and a hit skips the
    /// `b64token` check: a token that shares both with a cached one, but differs before
    /// them, must still get the refusal it gets without the cache.
    #[tokio::test]
    async fn a_token_sharing_a_cached_tokens_tail_gets_its_own_verdict() {
        for cache in [0, 100] {
            let h = Harness::with(|b| b.verified_token_cache(cache));
            let pair = h.login().await;
            assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
            let with_first = |c: char| {
                let mut token = pair.access_token.clone();
                token.replace_range(..1, &c.to_string());
                token
            };
            // Outside the grammar: malformed, as without the cache.
            h.get("/x", Some(&with_first('!')))
                .await
                .assert_challenge(400, "invalid_request");
            // Inside it: another header, so not ours.
            h.get("/x", Some(&with_first('A')))
                .await
                .assert_challenge(401, "invalid_token");
            // The cached token itself still passes.
            assert_eq!(
                h.get("/x", Some(&pair.access_token)).await.status,
                200,
                "cache {cache}"
            );
        }
    }

    #[tokio::test]
    async fn with_session_checking_a_revoked_session_is_refused_despite_the_cache() {
        let h = Harness::with(|b| b.verified_token_cache(100).check_sessions(true));
        let pair = h.login().await;
        assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
        // Revoked directly in the store, as another instance would: the cache cannot know.
        use tower_refresh_auth::store::RefreshStore as _;
        h.store.inner.revoke(&pair.session_id).await.unwrap();
        h.get("/x", Some(&pair.access_token))
            .await
            .assert_challenge(401, "invalid_token");
    }

    #[tokio::test]
    async fn cached_claims_are_the_claims() {
        let h = Harness::with(|b| b.verified_token_cache(1));
        let a = h.login().await;
        let b = h
            .auth
            .issue(
                "user2",
                Role {
                    role: "viewer".into(),
                },
            )
            .await
            .unwrap();
        for _ in 0..2 {
            assert!(
                h.get("/x", Some(&a.access_token))
                    .await
                    .text()
                    .starts_with("claims sub=user1 role=admin")
            );
            assert!(
                h.get("/x", Some(&b.access_token))
                    .await
                    .text()
                    .starts_with("claims sub=user2 role=viewer")
            );
        }
    }
}
