//! The smallest poem application over tower-refresh-auth — copy this file to start.
//!
//! Run with: `JWT_SECRET=$(openssl rand -base64 48) cargo run -p poem-minimal`, then
//!
//! ```sh
//! curl -s 127.0.0.1:3000/login -H 'content-type: application/json' \
//!      -d '{"username":"user1","password":"password1"}'    # {"accessToken": …, "refreshToken": …}
//! curl -s 127.0.0.1:3000/api/dashboard -H "authorization: Bearer $ACCESS"   # {"message": …}
//! curl -s 127.0.0.1:3000/token -H 'content-type: application/json' -d "{\"refreshToken\":\"$REFRESH\"}"
//! curl -s 127.0.0.1:3000/logout -H 'content-type: application/json' -d "{\"refreshToken\":\"$REFRESH\"}"
//! ```
//!
//! A wrong password is answered `401 {"error": "invalid_credentials", …}`. Settings:
//! `JWT_SECRET` (required, at least 32 bytes: without it the program refuses to start, so
//! that tokens never silently stop verifying after a restart), `PORT` (default `3000`). The
//! sessions live in memory: a restart logs everyone out.

// ANCHOR: app
use poem::listener::TcpAcceptor;
use poem::web::{Data, Json};
use poem::{EndpointExt, Route, Server, get, handler, post};
use serde::{Deserialize, Serialize};
use tower_refresh_auth::{NoClaims, RefreshAuth};
use tower_refresh_auth_poem::{AuthClaims, ErrorResponse, RefreshAuthMiddleware, TokenResponse};

/// The one account of this demo. A real application checks an argon2 hash from its database.
const DEMO_USER: (&str, &str) = ("user1", "password1");

/// The body of `POST /login`.
#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// The body of `GET /api/dashboard`.
#[derive(Serialize)]
struct Message {
    message: String,
}

/// `POST /login`: the pair for the demo user, `401 invalid_credentials` for anyone else.
#[handler]
async fn login(
    auth: Data<&RefreshAuth>,
    Json(login): Json<Login>,
) -> Result<TokenResponse, ErrorResponse> {
    if (login.username.as_str(), login.password.as_str()) != DEMO_USER {
        return Err(ErrorResponse::invalid_credentials(&auth));
    }
    let pair = auth.issue(login.username, NoClaims {}).await?;
    Ok(TokenResponse::new(&auth, &pair))
}

/// `GET /api/dashboard`: the middleware has verified the bearer token; its subject is the
/// user.
#[handler]
fn dashboard(AuthClaims(claims): AuthClaims) -> Json<Message> {
    Json(Message {
        message: format!("Welcome to your dashboard, {}!", claims.sub),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("JWT_SECRET")
        .map_err(|_| "set JWT_SECRET to at least 32 random bytes (openssl rand -base64 48)")?;
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(secret.into_bytes())
        .public_path("/login")
        .build()?;

    // The middleware verifies every request's bearer token (but on `/login`) and answers
    // `POST /token` (refresh) and `POST /logout` itself.
    let app = Route::new()
        .at("/login", post(login))
        .at("/api/dashboard", get(dashboard))
        .data(auth.clone())
        .with(RefreshAuthMiddleware::new(auth));

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(
            app,
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
            None,
        )
        .await?;
    Ok(())
}
// ANCHOR_END: app
