//! The refresh-token dashboard on poem: the routes of docs/protocol.md §6 over
//! `tower-refresh-auth` and its poem adapter.
//!
//! Everything about tokens is in this file but the configuration, which both frameworks'
//! dashboards share ([`dashboard_shared::auth_builder`], called by [`auth_builder`]): [`app`]
//! puts the middleware in front of the routes, and the login handler issues the first pair.
//! `dashboard-shared` holds only what both frameworks' demos share (settings, the library's
//! configuration, the demo users and their password checker, the pages). A library so the workspace's
//! end-to-end suite can run the very app `main.rs` serves.

use std::future::Future;
use std::sync::Arc;

#[cfg(feature = "openapi")]
use dashboard_shared::openapi::OPENAPI_PATH;
use dashboard_shared::{
    Credentials, DASHBOARD_PAGE, DASHBOARD_SCRIPT, Done, JAVASCRIPT, LOGIN_BODY_LIMIT, LOGIN_PAGE,
    LOGIN_SCRIPT, LoggedName, LoggedPath, LoginBody, PROMETHEUS_TEXT, PrometheusHandle,
    Reauthentication, Refusal, Settings, Users, Welcome, login_refused, malformed_login,
    malformed_reauth,
};
use poem::error::{NotFoundError, ResponseError};
use poem::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use poem::http::{HeaderName, StatusCode};
use poem::listener::TcpAcceptor;
use poem::middleware::SetHeader;
use poem::web::{Data, Form, Html, Json, Redirect};
use poem::{
    Body, Endpoint, EndpointExt, FromRequest, IntoResponse, Request, RequestBody, Response, Route,
    Server, get, handler, post,
};
use tokio::net::TcpListener;
use tower_refresh_auth::session::Authentication;
use tower_refresh_auth::step_up::StepUp;
use tower_refresh_auth::store::RefreshStore;
use tower_refresh_auth::{AuthError, NoClaims, RefreshAuth, RefreshAuthBuilder};
use tower_refresh_auth_poem::{
    AuthClaims, DpopLogin, ErrorResponse, RefreshAuthMiddleware, StepUpClaims, TokenResponse,
};
use tracing::Instrument;

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

/// The document `GET /openapi.json` serves (feature `openapi`): the application's routes,
/// with the layer's merged in.
#[cfg(feature = "openapi")]
pub fn openapi(
    auth: &RefreshAuth,
    transport: tower_refresh_auth::transport::RefreshTransport,
) -> utoipa::openapi::OpenApi {
    let mut api = dashboard_shared::openapi::document(transport);
    // The layer's routes: the core's one description of them, read as a utoipa document
    // (what the axum adapter's `openapi::document` does), so both servers serve the same
    // document. (An application describing its own routes with poem-openapi merges it with
    // the poem adapter's `openapi::merge` instead.)
    api.merge(
        serde_json::from_value(auth.openapi())
            .expect("the layer's OpenAPI document is a valid utoipa document"),
    );
    api
}

/// The application: pages, login, the API, re-authentication, and the middleware answering
/// `/token`, `/logout` and, with a key file, the JWKS route. `settings` are the ones `auth`
/// was built from ([`auth_builder`]).
pub fn app(
    auth: RefreshAuth,
    users: Users,
    settings: &Settings,
) -> impl Endpoint<Output = Response> + use<> {
    let transport = settings.transport.clone();
    let state = AppState {
        auth: auth.clone(),
        users,
        cookie_mode: transport.is_cookie(),
    };
    let routes = Route::new()
        .at("/", get(root))
        .at("/login", get(login_page).post(login))
        .at("/login.html", get(login_page))
        .at("/login.js", get(login_script))
        .at("/dashboard", get(dashboard_page))
        .at("/dashboard.html", get(dashboard_page))
        .at("/dashboard.js", get(dashboard_script))
        .at("/api/dashboard", get(api_dashboard))
        // §15: a sensitive action, for a login no older than STEP_UP_MAX_AGE…
        .at(
            "/api/sensitive",
            post(api_sensitive).data(StepUp::max_age(settings.step_up_max_age)),
        )
        // …and the password typed again, to make it fresh without a new session.
        .at("/reauth", post(reauth));
    #[cfg(feature = "openapi")]
    let routes = {
        let document = openapi(&auth, transport)
            .to_json()
            .expect("an OpenAPI document serializes");
        routes.at(
            OPENAPI_PATH,
            get(poem::endpoint::make_sync(move |_| {
                document.clone().with_content_type("application/json")
            })),
        )
    };
    routes
        .catch_error(|_: NotFoundError| async { "not found".with_status(StatusCode::NOT_FOUND) })
        .data(state)
        // For the adapter's extractors that need the authority (`DpopLogin`).
        .data(auth.clone())
        .with(RefreshAuthMiddleware::new(auth))
        // Errors (an extractor's rejection) become their responses here, so that the headers
        // below are set on them too, as on every response, the middleware's refusals included.
        .catch_all_error(|err| async move { err.into_response() })
        .with(
            SetHeader::new()
                .overriding(
                    CONTENT_SECURITY_POLICY,
                    dashboard_shared::CONTENT_SECURITY_POLICY,
                )
                .overriding(X_CONTENT_TYPE_OPTIONS, "nosniff"),
        )
        .around(traced)
        .map_to_response()
}

