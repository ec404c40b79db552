//! Before: a hand-written axum middleware calling `jsonwebtoken::decode`; the login mints a
//! one-hour JWT. The guide's page docs/guide/src/migrating/jsonwebtoken.md shows it beside the
//! same app on tower-refresh-auth (examples/axum-minimal).

// ANCHOR: app
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header::AUTHORIZATION};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode};
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

/// The check every guarded request goes through: a bare `401` for anything wrong.
async fn require_jwt(
    State(key): State<DecodingKey>,
    mut request: Request,
    next: Next,
) -> Result<Response, StatusCode> {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let data = decode::<Claims>(token, &key, &Validation::default())
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    request.extensions_mut().insert(data.claims);
    Ok(next.run(request).await)
}

async fn dashboard(Extension(claims): Extension<Claims>) -> String {
    format!("Welcome to your dashboard, {}!", claims.sub)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = DecodingKey::from_secret(SECRET.as_bytes());
    let app = Router::new()
        .route("/api/dashboard", get(dashboard))
        .route_layer(middleware::from_fn_with_state(key, require_jwt))
        .route("/login", post(login)); // added after the layer: not guarded

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
// ANCHOR_END: app
