//! The refresh-token dashboard on axum: the routes of docs/protocol.md §6 over
//! `tower-refresh-auth` and its axum adapter.
//!
//! Everything about tokens is in this file but the configuration, which both frameworks'
//! dashboards share ([`dashboard_shared::auth_builder`], called by [`auth_builder`]): [`app`]
//! puts the layer in front of the routes, and the login handler issues the first pair.
//! `dashboard-shared` holds only what both frameworks' demos share (settings, the library's
//! configuration, the demo users and their password checker, the pages). A library so the workspace's
//! end-to-end suite can run the very app `main.rs` serves.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::header::X_CONTENT_TYPE_OPTIONS;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json};
#[cfg(feature = "openapi")]
use dashboard_shared::openapi::OPENAPI_PATH;
use dashboard_shared::{
    Credentials, DASHBOARD_PAGE, DASHBOARD_SCRIPT, Done, JAVASCRIPT, LOGIN_BODY_LIMIT, LOGIN_PAGE,
    LOGIN_SCRIPT, LoggedName, LoggedPath, LoginBody, PROMETHEUS_TEXT, PrometheusHandle,
    Reauthentication, Refusal, Settings, Users, Welcome, login_refused, malformed_login,
    malformed_reauth,
};
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_refresh_auth::session::Authentication;
use tower_refresh_auth::step_up::StepUp;
use tower_refresh_auth::store::RefreshStore;
use tower_refresh_auth::{AuthError, NoClaims, RefreshAuth, RefreshAuthBuilder};
use tower_refresh_auth_axum::{
    AuthClaims, DpopLogin, ErrorResponse, RouterExt, StepUpClaims, TokenResponse,
};

/// The CSRF header of cookie mode (§5), sent by the pages' scripts.
const CSRF_HEADER: HeaderName = HeaderName::from_static(dashboard_shared::CSRF_HEADER);

/// The library configured from `settings`, with `store` (from
/// [`Settings::connect_store`]): build it with `.build()`. The configuration is
/// [`dashboard_shared::auth_builder`], the same for both frameworks; this build adds its API
/// document's path to the public ones when it serves the document (feature `openapi`).
pub fn auth_builder(
    settings: &Settings,
    store: Arc<dyn RefreshStore>,
) -> RefreshAuthBuilder<NoClaims> {
    let builder = dashboard_shared::auth_builder(settings, store);
    #[cfg(feature = "openapi")]
    let builder = builder.public_path(OPENAPI_PATH);
    builder
}

#[derive(Clone)]
struct AppState {
    auth: RefreshAuth,
    users: Users,
    /// Cookie mode: the login sets the refresh cookie, so it needs the CSRF header.
    cookie_mode: bool,
}

/// For the adapter's extractors that need the authority ([`DpopLogin`]).
impl axum::extract::FromRef<AppState> for RefreshAuth {
    fn from_ref(app: &AppState) -> Self {
        app.auth.clone()
    }
}

/// The document `GET /openapi.json` serves (feature `openapi`): the application's routes,
/// with the layer's merged in.
#[cfg(feature = "openapi")]
pub fn openapi(
    auth: &RefreshAuth,
    transport: tower_refresh_auth::transport::RefreshTransport,
) -> utoipa::openapi::OpenApi {
    let mut api = dashboard_shared::openapi::document(transport);
    api.merge(tower_refresh_auth_axum::openapi::document(auth));
    api
}

