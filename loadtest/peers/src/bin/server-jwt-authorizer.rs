//! (d) jwt-authorizer 0.15 on the axum it supports (0.7), with the same handler body:
//!
//! ```text
//! server-jwt-authorizer <HS256|ES256|EdDSA>
//! ```
//!
//! Its layer verifies the bearer token (jsonwebtoken 9) and its `JwtClaims` extractor hands
//! the claims to the handler.

use axum07::http::HeaderValue;
use axum07::http::header::CACHE_CONTROL;
use axum07::response::{IntoResponse, Response};
use axum07::routing::get;
use axum07::{Json, Router};
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, JwtClaims, Validation};
use tower_refresh_auth_peers::{
    AUDIENCE, Alg, ED25519_PUBLIC_PEM, ES256_PUBLIC_PEM, HS256_SECRET, PeerClaims, Welcome, listen,
};

fn dashboard(subject: &str) -> Response {
    (
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(Welcome::to(subject)),
    )
        .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let alg = std::env::args()
        .nth(1)
        .as_deref()
        .and_then(Alg::parse)
        .ok_or("usage: server-jwt-authorizer <HS256|ES256|EdDSA>")?;
    let builder = match alg {
        Alg::Hs256 => JwtAuthorizer::<PeerClaims>::from_secret(HS256_SECRET),
        Alg::Es256 => JwtAuthorizer::<PeerClaims>::from_ec_pem_text(ES256_PUBLIC_PEM),
        Alg::EdDsa => JwtAuthorizer::<PeerClaims>::from_ed_pem_text(ED25519_PUBLIC_PEM),
    };
    let authorizer: Authorizer<PeerClaims> = builder
        .validation(Validation::new().aud(&[AUDIENCE]))
        .build()
        .await?;
    let app = Router::new()
        .route(
            "/api/dashboard",
            get(|JwtClaims(claims): JwtClaims<PeerClaims>| async move { dashboard(&claims.sub) }),
        )
        .layer(authorizer.into_layer());
    let listener = listen().await?;
    axum07::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
