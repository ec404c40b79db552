//! The verify-only `ResourceServer` with static keys (no network): the same refusals as the
//! issuing layer, and properties — arbitrary JWK Sets and tokens never panic, and a token is
//! never accepted without a key in the set that verifies it.
//!
//! The remote key sources are tested over real TCP in the workspace's
//! `tests/tests/resource_server.rs`; DPoP at a resource server (bound tokens, its own nonces)
//! in `dpop.rs` beside this file.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod dpop;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_refresh_auth::keys::{Jwks, SigningKey};
use tower_refresh_auth::resource::{Issuer, ResourceServer};
use tower_refresh_auth::{AuthError, Claims, NoClaims, RefreshAuth};

const ISS: &str = "https://login.example.com";

fn key(name: &str) -> SigningKey {
    SigningKey::from_file(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/keys")
            .join(name),
    )
    .unwrap()
}

fn issuing(key: SigningKey) -> RefreshAuth {
    RefreshAuth::<NoClaims>::builder()
        .signing_key(key)
        .refresh_secret(b"a refresh-token secret of at least 32 bytes".to_vec())
        .issuer(ISS)
        .build()
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn verify(server: &ResourceServer, token: &str) -> Result<Claims, AuthError> {
    runtime().block_on(server.verify(token))
}

#[test]
fn static_keys_verify_the_issuers_tokens_and_nothing_else() {
    let rt = runtime();
    let es = key("es256.pem");
    let auth = issuing(es.clone());
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::from_keys([es.verifying_key()]).issuer(ISS))
        .verified_token_cache(100)
        .build()
        .unwrap();
    let pair = rt.block_on(auth.issue("user1", NoClaims {})).unwrap();
    // Twice: the second answer is the cache's.
    for _ in 0..2 {
        assert_eq!(verify(&server, &pair.access_token).unwrap().sub, "user1");
    }
    // Another key under the same name: refused.
    let other = issuing(key("foreign-es256.pem"));
    let forged = rt.block_on(other.issue("user1", NoClaims {})).unwrap();
    let err = verify(&server, &forged.access_token).unwrap_err();
    assert_eq!(err.error_code(), Some("invalid_token"));
    // The right key, another issuer.
    let stranger = RefreshAuth::<NoClaims>::builder()
        .signing_key(es)
        .refresh_secret(b"a refresh-token secret of at least 32 bytes".to_vec())
        .issuer("https://elsewhere.example")
        .build()
        .unwrap();
    let t = rt.block_on(stranger.issue("user1", NoClaims {})).unwrap();
    assert!(
        verify(&server, &t.access_token)
            .unwrap_err()
            .to_string()
            .contains("issuer")
    );
}

#[test]
fn the_layer_answers_as_the_issuing_layer_does() {
    let rt = runtime();
    let es = key("es256.pem");
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::from_keys([es.verifying_key()]))
        .realm("orders")
        .public_path("/healthz")
        .build()
        .unwrap();
    let svc = tower::ServiceBuilder::new()
        .layer(server.layer())
        .service(tower::service_fn(|req: Request<String>| async move {
            let who = req.extensions().get::<Arc<Claims>>().map(|c| c.sub.clone());
            Ok::<_, std::convert::Infallible>(http::Response::new(who.unwrap_or_default()))
        }));
    let send = |req: Request<String>| rt.block_on(svc.clone().oneshot(req)).unwrap();
    let res = send(Request::get("/api").body(String::new()).unwrap());
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"orders\"");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = send(
        Request::get("/api")
            .header("authorization", "Bearer")
            .body(String::new())
            .unwrap(),
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = send(Request::get("/healthz").body(String::new()).unwrap());
    assert_eq!(res.status(), StatusCode::OK);
    // gRPC calls get the gRPC refusal.
    let res = send(
        Request::post("/pkg.Svc/Call")
            .header("content-type", "application/grpc")
            .body(String::new())
            .unwrap(),
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["grpc-status"], "16");
}

