//! The refresh-token dashboard on axum: the routes of the wire contract's §6 over
//! `tower-refresh-auth` and its axum adapter.
//!
//! A library so the workspace's end-to-end suite can run the very app `main.rs` serves.

use std::future::Future;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dashboard_shared::{
    Credentials, DASHBOARD_PAGE, LOGIN_PAGE, Users, dashboard, html, invalid_credentials,
    not_found, redirect,
};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use tower_refresh_auth::{NoClaims, RefreshAuth};
use tower_refresh_auth_axum::{AuthClaims, ErrorResponse, RouterExt, TokenResponse};

#[derive(Clone)]
struct AppState {
    auth: RefreshAuth,
    users: Users,
}

/// The application: pages, login, the API, and the layer answering `/token` and `/logout`.
pub fn app(auth: RefreshAuth, users: Users) -> Router {
    let state = AppState {
        auth: auth.clone(),
        users,
    };
    Router::new()
        .route("/", get(|| async { redirect("/login.html") }))
        .route("/login", get(login_page).post(login))
        .route("/login.html", get(login_page))
        .route("/dashboard", get(dashboard_page))
        .route("/dashboard.html", get(dashboard_page))
        .route("/api/dashboard", get(api_dashboard))
        .fallback(|| async { not_found() })
        .with_state(state)
        .refresh_auth(&auth)
        .layer(TraceLayer::new_for_http())
}

/// Serves [`app`] on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
///
/// # Errors
///
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    auth: RefreshAuth,
    users: Users,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(auth, users))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn login_page() -> Response {
    html(LOGIN_PAGE).into_response()
}

async fn dashboard_page() -> Response {
    html(DASHBOARD_PAGE).into_response()
}

/// `POST /login`: checks the password, then starts a session.
async fn login(State(app): State<AppState>, req: Request) -> Result<Response, ErrorResponse> {
    let (parts, body) = req.into_parts();
    let credentials = match Credentials::read(&parts.headers, body).await {
        Ok(credentials) => credentials,
        Err(refusal) => return Ok(refusal.into_response()),
    };
    let Credentials { username, password } = credentials;
    if !app.users.verify(username.clone(), password).await {
        tracing::info!(%username, "login refused");
        return Ok(invalid_credentials().into_response());
    }
    // A store failure becomes `503 temporarily_unavailable` through `ErrorResponse`.
    let pair = app.auth.issue(username, NoClaims {}).await?;
    Ok(TokenResponse::new(&app.auth, &pair).into_response())
}

/// `GET /api/dashboard`: the layer has verified the bearer token.
async fn api_dashboard(AuthClaims(claims): AuthClaims) -> Response {
    dashboard(&claims.sub).into_response()
}