/// The application: pages, login, the API, re-authentication, and the layer answering
/// `/token`, `/logout` and, with a key file, the JWKS route. `settings` are the ones `auth`
/// was built from ([`auth_builder`]).
pub fn app(auth: RefreshAuth, users: Users, settings: &Settings) -> Router {
    let transport = settings.transport.clone();
    let state = AppState {
        auth: auth.clone(),
        users,
        cookie_mode: transport.is_cookie(),
    };
    let routes = Router::new()
        .route("/", get(|| async { Redirect::to("/login.html") }))
        .route(
            "/login",
            get(login_page)
                .post(login)
                .layer(DefaultBodyLimit::max(LOGIN_BODY_LIMIT)),
        )
        .route("/login.html", get(login_page))
        .route("/login.js", get(|| async { script(LOGIN_SCRIPT) }))
        .route("/dashboard", get(dashboard_page))
        .route("/dashboard.html", get(dashboard_page))
        .route("/dashboard.js", get(|| async { script(DASHBOARD_SCRIPT) }))
        .route("/api/dashboard", get(api_dashboard))
        // §15: a sensitive action, for a login no older than STEP_UP_MAX_AGE…
        .route(
            "/api/sensitive",
            post(api_sensitive).route_layer(Extension(StepUp::max_age(settings.step_up_max_age))),
        )
        // …and the password typed again, to make it fresh without a new session.
        .route(
            "/reauth",
            post(reauth).layer(DefaultBodyLimit::max(LOGIN_BODY_LIMIT)),
        );
    #[cfg(feature = "openapi")]
    let routes = {
        let document = axum::body::Bytes::from(
            openapi(&auth, transport)
                .to_json()
                .expect("an OpenAPI document serializes"),
        );
        routes.route(
            OPENAPI_PATH,
            get(|| async move { ([(CONTENT_TYPE, "application/json")], document) }),
        )
    };
    routes
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(state)
        .refresh_auth(&auth)
        // On every response, the layer's refusals included.
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(dashboard_shared::CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
}

/// The load test's ceiling (`loadtest/run.sh`, through `no-auth-ceiling axum` in
/// `loadtest/ceiling`): `GET /api/dashboard` with the same handler and the same response
/// layers as [`app`], but without the authentication layer. The claims it would verify are
/// those of one token issued by `auth` at start-up, put into every request as the layer puts
/// them (an `Arc<Claims>`); every other path is `404`.
///
/// # Errors
///
/// A store failure while issuing that token.
pub async fn ceiling_app(auth: &RefreshAuth) -> Result<Router, AuthError> {
    let pair = auth.issue("user1", NoClaims {}).await?;
    let claims = auth.verify(&pair.access_token)?;
    Ok(Router::new()
        .route("/api/dashboard", get(api_dashboard))
        .layer(axum::Extension(Arc::new(claims)))
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(dashboard_shared::CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span)))
}

/// The `METRICS_ADDR` listener's one route: `GET /metrics`, the Prometheus text of every
/// metric the library (and anything else in the process) recorded. Served on its own
/// address, never on the application's port.
pub fn metrics_app(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = handle.render();
            async move { ([(CONTENT_TYPE, PROMETHEUS_TEXT)], text) }
        }),
    )
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
///
/// # Errors
///
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The span tower-http's `TraceLayer` logs each request in (at `DEBUG`), as its default one
/// but with the path escaped and truncated ([`LoggedPath`]) and no query string: a raw
/// control character in a request path cannot forge or recolour a log line.
fn request_span(req: &Request) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %req.method(),
        path = %LoggedPath(req.uri().path()),
        version = ?req.version(),
    )
}

async fn login_page() -> Html<&'static str> {
    Html(LOGIN_PAGE)
}

async fn dashboard_page() -> Html<&'static str> {
    Html(DASHBOARD_PAGE)
}

fn script(source: &'static str) -> impl IntoResponse {
    ([(CONTENT_TYPE, JAVASCRIPT)], source)
}

