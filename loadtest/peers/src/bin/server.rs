//! The axum 0.8 servers of the peers harness, one system per process:
//!
//! ```text
//! server <system> <alg>     # system: none | ours-cache-off | ours-cache-on | ours-cache-on-shared
//!                           #   | resource-cache-off | resource-cache-on | axum-jwt-auth | tower-http
//! server mint <alg>         # prints one access token signed by our layer, for every system
//! ```
//!
//! `resource-*` is our verify-only layer (`tower_refresh_auth::resource`), built from the JWK
//! set our issuing layer publishes (asymmetric keys only: a JWK set carries no shared secret).
//!
//! Every system serves `GET /api/dashboard` with the same handler body ([`Welcome`]); only
//! how the subject reaches it differs. `none` puts a fixed subject where a layer would put the
//! claims. Our layer also answers `POST /token`; with `REFRESH_SESSIONS=n` and
//! `REFRESH_TOKENS_OUT=file` it starts `n` sessions first and writes their refresh tokens
//! there, one a line, for `loadtest/refresh.lua`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use tower_http::auth::{AsyncAuthorizeRequest, AsyncRequireAuthorizationLayer};
use tower_refresh_auth::adapter::Decision;
use tower_refresh_auth::keys::{Jwks, SigningKey};
use tower_refresh_auth::resource::{Issuer, ResourceServer};
use tower_refresh_auth::{NoClaims, RefreshAuth};
use tower_refresh_auth_axum::{AuthClaims, RouterExt, SharedClaims};
use tower_refresh_auth_peers::{
    AUDIENCE, Alg, ED25519_PRIVATE_PEM, ED25519_PUBLIC_PEM, ES256_PRIVATE_PEM, ES256_PUBLIC_PEM,
    HS256_SECRET, PeerClaims, REFRESH_SECRET, Welcome, listen,
};

const USAGE: &str = "usage: server <none|ours-cache-off|ours-cache-on|ours-cache-on-shared|\
     resource-cache-off|resource-cache-on|axum-jwt-auth|tower-http|mint> <HS256|ES256|EdDSA>";

/// The handler every system ends in: the example servers' `GET /api/dashboard`.
fn dashboard(subject: &str) -> Response {
    (
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(Welcome::to(subject)),
    )
        .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [system, alg] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let alg = Alg::parse(alg).ok_or(USAGE)?;
    let app = match system.as_str() {
        "mint" => {
            let pair = ours(alg, 0)?.issue("user1", NoClaims {}).await?;
            println!("{}", pair.access_token);
            return Ok(());
        }
        "none" => none(),
        "ours-cache-off" => with_ours(ours(alg, 0)?).await?,
        "ours-cache-on" => with_ours(ours(alg, 10_000)?).await?,
        "ours-cache-on-shared" => with_ours_shared(ours(alg, 10_000)?),
        "resource-cache-off" => resource(alg, 0).await?,
        "resource-cache-on" => resource(alg, 10_000).await?,
        "axum-jwt-auth" => axum_jwt_auth(alg)?,
        "tower-http" => tower_http(alg)?,
        _ => return Err(USAGE.into()),
    };
    let listener = listen().await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// (a) No authentication: the subject the others read from the token, fixed.
fn none() -> Router {
    Router::new().route("/api/dashboard", get(|| async { dashboard("user1") }))
}

/// Our layer as the example servers build it (memory store, 1 h access tokens), with the
/// verified-token cache of `cache` entries (0: off).
fn ours(alg: Alg, cache: usize) -> Result<RefreshAuth, Box<dyn std::error::Error>> {
    let builder = match alg {
        Alg::Hs256 => RefreshAuth::builder().hs256(HS256_SECRET.as_bytes().to_vec()),
        Alg::Es256 => RefreshAuth::builder()
            .signing_key(SigningKey::from_private_key_pem(
                ES256_PRIVATE_PEM.as_bytes(),
            )?)
            .refresh_secret(REFRESH_SECRET.to_vec()),
        Alg::EdDsa => RefreshAuth::builder()
            .signing_key(SigningKey::from_private_key_pem(
                ED25519_PRIVATE_PEM.as_bytes(),
            )?)
            .refresh_secret(REFRESH_SECRET.to_vec()),
    };
    let builder = builder
        .access_ttl(Duration::from_secs(3600))
        .audience(AUDIENCE);
    let builder = if cache > 0 {
        builder.verified_token_cache(cache)
    } else {
        builder
    };
    Ok(builder.build()?)
}

/// (b), (c): our layer in front of the handler, which reads the claims with `AuthClaims`.
async fn with_ours(auth: RefreshAuth) -> Result<Router, Box<dyn std::error::Error>> {
    if let (Ok(n), Ok(out)) = (
        std::env::var("REFRESH_SESSIONS"),
        std::env::var("REFRESH_TOKENS_OUT"),
    ) {
        let mut lines = String::new();
        for _ in 0..n.parse::<usize>()? {
            let pair = auth.issue("user1", NoClaims {}).await?;
            lines.push_str(&pair.refresh_token);
            lines.push('\n');
        }
        std::fs::write(out, lines)?;
    }
    Ok(Router::new()
        .route(
            "/api/dashboard",
            get(|AuthClaims(claims): AuthClaims| async move { dashboard(&claims.sub) }),
        )
        .refresh_auth(&auth))
}

/// (c') our layer with the cache, the handler taking the claims with `SharedClaims`: the
/// `Arc` the layer and the cache share, no copy.
fn with_ours_shared(auth: RefreshAuth) -> Router {
    Router::new()
        .route(
            "/api/dashboard",
            get(|SharedClaims(claims): SharedClaims| async move { dashboard(&claims.sub) }),
        )
        .refresh_auth(&auth)
}

/// (g), (h): our verify-only layer, built from the JWK set the issuing layer publishes (read
/// once through its JWKS route), checking the same audience; the handler reads the claims
/// with `AuthClaims`, as behind the issuing layer.
async fn resource(alg: Alg, cache: usize) -> Result<Router, Box<dyn std::error::Error>> {
    let key = match alg {
        Alg::Hs256 => {
            return Err("a resource server verifies public keys only: ES256 or EdDSA".into());
        }
        Alg::Es256 => ES256_PRIVATE_PEM,
        Alg::EdDsa => ED25519_PRIVATE_PEM,
    };
    let issuing = RefreshAuth::<NoClaims>::builder()
        .signing_key(SigningKey::from_private_key_pem(key.as_bytes())?)
        .refresh_secret(REFRESH_SECRET.to_vec())
        .audience(AUDIENCE)
        .jwks(Jwks::new())
        .build()?;
    let req = http::Request::get("/.well-known/jwks.json").body(String::new())?;
    let Decision::Endpoint(route) = issuing.decide(req.method(), req.uri(), req.headers()) else {
        return Err("the issuing layer does not serve its JWKS".into());
    };
    let jwks = issuing.answer(route, req).await.into_body();
    let builder = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::from_jwks(jwks.to_vec()).audience(AUDIENCE));
    let builder = if cache > 0 {
        builder.verified_token_cache(cache)
    } else {
        builder
    };
    let server = builder.build()?;
    Ok(Router::new()
        .route(
            "/api/dashboard",
            get(|AuthClaims(claims): AuthClaims| async move { dashboard(&claims.sub) }),
        )
        .layer(server.layer()))
}