#[test]
fn weak_configuration_is_refused_when_built() {
    let hs = tower_refresh_auth::keys::VerifyingKey::hmac(
        tower_refresh_auth::Algorithm::HS256,
        vec![7; 32],
    );
    for (builder, needle) in [
        (ResourceServer::<NoClaims>::builder(), ".issuer("),
        (
            ResourceServer::<NoClaims>::builder().issuer(Issuer::from_keys([hs])),
            "public keys only",
        ),
        (
            ResourceServer::<NoClaims>::builder().issuer(
                Issuer::from_keys([key("es256.pem").verifying_key()])
                    .algorithms([tower_refresh_auth::Algorithm::HS256]),
            ),
            "public keys only",
        ),
        (
            ResourceServer::<NoClaims>::builder()
                .issuer(Issuer::from_keys([key("es256.pem").verifying_key()]))
                .issuer(Issuer::from_keys([key("ed25519.pem").verifying_key()])),
            "only one may leave it unset",
        ),
        (
            ResourceServer::<NoClaims>::builder().issuer(Issuer::from_jwks("{\"keys\":[]}")),
            "no key",
        ),
        (
            ResourceServer::<NoClaims>::builder()
                .issuer(Issuer::from_keys([key("es256.pem").verifying_key()]))
                .refetch_cooldown(Duration::ZERO),
            "refetch_cooldown",
        ),
    ] {
        let err = builder.build().unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
}

/// A JWK that may or may not be well formed.
fn arbitrary_jwk() -> impl Strategy<Value = Value> {
    let b64 = "[A-Za-z0-9_-]{0,60}";
    prop_oneof![
        (b64, b64, "[a-z0-9]{0,8}", prop::option::of("ES256|ES384|EdDSA|RS256|HS256|none|RSA-OAEP"))
            .prop_map(|(x, y, kid, alg)| json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": alg})),
        (b64, "[a-z0-9]{0,8}").prop_map(|(x, kid)| json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid})),
        (b64, "[a-z0-9]{0,8}").prop_map(|(k, kid)| json!({"kty": "oct", "k": k, "kid": kid, "alg": "HS256"})),
        (b64, "[A-Za-z]{0,4}").prop_map(|(n, e)| json!({"kty": "RSA", "n": n, "e": e})),
        any::<String>().prop_map(Value::String),
        Just(json!({"kty": "EC", "crv": "P-521"})),
    ]
}

/// A shared secret published under our key's kid (proptest found this case): the secret is
/// left out of the set, so it neither hides our key nor makes the kid ambiguous, and our
/// token verifies; an HS256 token under that kid is still refused.
#[test]
fn an_unusable_key_under_our_kid_is_left_out() {
    let keys = json!({ "keys": [
        {"kty": "oct", "kid": "9", "alg": "HS256", "k": "c2VjcmV0"},
        our_jwk("9"),
    ]});
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::from_jwks(keys.to_string()))
        .build()
        .unwrap();
    let auth = issuing(key("ed25519.pem").with_kid("9".to_owned()));
    let token = runtime()
        .block_on(auth.issue("user1", NoClaims {}))
        .unwrap()
        .access_token;
    assert!(verify(&server, &token).is_ok());
    // The same claims, "signed" HS256 with the published secret under kid 9.
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("9".to_owned());
    let secret = jsonwebtoken::EncodingKey::from_secret(b"secret").unwrap();
    let forged = jsonwebtoken::encode(&header, &claims, &secret).unwrap();
    assert!(verify(&server, &forged).is_err());
}