/// `POST /login`: checks the password, then starts a session.
async fn login(
    State(app): State<AppState>,
    headers: HeaderMap,
    // The user agent, for the session list, and with DPOP on the request's proof (checked,
    // and spent) to bind the session to the browser's key.
    DpopLogin(metadata, ..): DpopLogin,
    LoginForm(credentials): LoginForm,
) -> Result<Response, ErrorResponse> {
    // §5: in cookie mode this response sets the refresh cookie; without the header a
    // cross-site form could sign the browser in to the attacker's account (login CSRF).
    if app.cookie_mode && !headers.contains_key(CSRF_HEADER) {
        return Err(AuthError::MissingCsrfHeader(CSRF_HEADER).into());
    }
    let Credentials { username, password } = credentials;
    if let Err(refusal) = app.users.verify(&username, password).await {
        tracing::info!(username = %LoggedName(&username), ?refusal, "login refused");
        // A wrong password or an unknown user: the adapter's `401 invalid_credentials`, in the
        // layer's error format; a throttle or a busy checker: this demo's own `429`/`503`.
        return match refusal {
            Refusal::InvalidCredentials => Err(ErrorResponse::invalid_credentials(&app.auth)),
            Refusal::Busy | Refusal::Throttled { .. } => Ok(login_refused(refusal).into_response()),
        };
    }
    // A store failure becomes `503 temporarily_unavailable` through `ErrorResponse`.
    let pair = app.auth.issue_with(username, NoClaims {}, metadata).await?;
    Ok(TokenResponse::new(&app.auth, &pair).into_response())
}

/// `POST /reauth` (§15): the signed-in user's password again, checked (and throttled) as at
/// login; then the session's `auth_time` rises and the answer is a new pair for the same
/// session, shaped as the login's.
async fn reauth(
    State(app): State<AppState>,
    headers: HeaderMap,
    AuthClaims(claims): AuthClaims,
    body: Result<Json<Reauthentication>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ErrorResponse> {
    // §5: in cookie mode this response sets the refresh cookie, as the login's does.
    if app.cookie_mode && !headers.contains_key(CSRF_HEADER) {
        return Err(AuthError::MissingCsrfHeader(CSRF_HEADER).into());
    }
    let Json(Reauthentication { password }) = match body {
        Ok(body) => body,
        Err(rejection) => return Ok(malformed_reauth(rejection.status()).into_response()),
    };
    if let Err(refusal) = app.users.verify(&claims.sub, password).await {
        tracing::info!(username = %LoggedName(&claims.sub), ?refusal, "re-authentication refused");
        return match refusal {
            Refusal::InvalidCredentials => Err(ErrorResponse::invalid_credentials(&app.auth)),
            Refusal::Busy | Refusal::Throttled { .. } => Ok(login_refused(refusal).into_response()),
        };
    }
    // RFC 8176 `pwd`: a password, again. A revoked session is `401 invalid_token`.
    let how = Authentication::new().amr(["pwd"]);
    let pair = app.auth.reauthenticate(claims.session()?, how).await?;
    Ok(TokenResponse::new(&app.auth, &pair).into_response())
}

/// `POST /api/sensitive` (§15): only for a login no older than `STEP_UP_MAX_AGE`; the
/// extractor answers anything older with the RFC 9470 challenge.
async fn api_sensitive(StepUpClaims(claims): StepUpClaims) -> impl IntoResponse {
    tracing::info!(username = %LoggedName(&claims.sub), "sensitive action");
    ([(CACHE_CONTROL, "no-store")], Json(Done::OK))
}

/// `GET /api/dashboard`: the layer has verified the bearer token.
async fn api_dashboard(AuthClaims(claims): AuthClaims) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, "no-store")],
        Json(Welcome::to(&claims.sub)),
    )
}

/// The login body, JSON or a form by its `Content-Type`, read by axum's [`Json`] or [`Form`]
/// (at most [`LOGIN_BODY_LIMIT`] bytes); what they reject is answered by
/// [`malformed_login`], so both servers refuse a bad login alike.
struct LoginForm(Credentials);

impl<S: Send + Sync> FromRequest<S> for LoginForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let credentials = match LoginBody::of(req.headers()) {
            Some(LoginBody::Json) => Json::<Credentials>::from_request(req, state)
                .await
                .map(|Json(credentials)| credentials)
                .map_err(|rejection| rejection.status()),
            Some(LoginBody::Form) => Form::<Credentials>::from_request(req, state)
                .await
                .map(|Form(credentials)| credentials)
                .map_err(|rejection| rejection.status()),
            None => Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        };
        credentials
            .map(Self)
            .map_err(|status| malformed_login(status).into_response())
    }
}
