//! §14 on a built dashboard binary, `INTROSPECTION_CLIENT` set: `POST /introspect` (RFC 7662)
//! for a live access token, a DPoP-bound one (`cnf.jkt`), a revoked one, an expired one, a
//! refresh token, garbage and a token of another key, with right, wrong and missing client
//! credentials; and the route absent without the variable.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::{Answer, Running, test_key};

const CLIENT: &str = "gateway:3e8f1a6c9b2d5e7f0a4c8b1d6e9f2a5c";
const SECRET_OF_ANOTHER: &str = "another secret of at least 32 bytes!";

fn basic(credentials: &str) -> String {
    format!("Basic {}", STANDARD.encode(credentials))
}

fn introspect_as(server: &Running, authorization: Option<&str>, token: &str) -> Answer {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(authorization) = authorization {
        headers.push(("Authorization", authorization));
    }
    server.send("POST", "/introspect", &headers, &format!("token={token}"))
}

/// The client's answer about `token`, as JSON (asserting `200`, `no-store`).
fn introspect(server: &Running, token: &str) -> Value {
    let answer = introspect_as(server, Some(&basic(CLIENT)), token);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    serde_json::from_str(&answer.body).unwrap()
}

fn pair(answer: &Answer) -> (String, String) {
    assert_eq!(answer.status, 200, "{answer:?}");
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    (
        body["accessToken"].as_str().unwrap().to_owned(),
        body["refreshToken"].as_str().unwrap().to_owned(),
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Every state of a token, and the client's authentication.
pub fn introspection_answers_every_state(bin: &str) {
    let server = Running::start(
        bin,
        &[("INTROSPECTION_CLIENT", CLIENT), ("DPOP", "optional")],
    );
    let (live, refresh) = pair(&server.login("user1", "password1"));
    let body = introspect(&server, &live);
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["sub"], "user1");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["sid"].is_string() && body["exp"].is_u64() && body["iat"].is_u64());
    assert!(body.get("cnf").is_none(), "{body}");

    let inactive = json!({"active": false});
    assert_eq!(introspect(&server, &refresh), inactive, "a refresh token");
    assert_eq!(introspect(&server, "garbage"), inactive);
    let foreign = jsonwebtoken::encode(
        &Header {
            typ: Some("at+jwt".into()),
            ..Header::default()
        },
        &json!({"sub": "user1", "sid": "x", "jti": "j", "iat": now(), "exp": now() + 60}),
        &EncodingKey::from_secret(SECRET_OF_ANOTHER.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        introspect(&server, &foreign),
        inactive,
        "another key's token"
    );

    // Revoked: logged out, its access token is not live any more.
    let (revoked, revoked_refresh) = pair(&server.login("user1", "password1"));
    assert_eq!(introspect(&server, &revoked)["active"], true);
    let logout = server.send(
        "POST",
        "/logout",
        &[("Content-Type", "application/json")],
        &format!(r#"{{"refreshToken":"{revoked_refresh}"}}"#),
    );
    assert_eq!(logout.status, 204, "{logout:?}");
    assert_eq!(introspect(&server, &revoked), inactive, "a revoked token");

    // Bound to a DPoP key at login: `token_type` DPoP and the key's thumbprint.
    let key = EncodingKey::from_ec_pem(&std::fs::read(test_key("es256.pem")).unwrap()).unwrap();
    let jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("dpop+jwt".into());
    header.jwk = Some(jwk.clone());
    let proof = jsonwebtoken::encode(
        &header,
        &json!({"jti": format!("introspection-{}", now()), "htm": "POST", "htu": "http://localhost/login", "iat": now()}),
        &key,
    )
    .unwrap();
    let bound = server.send(
        "POST",
        "/login",
        &[("Content-Type", "application/json"), ("DPoP", &proof)],
        r#"{"username":"user1","password":"password1"}"#,
    );
    let (bound, _) = pair(&bound);
    let body = introspect(&server, &bound);
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(
        body["cnf"]["jkt"].as_str(),
        Some(jwk.thumbprint(ThumbprintHash::SHA256).unwrap().as_str())
    );

    // Wrong or missing client credentials: `401` with a Basic challenge, nothing about tokens.
    let (id, _) = CLIENT.split_once(':').unwrap();
    for authorization in [
        None,
        Some(basic(&format!("{id}:3e8f1a6c9b2d5e7f0a4c8b1d6e9f2a5d"))),
        Some(basic("other:3e8f1a6c9b2d5e7f0a4c8b1d6e9f2a5c")),
        Some(format!("Bearer {live}")),
    ] {
        let answer = introspect_as(&server, authorization.as_deref(), &live);
        assert_eq!(answer.status, 401, "{answer:?}");
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Basic realm=\"api\"")
        );
        assert!(
            answer.body.contains(r#""error":"invalid_client""#),
            "{answer:?}"
        );
        assert!(!answer.body.contains("active"), "{answer:?}");
    }
    // The secret never reaches the log.
    let log = server.log();
    assert!(
        !log.contains("3e8f1a6c9b2d"),
        "the client secret in the log:\n{log}"
    );
}

/// An access token past its `exp` (`ACCESS_TOKEN_TTL=1s`) is not live.
pub fn an_expired_token_is_inactive(bin: &str) {
    let server = Running::start(
        bin,
        &[("INTROSPECTION_CLIENT", CLIENT), ("ACCESS_TOKEN_TTL", "1s")],
    );
    let (access, _) = pair(&server.login("user1", "password1"));
    // Past its `exp` (whole seconds) whenever in its second it was issued.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(introspect(&server, &access), json!({"active": false}));
}

/// Without `INTROSPECTION_CLIENT` there is no route: `/introspect` is a guarded path like any.
pub fn without_introspection_client_there_is_no_route(bin: &str) {
    let server = Running::start(bin, &[]);
    let answer = introspect_as(&server, Some(&basic(CLIENT)), "x");
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
}