/// Our key's public JWK, with `kid`.
fn our_jwk(kid: &str) -> Value {
    let server_jwks = {
        let auth = RefreshAuth::<NoClaims>::builder()
            .signing_key(key("ed25519.pem"))
            .refresh_secret(b"a refresh-token secret of at least 32 bytes".to_vec())
            .jwks(Jwks::new())
            .build()
            .unwrap();
        let res = runtime().block_on(
            auth.answer(
                tower_refresh_auth::adapter::Endpoint::Jwks,
                Request::get("/.well-known/jwks.json")
                    .body(String::new())
                    .unwrap(),
            ),
        );
        serde_json::from_slice::<Value>(res.body()).unwrap()
    };
    let mut jwk = server_jwks["keys"][0].clone();
    jwk["kid"] = json!(kid);
    jwk
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A set of arbitrary keys, perhaps with ours among them: a token we signed verifies only
    /// when our key is in the set under the kid the token names. Nothing panics.
    #[test]
    fn arbitrary_key_sets_accept_nothing_without_a_verifying_key(
        keys in prop::collection::vec(arbitrary_jwk(), 0..6),
        ours in any::<bool>(),
        kid in "[a-z0-9]{1,8}",
        garbage in any::<Vec<u8>>(),
    ) {
        let mut keys = keys;
        if ours {
            keys.push(our_jwk(&kid));
        }
        let doc = json!({ "keys": keys }).to_string();
        // Not a set at all: refused or built, never a panic.
        let _ = ResourceServer::<NoClaims>::builder().issuer(Issuer::from_jwks(garbage)).build();
        let Ok(server) = ResourceServer::<NoClaims>::builder().issuer(Issuer::from_jwks(doc)).build() else {
            prop_assert!(!ours || keys.iter().filter(|k| k["kid"] == json!(kid)).count() > 1);
            return Ok(());
        };
        let auth = issuing(key("ed25519.pem").with_kid(kid.clone()));
        let token = runtime().block_on(auth.issue("user1", NoClaims {})).unwrap().access_token;
        let verified = verify(&server, &token);
        let ours_present = keys.iter().any(|k| *k == our_jwk(&kid));
        let kid_unique = keys.iter().filter(|k| k["kid"] == json!(kid)).count() == 1;
        // Accepted only with our key in the set; and accepted whenever it is there alone under
        // its kid. (With another entry under the same kid, the verdict depends on whether the
        // parser could use that entry: a usable twin makes the kid ambiguous and refused, an
        // unusable one — a shared secret, an encryption key — is left out and ours verifies.)
        if verified.is_ok() {
            prop_assert!(ours_present, "accepted without our key: {:?}", keys);
        }
        if ours_present && kid_unique {
            prop_assert!(verified.is_ok(), "{:?}", verified);
        }
    }

    /// Arbitrary tokens — random text, random headers and payloads, a good token with one
    /// signature byte changed — are refused, never with a panic.
    #[test]
    fn arbitrary_tokens_are_refused(
        text in "[A-Za-z0-9._~+/=-]{0,300}",
        header in any::<Vec<(String, String)>>(),
        payload in any::<Vec<(String, u32)>>(),
        signature in any::<Vec<u8>>(),
        at in any::<prop::sample::Index>(),
    ) {
        let es = key("es256.pem");
        let server = ResourceServer::<NoClaims>::builder()
            .issuer(Issuer::from_keys([es.verifying_key()]))
            .build()
            .unwrap();
        prop_assert!(verify(&server, &text).is_err());
        let header: serde_json::Map<String, Value> = header.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        let payload: serde_json::Map<String, Value> = payload.into_iter().map(|(k, v)| (k, json!(v))).collect();
        let made = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(payload).to_string()),
            URL_SAFE_NO_PAD.encode(&signature)
        );
        prop_assert!(verify(&server, &made).is_err());
        let good = runtime().block_on(issuing(es).issue("user1", NoClaims {})).unwrap().access_token;
        let sig_start = good.rfind('.').unwrap() + 1;
        // A character inside the signature (not its last, whose low bits may be padding).
        let i = sig_start + at.index(good.len() - sig_start - 1);
        let mut bytes = good.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bytes).unwrap();
        prop_assert!(verify(&server, &bad).is_err());
        prop_assert!(verify(&server, &good).is_ok());
    }
}

/// A token as another issuer makes it (jsonwebtoken directly, not our signer): `typ: at+jwt`,
/// ES256 under `key`'s kid, and the claims given.
fn foreign_token(key: &str, claims: &Value) -> String {
    let pem = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/keys")
            .join(key),
    )
    .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(self::key(key).kid().to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap(),
    )
    .unwrap()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Issue 20: another issuer's tokens may name no session, or one in another form, and may be
