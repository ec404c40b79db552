//! The refresh-token dashboard on poem: the routes of the wire contract's §6 over
//! `tower-refresh-auth` and its poem adapter.
//!
//! A library so the workspace's end-to-end suite can run the very app `main.rs` serves.

use std::future::Future;

use bytes::Bytes;
use dashboard_shared::{
    Credentials, DASHBOARD_PAGE, LOGIN_PAGE, Users, dashboard, html, invalid_credentials,
    not_found, redirect,
};
use http_body_util::combinators::BoxBody;
use poem::error::NotFoundError;
use poem::listener::TcpAcceptor;
use poem::middleware::Tracing;
use poem::web::Data;
use poem::{Body, Endpoint, EndpointExt, Request, Response, Route, Server, get, handler};
use tokio::net::TcpListener;
use tower_refresh_auth::{NoClaims, RefreshAuth};
use tower_refresh_auth_poem::{AuthClaims, ErrorResponse, RefreshAuthMiddleware, TokenResponse};

#[derive(Clone)]
struct AppState {
    auth: RefreshAuth,
    users: Users,
}

/// The application: pages, login, the API, and the middleware answering `/token` and
/// `/logout`.
pub fn app(auth: RefreshAuth, users: Users) -> impl Endpoint<Output = Response> {
    let state = AppState {
        auth: auth.clone(),
        users,
    };
    Route::new()
        .at("/", get(root))
        .at("/login", get(login_page).post(login))
        .at("/login.html", get(login_page))
        .at("/dashboard", get(dashboard_page))
        .at("/dashboard.html", get(dashboard_page))
        .at("/api/dashboard", get(api_dashboard))
        .catch_error(|_: NotFoundError| async { from_http(not_found()) })
        .data(state)
        .with(RefreshAuthMiddleware::new(auth))
        .with(Tracing)
        .map_to_response()
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
    Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(app(auth, users), shutdown, None)
        .await
}

/// The shared, framework-free responses as poem responses.
fn from_http(res: http::Response<String>) -> Response {
    let (parts, body) = res.into_parts();
    let mut res = Response::builder()
        .status(parts.status)
        .body(Body::from_string(body));
    *res.headers_mut() = parts.headers;
    res
}

#[handler]
fn root() -> Response {
    from_http(redirect("/login.html"))
}

#[handler]
fn login_page() -> Response {
    from_http(html(LOGIN_PAGE))
}

#[handler]
fn dashboard_page() -> Response {
    from_http(html(DASHBOARD_PAGE))
}

/// `POST /login`: checks the password, then starts a session.
#[handler]
async fn login(req: &Request, body: Body, app: Data<&AppState>) -> Result<Response, ErrorResponse> {
    let body: BoxBody<Bytes, std::io::Error> = body.into();
    let credentials = match Credentials::read(req.headers(), body).await {
        Ok(credentials) => credentials,
        Err(refusal) => return Ok(from_http(refusal)),
    };
    let Credentials { username, password } = credentials;
    if !app.users.verify(username.clone(), password).await {
        tracing::info!(%username, "login refused");
        return Ok(from_http(invalid_credentials()));
    }
    // A store failure becomes `503 temporarily_unavailable` through `ErrorResponse`.
    let pair = app.auth.issue(username, NoClaims {}).await?;
    Ok(poem::IntoResponse::into_response(TokenResponse::new(
        &app.auth, &pair,
    )))
}

/// `GET /api/dashboard`: the middleware has verified the bearer token.
#[handler]
fn api_dashboard(AuthClaims(claims): AuthClaims) -> Response {
    from_http(dashboard(&claims.sub))
}
