//! Independent verifiers given only the JWKS URL (docs/protocol.md §7): an app with the layer
//! and the JWKS route served over real TCP; our access tokens verified by `jsonwebtoken` from
//! the JWK fetched over HTTP, and by `jwt-simple`, a second JOSE implementation that shares no
//! code with it (pure Rust: RustCrypto's `p256`/`p384`/`ed25519-compact`/`rsa`, where
//! jsonwebtoken here runs on aws-lc). Tokens minted by `jwt-simple` with our key are accepted;
//! with a foreign key they are refused.
//!
//! Run with `cargo test -p tower-refresh-auth-tests --test jwks`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use tower_refresh_auth::keys::Jwks;

use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{DecodingKey, Validation};
use jwt_simple::prelude::*;
use serde_json::{Value, json};
use tower_refresh_auth::keys::SigningKey;
use tower_refresh_auth::session::SessionId;
use tower_refresh_auth::{Claims as AccessClaims, RefreshAuth};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Role {
    role: String,
}

const KEYS: [&str; 4] = ["es256.pem", "es384.pem", "ed25519.pem", "rsa.pem"];

fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tower-refresh-auth/tests/keys")
        .join(name)
}

fn pem(name: &str) -> String {
    std::fs::read_to_string(key_file(name)).unwrap()
}