/// The load test's ceiling (`loadtest/run.sh`, through `no-auth-ceiling poem` in
/// `loadtest/ceiling`): `GET /api/dashboard` with the same handler and the same middleware as
/// [`app`], but without the authentication middleware. The claims it would verify are those
/// of one token issued by `auth` at start-up, put into every request as the middleware puts
/// them (an `Arc<Claims>`); every other path is `404`.
///
/// # Errors
///
/// A store failure while issuing that token.
pub async fn ceiling_app(
    auth: &RefreshAuth,
) -> Result<impl Endpoint<Output = Response> + use<>, AuthError> {
    let pair = auth.issue("user1", NoClaims {}).await?;
    let claims = auth.verify(&pair.access_token)?;
    Ok(Route::new()
        .at("/api/dashboard", get(api_dashboard))
        .data(Arc::new(claims))
        .catch_all_error(|err| async move { err.into_response() })
        .with(
            SetHeader::new()
                .overriding(
                    CONTENT_SECURITY_POLICY,
                    dashboard_shared::CONTENT_SECURITY_POLICY,
                )
                .overriding(X_CONTENT_TYPE_OPTIONS, "nosniff"),
        )
        .around(traced)
        .map_to_response())
}

/// The `METRICS_ADDR` listener's one route: `GET /metrics`, the Prometheus text of every
/// metric the library (and anything else in the process) recorded. Served on its own
/// address, never on the application's port.
pub fn metrics_app(handle: PrometheusHandle) -> impl Endpoint<Output = Response> {
    Route::new()
        .at("/metrics", get(metrics).data(handle))
        .map_to_response()
}

#[handler]
fn metrics(handle: Data<&PrometheusHandle>) -> impl IntoResponse {
    handle.render().with_content_type(PROMETHEUS_TEXT)
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
///
/// # Errors
///
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    app: impl Endpoint + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(app, shutdown, None)
        .await
}

/// The shared, framework-free responses (the login's refusals) as poem responses.
fn from_http(res: http::Response<String>) -> Response {
    let (parts, body) = res.into_parts();
    let mut res = Response::builder()
        .status(parts.status)
        .body(Body::from_string(body));
    *res.headers_mut() = parts.headers;
    res
}

/// What poem's `Tracing` middleware logs at `INFO` — a `request` span with the peer, the
/// method and the path, a `response` or `error` event with the status and the duration — but
/// with the path escaped and truncated ([`LoggedPath`]) and no query string: poem's own logs
/// the URI as it came, so a raw control character in a request path (U+009B, U+0085,
/// U+2028) reached the log.
async fn traced<E: Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    let span = tracing::info_span!(
        "request",
        remote_addr = %req.remote_addr(),
        version = ?req.version(),
        method = %req.method(),
        path = %LoggedPath(req.uri().path()),
    );
    async move {
        let started = std::time::Instant::now();
        let res = next.call(req).await;
        let duration = started.elapsed();
        match res {
            Ok(res) => {
                let res = res.into_response();
                tracing::info!(status = %res.status(), ?duration, "response");
                Ok(res)
            }
            Err(err) => {
                tracing::info!(status = %err.status(), error = %err, ?duration, "error");
                Err(err)
            }
        }
    }
    .instrument(span)
    .await
}

#[handler]
fn root() -> Redirect {
    Redirect::see_other("/login.html")
}

#[handler]
fn login_page() -> Html<&'static str> {
    Html(LOGIN_PAGE)
}

#[handler]
fn dashboard_page() -> Html<&'static str> {
    Html(DASHBOARD_PAGE)
}

#[handler]
fn login_script() -> impl IntoResponse {
    LOGIN_SCRIPT.with_content_type(JAVASCRIPT)
}

#[handler]
fn dashboard_script() -> impl IntoResponse {
    DASHBOARD_SCRIPT.with_content_type(JAVASCRIPT)
}

/// `POST /login`: checks the password, then starts a session.
#[handler]
async fn login(
    req: &Request,
    app: Data<&AppState>,
    // The user agent, for the session list, and with DPOP on the request's proof (checked,
    // and spent) to bind the session to the browser's key.
    DpopLogin(metadata, ..): DpopLogin,
    LoginForm(credentials): LoginForm,
) -> Result<Response, ErrorResponse> {
    // §5: in cookie mode this response sets the refresh cookie; without the header a
    // cross-site form could sign the browser in to the attacker's account (login CSRF).
    if app.cookie_mode && !req.headers().contains_key(CSRF_HEADER) {
        return Err(AuthError::MissingCsrfHeader(CSRF_HEADER).into());
    }
    let Credentials { username, password } = credentials;
    if let Err(refusal) = app.users.verify(&username, password).await {
        tracing::info!(username = %LoggedName(&username), ?refusal, "login refused");
        // A wrong password or an unknown user: the adapter's `401 invalid_credentials`, in the
        // layer's error format; a throttle or a busy checker: this demo's own `429`/`503`.
        return match refusal {
            Refusal::InvalidCredentials => Err(ErrorResponse::invalid_credentials(&app.auth)),
            Refusal::Busy | Refusal::Throttled { .. } => Ok(from_http(login_refused(refusal))),
        };
    }
    // A store failure becomes `503 temporarily_unavailable` through `ErrorResponse`.
    let pair = app.auth.issue_with(username, NoClaims {}, metadata).await?;
    Ok(TokenResponse::new(&app.auth, &pair).into_response())
}