/// for several audiences (RFC 7519 §4.1.3); the audience required must be among them.
#[test]
fn other_issuers_tokens_need_no_sid_and_may_have_several_audiences() {
    let es = key("es256.pem");
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(
            Issuer::from_keys([es.verifying_key()])
                .issuer(ISS)
                .audience("https://api.example.com"),
        )
        .verified_token_cache(100)
        .build()
        .unwrap();
    // RFC 9068 §2.2: `jti` and `iat` are required of every access token, ours or not.
    let claims = |aud: Value| json!({"sub": "user1", "jti": "j1", "iss": ISS, "aud": aud, "iat": now_secs(), "exp": now_secs() + 60});

    // No sid, the audience among several.
    let token = foreign_token(
        "es256.pem",
        &claims(json!([
            "https://other.example.com",
            "https://api.example.com"
        ])),
    );
    // Twice: the second answer is the cache's, which indexes no session for it.
    for _ in 0..2 {
        let verified = verify(&server, &token).unwrap();
        assert_eq!(verified.sub, "user1");
        assert_eq!(verified.sid, None);
        assert!(verified.session().is_err());
        assert_eq!(
            verified.aud,
            ["https://other.example.com", "https://api.example.com"]
        );
    }
    // One audience as a plain string, and a session id in another issuer's form.
    let mut single = claims(json!("https://api.example.com"));
    single["sid"] = json!("6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b");
    let verified = verify(&server, &foreign_token("es256.pem", &single)).unwrap();
    assert_eq!(verified.aud, ["https://api.example.com"]);
    assert_eq!(verified.sid, None);

    // The required audience missing from the array, an empty array, no `aud` at all.
    for aud in [
        json!(["https://other.example.com", "https://api.example.co"]),
        json!([]),
        Value::Null,
    ] {
        let mut c = claims(aud.clone());
        if aud.is_null() {
            c.as_object_mut().unwrap().remove("aud");
        }
        let err = verify(&server, &foreign_token("es256.pem", &c)).unwrap_err();
        assert_eq!(err.error_code(), Some("invalid_token"), "{aud}");
    }
    // An `aud` that is neither a string nor an array of strings.
    for aud in [json!(7), json!([7]), json!({"a": 1})] {
        let err = verify(&server, &foreign_token("es256.pem", &claims(aud.clone()))).unwrap_err();
        assert_eq!(err.error_code(), Some("invalid_token"), "{aud}");
    }

    // Through the layer: the handler sees the claims, without a session.
    let api = tower::ServiceBuilder::new()
        .layer(server.layer())
        .service(tower::service_fn(|req: Request<String>| async move {
            let claims = req.extensions().get::<Arc<Claims>>().cloned().unwrap();
            Ok::<_, std::convert::Infallible>(http::Response::new(format!(
                "{} {:?}",
                claims.sub, claims.sid
            )))
        }));
    let req = Request::get("/api")
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    let rt = runtime();
    let res = rt.block_on(api.oneshot(req)).unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = rt
        .block_on(http_body_util::BodyExt::collect(res.into_body()))
        .unwrap()
        .to_bytes();
    assert_eq!(body, "user1 None");
}

/// The issuing side is unchanged: the tokens it signs carry `sid` and one `aud` (a string on
/// the wire), and it refuses a token without `sid`, even signed by its own key, as before.
#[test]
fn the_issuing_layer_still_requires_a_session() {
    let rt = runtime();
    let es = key("es256.pem");
    let auth = RefreshAuth::<NoClaims>::builder()
        .signing_key(es.clone())
        .refresh_secret(b"a refresh-token secret of at least 32 bytes".to_vec())
        .issuer(ISS)
        .audience("https://api.example.com")
        .build()
        .unwrap();
    let pair = rt.block_on(auth.issue("user1", NoClaims {})).unwrap();
    let payload = pair.access_token.split('.').nth(1).unwrap();
    let wire: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(wire["aud"], "https://api.example.com");
    assert_eq!(wire["sid"], pair.session_id.to_string());
    let claims = auth.verify(&pair.access_token).unwrap();
    assert_eq!(claims.sid, Some(pair.session_id));
    assert_eq!(claims.aud, ["https://api.example.com"]);

    // Signed by the layer's own key, everything right but `sid`: refused as malformed.
    let mut claims = json!({"sub": "user1", "jti": "j1", "iss": ISS, "aud": "https://api.example.com", "iat": now_secs(), "exp": now_secs() + 60});
    let err = auth
        .verify(&foreign_token("es256.pem", &claims))
        .unwrap_err();
    assert_eq!(err.error_code(), Some("invalid_token"));
    assert_eq!(err.description(), "the token is malformed");
    // …and so is one whose `sid` is not one of ours.
    claims["sid"] = json!("6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b");
    let err = auth
        .verify(&foreign_token("es256.pem", &claims))
        .unwrap_err();
    assert_eq!(err.description(), "the token is malformed");
    // With a real `sid` it is accepted: the test's token is otherwise a good one.
    claims["sid"] = json!(pair.session_id.to_string());
    assert!(auth.verify(&foreign_token("es256.pem", &claims)).is_ok());
    // An array `aud` holding ours (RFC 7519 §4.1.3; the layer writes a string, but the
    // audience check has always taken arrays) reads too.
    claims["aud"] = json!(["https://api.example.com", "https://other.example.com"]);
    assert!(auth.verify(&foreign_token("es256.pem", &claims)).is_ok());

    // Through the layer: `401 invalid_token`, on a guarded path.
    claims.as_object_mut().unwrap().remove("sid");
    let app = tower::ServiceBuilder::new()
        .layer(auth.layer())
        .service(tower::service_fn(|_: Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }));
    let req = Request::get("/api")
        .header(
            "authorization",
            format!("Bearer {}", foreign_token("es256.pem", &claims)),
        )
        .body(String::new())
        .unwrap();
    let res = rt.block_on(app.oneshot(req)).unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token is malformed\""
    );
}

