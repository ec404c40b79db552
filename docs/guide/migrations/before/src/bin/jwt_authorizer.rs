//! Before: jwt-authorizer guards the API; the login mints a one-hour JWT with jsonwebtoken.
//! The guide's page docs/guide/src/migrating/jwt-authorizer.md shows it beside the same app on
//! tower-refresh-auth (examples/axum-minimal).

// ANCHOR: app
use std::time::{SystemTime, UNIX_EPOCH};

use axum07::routing::{get, post};
use axum07::{Json, Router, http::StatusCode};
use jsonwebtoken::{EncodingKey, Header, encode};
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, JwtClaims};
use serde::{Deserialize, Serialize};

const SECRET: &str = "at least 32 bytes of secret, from the environment";

#[derive(Serialize, Deserialize, Clone)]
struct Claims {
    sub: String,
    exp: u64,
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// `POST /login`: one token, valid for an hour; no refresh, no logout.
async fn login(Json(login): Json<Login>) -> Result<Json<serde_json::Value>, StatusCode> {
    if (login.username.as_str(), login.password.as_str()) != ("user1", "password1") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let claims = Claims {
        sub: login.username,
        exp: now.as_secs() + 3600,
    };
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let token =
        encode(&Header::default(), &claims, &key).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(serde_json::json!({ "token": token })))
}

async fn dashboard(JwtClaims(claims): JwtClaims<Claims>) -> String {
    format!("Welcome to your dashboard, {}!", claims.sub)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let authorizer: Authorizer<Claims> = JwtAuthorizer::from_secret(SECRET).build().await?;
    let app = Router::new()
        .route("/api/dashboard", get(dashboard))
        .layer(authorizer.into_layer())
        .route("/login", post(login)); // added after the layer: not guarded

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum07::serve(listener, app).await?;
    Ok(())
}
// ANCHOR_END: app