/// (e) axum-jwt-auth 0.7: its `LocalDecoder` in the state, its `Claims` extractor in the
/// handler. It enables jsonwebtoken 10's RustCrypto backend; with aws-lc's enabled too,
/// jsonwebtoken needs one installed, and aws-lc's it is, so the signature costs what ours
/// does and the difference is the middleware.
fn axum_jwt_auth(alg: Alg) -> Result<Router, Box<dyn std::error::Error>> {
    use jsonwebtoken10::crypto::{CryptoProvider, aws_lc};
    use jsonwebtoken10::{Algorithm, DecodingKey, Validation};
    CryptoProvider::install_default(&aws_lc::DEFAULT_PROVIDER)
        .map_err(|_| "a jsonwebtoken 10 provider was installed already")?;
    let (key, alg) = match alg {
        Alg::Hs256 => (
            DecodingKey::from_secret(HS256_SECRET.as_bytes()),
            Algorithm::HS256,
        ),
        Alg::Es256 => (
            DecodingKey::from_ec_pem(ES256_PUBLIC_PEM.as_bytes())?,
            Algorithm::ES256,
        ),
        Alg::EdDsa => (
            DecodingKey::from_ed_pem(ED25519_PUBLIC_PEM.as_bytes())?,
            Algorithm::EdDSA,
        ),
    };
    let mut validation = Validation::new(alg);
    validation.set_audience(&[AUDIENCE]);
    let decoder = axum_jwt_auth::LocalDecoder::builder()
        .keys(vec![key])
        .validation(validation)
        .build()?;
    #[derive(Clone, FromRef)]
    struct State {
        decoder: axum_jwt_auth::Decoder<PeerClaims>,
    }
    let state = State {
        decoder: Arc::new(decoder),
    };
    Ok(
        Router::new()
            .route(
                "/api/dashboard",
                get(|user: axum_jwt_auth::Claims<PeerClaims>| async move {
                    dashboard(&user.claims.sub)
                }),
            )
            .with_state(state),
    )
}

/// (f) What people write by hand: tower-http's `AsyncRequireAuthorization` calling
/// `jsonwebtoken::decode` (12, aws-lc, as ours) and putting the claims in the extensions.
fn tower_http(alg: Alg) -> Result<Router, Box<dyn std::error::Error>> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let (key, alg) = match alg {
        Alg::Hs256 => (
            DecodingKey::from_secret(HS256_SECRET.as_bytes())?,
            Algorithm::HS256,
        ),
        Alg::Es256 => (
            DecodingKey::from_ec_pem(ES256_PUBLIC_PEM.as_bytes())?,
            Algorithm::ES256,
        ),
        Alg::EdDsa => (
            DecodingKey::from_ed_pem(ED25519_PUBLIC_PEM.as_bytes())?,
            Algorithm::EdDSA,
        ),
    };
    let mut validation = Validation::new(alg);
    validation.set_audience(&[AUDIENCE]);
    let check = Bearer(Arc::new((key, validation)));
    Ok(Router::new()
        .route(
            "/api/dashboard",
            get(|Extension(claims): Extension<PeerClaims>| async move { dashboard(&claims.sub) }),
        )
        .layer(AsyncRequireAuthorizationLayer::new(check)))
}

#[derive(Clone)]
struct Bearer(Arc<(jsonwebtoken::DecodingKey, jsonwebtoken::Validation)>);

impl<B: Send + 'static> AsyncAuthorizeRequest<B> for Bearer {
    type RequestBody = B;
    type ResponseBody = axum::body::Body;
    type Future = std::future::Ready<Result<http::Request<B>, Response>>;

    fn authorize(&mut self, mut request: http::Request<B>) -> Self::Future {
        let (key, validation) = &*self.0;
        let claims = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| jsonwebtoken::decode::<PeerClaims>(t, key, validation).ok());
        std::future::ready(match claims {
            Some(data) => {
                request.extensions_mut().insert(data.claims);
                Ok(request)
            }
            None => Err(StatusCode::UNAUTHORIZED.into_response()),
        })
    }
}