/// Several issuers: a token is routed by its `iss`, read (with the rest of its claims, parsed
/// once) before verification only to choose the key set. A token naming one issuer and signed
/// by the other's key — even under the named issuer's own `kid` — is refused for its signature;
/// one whose claims do not parse is refused as before they were parsed once.
#[test]
fn a_token_naming_one_issuer_and_signed_by_anothers_key_is_refused() {
    const OTHER: &str = "https://other.example.com";
    let ours = key("es256.pem");
    let theirs = key("foreign-es256.pem");
    let server = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::from_keys([theirs.verifying_key()]).issuer(OTHER))
        .issuer(Issuer::from_keys([ours.verifying_key()]).issuer(ISS))
        .verified_token_cache(100)
        .build()
        .unwrap();
    let now = now_secs();
    let claims =
        |iss: &str| json!({"sub": "u", "jti": "j", "iat": now, "exp": now + 60, "iss": iss});
    // A token signed by `signer`'s key, its header naming `kid`.
    let signed = |signer: &str, kid: &str, claims: &Value| {
        let pem = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/keys")
                .join(signer),
        )
        .unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap(),
        )
        .unwrap()
    };
    let description = |token: &str| {
        verify(&server, token)
            .map(|c| c.iss)
            .map_err(|e| e.description().into_owned())
    };

    // Each issuer's own tokens pass, routed to their keys.
    assert_eq!(
        description(&signed("es256.pem", ours.kid(), &claims(ISS))),
        Ok(Some(ISS.to_owned()))
    );
    assert_eq!(
        description(&signed("foreign-es256.pem", theirs.kid(), &claims(OTHER))),
        Ok(Some(OTHER.to_owned()))
    );
    // The other issuer's key under our name and our kid: our key does not verify it.
    let cross = signed("foreign-es256.pem", ours.kid(), &claims(ISS));
    assert_eq!(
        description(&cross),
        Err("the signature does not verify".to_owned())
    );
    // Under its own kid and our name: our set does not hold that kid.
    assert_eq!(
        description(&signed("foreign-es256.pem", theirs.kid(), &claims(ISS))),
        Err("the token's kid is unknown".to_owned())
    );
    // Twice, the second time past the cache: still refused (refusals are not cached).
    assert!(verify(&server, &cross).is_err());
    // Claims the server's type does not parse (no `jti`): routed by their `iss` all the same
    // and refused.
    let mut partial = claims(ISS);
    partial.as_object_mut().unwrap().remove("jti");
    assert_eq!(
        description(&signed("es256.pem", ours.kid(), &partial)),
        Err("the token is malformed".to_owned())
    );
    // An `iss` nobody is configured for.
    assert_eq!(
        description(&signed(
            "es256.pem",
            ours.kid(),
            &claims("https://elsewhere.example")
        )),
        Err("the token's issuer is not accepted".to_owned())
    );
}