/// An application with the layer and the JWKS route, on a loopback port.
struct Server {
    base: String,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(key: &str) -> Server {
    let auth = RefreshAuth::<Role>::builder()
        .signing_key(SigningKey::from_file(key_file(key)).unwrap())
        .refresh_secret(b"the refresh-token secret, 32 bytes or more".to_vec())
        .public_path("/login")
        .jwks(Jwks::new())
        .build()
        .unwrap();
    let login = {
        let auth = auth.clone();
        move || {
            let auth = auth.clone();
            async move {
                let role = Role {
                    role: "admin".into(),
                };
                let pair = auth.issue("user1", role).await.unwrap();
                auth.token_response(&pair).map(axum::body::Body::from)
            }
        }
    };
    let app = Router::new()
        .route("/login", post(login))
        .route(
            "/api/me",
            get(
                |Extension(claims): Extension<Arc<AccessClaims<Role>>>| async move {
                    Json(json!({"sub": claims.sub, "role": claims.custom.role}))
                },
            ),
        )
        .layer(auth.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        base,
        http: reqwest::Client::new(),
        task,
    }
}

impl Server {
    /// Logs in; the access token of the pair.
    async fn login(&self) -> String {
        let res = self
            .http
            .post(format!("{}/login", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let pair: Value = res.json().await.unwrap();
        pair["accessToken"].as_str().unwrap().to_owned()
    }

    /// What an independent verifier has: the JWKS, fetched over HTTP.
    async fn jwks(&self) -> JwkSet {
        let res = self
            .http
            .get(format!("{}/.well-known/jwks.json", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert!(
            res.headers()["cache-control"]
                .to_str()
                .unwrap()
                .starts_with("public, max-age=")
        );
        let text = res.text().await.unwrap();
        // Public parameters only, whatever the key type.
        let raw: Value = serde_json::from_str(&text).unwrap();
        for jwk in raw["keys"].as_array().unwrap() {
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(jwk.get(private).is_none(), "{private} in {jwk}");
            }
            assert_eq!(jwk["use"], "sig");
        }
        serde_json::from_str(&text).unwrap()
    }

    async fn me(&self, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/api/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn b64(field: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(field).unwrap()
}

#[tokio::test]
async fn jsonwebtoken_verifies_our_tokens_given_only_the_fetched_jwk() {
    for key in KEYS {
        let server = serve(key).await;
        let token = server.login().await;
        let jwks = server.jwks().await;
        let jwk = jwks.find(&kid_of(&token)).expect("the kid is published");

        let alg = jwk
            .common
            .key_algorithm
            .unwrap()
            .to_string()
            .parse()
            .unwrap();
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Value>(
            &token,
            &DecodingKey::from_jwk(jwk).unwrap(),
            &validation,
        )
        .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(data.header.typ.as_deref(), Some("at+jwt"), "{key}");
        assert_eq!(data.claims["sub"], "user1");
        assert_eq!(data.claims["role"], "admin");

        // And the layer accepts the same token, over the same wire.
        let res = server.me(&token).await;
        assert_eq!(res.status(), 200, "{key}");
    }
}

/// Verifies `token` with jwt-simple, given only `jwk`: the public key is rebuilt from the
/// JWK's own parameters, not from any file.
fn jwt_simple_verify(jwk: &Jwk, token: &str) -> Result<JWTClaims<Value>, jwt_simple::Error> {
    let options = VerificationOptions {
        required_signature_type: Some("at+jwt".into()),
        required_key_id: jwk.common.key_id.clone(),
        ..VerificationOptions::default()
    };
    let kid = jwk.common.key_id.as_deref().unwrap();
    match (
        &jwk.algorithm,
        jwk.common.key_algorithm.unwrap().to_string().as_str(),
    ) {
        (AlgorithmParameters::EllipticCurve(ec), "ES256") => {
            let point = [&[4u8][..], &b64(&ec.x), &b64(&ec.y)].concat();
            ES256PublicKey::from_bytes(&point)?
                .with_key_id(kid)
                .verify_token(token, Some(options))
        }
        (AlgorithmParameters::EllipticCurve(ec), "ES384") => {
            let point = [&[4u8][..], &b64(&ec.x), &b64(&ec.y)].concat();
            ES384PublicKey::from_bytes(&point)?
                .with_key_id(kid)
                .verify_token(token, Some(options))
        }
        (AlgorithmParameters::OctetKeyPair(okp), "EdDSA") => {
            Ed25519PublicKey::from_bytes(&b64(&okp.x))?
                .with_key_id(kid)
                .verify_token(token, Some(options))
        }
        (AlgorithmParameters::RSA(rsa), "RS256") => {
            RS256PublicKey::from_components(&b64(&rsa.n), &b64(&rsa.e))?
                .with_key_id(kid)
                .verify_token(token, Some(options))
        }
        (params, alg) => panic!("unexpected JWK {alg} {params:?}"),
    }
}

#[tokio::test]
async fn jwt_simple_verifies_our_tokens_given_only_the_fetched_jwk() {
    for key in KEYS {
        let server = serve(key).await;
        let token = server.login().await;
        let jwks = server.jwks().await;
        let jwk = jwks.find(&kid_of(&token)).unwrap();
        let claims = jwt_simple_verify(jwk, &token).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(claims.subject.as_deref(), Some("user1"));
        assert_eq!(claims.custom["role"], "admin");

        // It checks the signature: another token's signature over these claims is refused.
        let other = server.login().await;
        let signed = &token[..token.rfind('.').unwrap()];
        let tampered = format!("{signed}{}", &other[other.rfind('.').unwrap()..]);
        assert!(jwt_simple_verify(jwk, &tampered).is_err(), "{key}");
    }
}

/// Our claims, as jwt-simple writes them: `sub`, `jti`, `iat`, `exp` (and `nbf`), plus our
/// `sid` and the application's `role`.
fn jwt_simple_claims() -> JWTClaims<Value> {
    Claims::with_custom_claims(
        json!({"sid": SessionId::random().to_string(), "role": "auditor"}),
        Duration::from_secs(60),
    )
    .with_subject("user9")
    .with_jwt_id("minted-elsewhere")
}

fn at_jwt() -> HeaderOptions {
    HeaderOptions {
        signature_type: Some("at+jwt".into()),
        ..HeaderOptions::default()
    }
}

#[tokio::test]
async fn tokens_minted_by_jwt_simple_with_our_key_are_accepted_and_with_a_foreign_key_refused() {
    let server = serve("es256.pem").await;
    let kid = kid_of(&server.login().await);

    let ours = ES256KeyPair::from_pem(&pem("es256.pem"))
        .unwrap()
        .with_key_id(&kid)
        .sign_with_options(jwt_simple_claims(), &at_jwt())
        .unwrap();
    let res = server.me(&ours).await;
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me, json!({"sub": "user9", "role": "auditor"}));

    // The same claims and kid under a key we never had: refused.
    let foreign = ES256KeyPair::from_pem(&pem("foreign-es256.pem"))
        .unwrap()
        .with_key_id(&kid)
        .sign_with_options(jwt_simple_claims(), &at_jwt())
        .unwrap();
    let res = server.me(&foreign).await;
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );

    // Our key but not an access token (`typ: JWT`): refused too (RFC 9068 §4).
    let plain = ES256KeyPair::from_pem(&pem("es256.pem"))
        .unwrap()
        .with_key_id(&kid)
        .sign(jwt_simple_claims())
        .unwrap();
    assert_eq!(server.me(&plain).await.status(), 401);

    // Ed25519, the other curve family, the same way.
    let server = serve("ed25519.pem").await;
    let kid = kid_of(&server.login().await);
    let ours = Ed25519KeyPair::from_pem(&pem("ed25519.pem"))
        .unwrap()
        .with_key_id(&kid)
        .sign_with_options(jwt_simple_claims(), &at_jwt())
        .unwrap();
    assert_eq!(server.me(&ours).await.status(), 200);
    let stranger = Ed25519KeyPair::generate()
        .with_key_id(&kid)
        .sign_with_options(jwt_simple_claims(), &at_jwt())
        .unwrap();
    assert_eq!(server.me(&stranger).await.status(), 401);
}

/// docs/protocol.md §2, RFC 7515 §4.1.4: a standard `at+jwt` minted by another JOSE library
/// without a `kid` verifies when exactly one configured key could have signed it, and is
/// refused as "the token has no kid" when several could.
#[tokio::test]
async fn a_kidless_token_from_another_library_verifies_when_one_key_could_have_signed_it() {
    use tower_refresh_auth::keys::VerifyingKey;
    use tower_refresh_auth::{Algorithm, AuthError, RefreshAuth};

    let secret = b"a shared HS256 secret of at least 32 bytes".to_vec();
    let kidless = HS256Key::from_bytes(&secret)
        .authenticate_with_options(jwt_simple_claims(), &at_jwt())
        .unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(kidless.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(header.get("kid").is_none(), "{header}");

    let one_key = RefreshAuth::<Value>::builder()
        .hs256(secret.clone())
        .build()
        .unwrap();
    let claims = one_key.verify(&kidless).unwrap();
    assert_eq!(claims.sub, "user9");
    assert_eq!(claims.custom["role"], "auditor");

    // During a rotation two HS256 keys could have signed it: which one is unknowable.
    let two_keys = RefreshAuth::<Value>::builder()
        .hs256(secret)
        .previous_key(VerifyingKey::hmac(Algorithm::HS256, vec![7; 32]).with_kid("old"))
        .build()
        .unwrap();
    match two_keys.verify(&kidless) {
        Err(AuthError::InvalidToken(why)) => assert_eq!(why, "the token has no kid"),
        other => panic!("expected no kid, got {other:?}"),
    }

    // An asymmetric key without a kid, served over HTTP: accepted by its one key.
    let server = serve("es256.pem").await;
    let kidless = ES256KeyPair::from_pem(&pem("es256.pem"))
        .unwrap()
        .sign_with_options(jwt_simple_claims(), &at_jwt())
        .unwrap();
    assert_eq!(server.me(&kidless).await.status(), 200);
}