/// `POST /reauth` (§15): the signed-in user's password again, checked (and throttled) as at
/// login; then the session's `auth_time` rises and the answer is a new pair for the same
/// session, shaped as the login's.
#[handler]
async fn reauth(
    req: &Request,
    app: Data<&AppState>,
    AuthClaims(claims): AuthClaims,
    ReauthBody(Reauthentication { password }): ReauthBody,
) -> Result<Response, ErrorResponse> {
    // §5: in cookie mode this response sets the refresh cookie, as the login's does.
    if app.cookie_mode && !req.headers().contains_key(CSRF_HEADER) {
        return Err(AuthError::MissingCsrfHeader(CSRF_HEADER).into());
    }
    if let Err(refusal) = app.users.verify(&claims.sub, password).await {
        tracing::info!(username = %LoggedName(&claims.sub), ?refusal, "re-authentication refused");
        return match refusal {
            Refusal::InvalidCredentials => Err(ErrorResponse::invalid_credentials(&app.auth)),
            Refusal::Busy | Refusal::Throttled { .. } => Ok(from_http(login_refused(refusal))),
        };
    }
    // RFC 8176 `pwd`: a password, again. A revoked session is `401 invalid_token`.
    let how = Authentication::new().amr(["pwd"]);
    let pair = app.auth.reauthenticate(claims.session()?, how).await?;
    Ok(TokenResponse::new(&app.auth, &pair).into_response())
}

/// `POST /api/sensitive` (§15): only for a login no older than `STEP_UP_MAX_AGE`; the
/// extractor answers anything older with the RFC 9470 challenge.
#[handler]
fn api_sensitive(StepUpClaims(claims): StepUpClaims) -> impl IntoResponse {
    tracing::info!(username = %LoggedName(&claims.sub), "sensitive action");
    Json(Done::OK)
        .with_content_type("application/json")
        .with_header(CACHE_CONTROL, "no-store")
}

/// `GET /api/dashboard`: the middleware has verified the bearer token.
#[handler]
fn api_dashboard(AuthClaims(claims): AuthClaims) -> impl IntoResponse {
    // poem's `Json` says `application/json; charset=utf-8`; the contract's bytes say
    // `application/json`, as axum does.
    Json(Welcome::to(&claims.sub))
        .with_content_type("application/json")
        .with_header(CACHE_CONTROL, "no-store")
}

/// The `POST /reauth` body, JSON only, read (at most [`LOGIN_BODY_LIMIT`] bytes) then handed
/// to poem's [`Json`]; what it rejects is answered by [`malformed_reauth`], as axum's is.
struct ReauthBody(Reauthentication);

impl<'a> FromRequest<'a> for ReauthBody {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let refused = |status| poem::Error::from_response(from_http(malformed_reauth(status)));
        if LoginBody::of(req.headers()) != Some(LoginBody::Json) {
            return Err(refused(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = body
            .take()?
            .into_bytes_limit(LOGIN_BODY_LIMIT)
            .await
            .map_err(|err| refused(err.status()))?;
        let mut body = RequestBody::new(Body::from_bytes(bytes));
        Json::<Reauthentication>::from_request(req, &mut body)
            .await
            .map(|Json(body)| Self(body))
            .map_err(|err| refused(err.status()))
    }
}

/// The login body, JSON or a form by its `Content-Type`, read (at most
/// [`LOGIN_BODY_LIMIT`] bytes) then handed to poem's [`Json`] or [`Form`]; what they reject
/// is answered by [`malformed_login`], so both servers refuse a bad login alike.
struct LoginForm(Credentials);

impl<'a> FromRequest<'a> for LoginForm {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let refused = |status| poem::Error::from_response(from_http(malformed_login(status)));
        let kind = LoginBody::of(req.headers())
            .ok_or_else(|| refused(StatusCode::UNSUPPORTED_MEDIA_TYPE))?;
        // poem's extractors read the whole body: bound it first.
        let bytes = body
            .take()?
            .into_bytes_limit(LOGIN_BODY_LIMIT)
            .await
            .map_err(|err| refused(err.status()))?;
        let mut body = RequestBody::new(Body::from_bytes(bytes));
        let credentials = match kind {
            LoginBody::Json => Json::<Credentials>::from_request(req, &mut body)
                .await
                .map(|Json(credentials)| credentials),
            LoginBody::Form => Form::<Credentials>::from_request(req, &mut body)
                .await
                .map(|Form(credentials)| credentials),
        };
        credentials.map(Self).map_err(|err| refused(err.status()))
    }
}
