//! The guide's cookie-mode application (docs/guide/src/browser.md, and the "after" side of
//! docs/guide/src/migrating/axum-login.md): the refresh token in an `HttpOnly` cookie, the
//! CSRF header on every request that sets it, driven here through the whole flow.

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

// ANCHOR: app
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_refresh_auth::transport::CookieTransport;
use tower_refresh_auth::{AuthError, ConfigError, NoClaims, RefreshAuth};
use tower_refresh_auth_axum::{AuthClaims, ErrorResponse, RouterExt, TokenResponse};

/// The header the page's script sends with every login, refresh and logout; a cross-site form
/// cannot send it without a CORS preflight.
const CSRF_HEADER: HeaderName = HeaderName::from_static("x-requested-with");

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// The layer in cookie mode: `POST /token` and `POST /logout` read the refresh token from an
/// `HttpOnly; Secure; SameSite=Strict` cookie and need the CSRF header.
fn auth(secret: &[u8]) -> Result<RefreshAuth, ConfigError> {
    RefreshAuth::<NoClaims>::builder()
        .hs256(secret.to_vec())
        .transport(CookieTransport::new().csrf_header(CSRF_HEADER.as_str()))
        .public_path("/login")
        .build()
}

/// `POST /login`: sets the refresh cookie and answers the access token as JSON. It sets a
/// cookie, so it needs the CSRF header too (login CSRF: a cross-site form could sign the
/// browser in to someone else's account).
async fn login(
    State(auth): State<RefreshAuth>,
    headers: HeaderMap,
    Json(login): Json<Login>,
) -> Result<TokenResponse, ErrorResponse> {
    if !headers.contains_key(&CSRF_HEADER) {
        return Err(AuthError::MissingCsrfHeader(CSRF_HEADER).into());
    }
    if (login.username.as_str(), login.password.as_str()) != ("user1", "password1") {
        return Err(ErrorResponse::invalid_credentials(&auth));
    }
    let pair = auth.issue(login.username, NoClaims {}).await?;
    Ok(TokenResponse::new(&auth, &pair))
}

async fn dashboard(AuthClaims(claims): AuthClaims) -> String {
    format!("Welcome to your dashboard, {}!", claims.sub)
}

fn app(auth: &RefreshAuth) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/api/dashboard", get(dashboard))
        .with_state(auth.clone())
        .refresh_auth(auth) // POST /token and POST /logout, cookie and CSRF header checked
}
// ANCHOR_END: app

const SECRET: &[u8] = b"an example secret of at least 32 bytes";

fn post_json(path: &str, csrf: bool, cookie: Option<&str>, body: &str) -> Request<Body> {
    let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if csrf {
        req = req.header(CSRF_HEADER, "fetch");
    }
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    req.body(Body::from(body.to_owned()))
        .expect("a valid request")
}

/// The `name=value` of the response's first refresh cookie.
fn refresh_cookie(res: &http::Response<Body>) -> String {
    let set = res
        .headers()
        .get(header::SET_COOKIE)
        .expect("a Set-Cookie header")
        .to_str()
        .expect("an ASCII cookie");
    assert!(set.contains("HttpOnly"), "{set}");
    set.split(';').next().expect("name=value").to_owned()
}

async fn json(res: http::Response<Body>) -> serde_json::Value {
    let bytes = res.into_body().collect().await.expect("a body").to_bytes();
    serde_json::from_slice(&bytes).expect("JSON")
}

#[tokio::test]
async fn the_cookie_mode_app_logs_in_refreshes_and_logs_out() {
    let auth = auth(SECRET).expect("a valid configuration");
    let app = app(&auth);
    let credentials = r#"{"username":"user1","password":"password1"}"#;

    // Without the CSRF header the login sets no cookie.
    let res = app
        .clone()
        .oneshot(post_json("/login", false, None, credentials))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get(header::SET_COOKIE).is_none());

    let res = app
        .clone()
        .oneshot(post_json("/login", true, None, credentials))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = refresh_cookie(&res);
    let body = json(res).await;
    assert!(
        body.get("refreshToken").is_none(),
        "the refresh token stays in the cookie"
    );
    let access = body["accessToken"]
        .as_str()
        .expect("an access token")
        .to_owned();

    let req = Request::get("/api/dashboard")
        .header(header::AUTHORIZATION, format!("Bearer {access}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );

    // A refresh needs the cookie and the header.
    let res = app
        .clone()
        .oneshot(post_json("/token", false, Some(&cookie), ""))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .clone()
        .oneshot(post_json("/token", true, Some(&cookie), ""))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = refresh_cookie(&res);

    let res = app
        .clone()
        .oneshot(post_json("/logout", true, Some(&cookie), ""))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .oneshot(post_json("/token", true, Some(&cookie), ""))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "the session is over");
}
