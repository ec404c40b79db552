//! The login's request and its refusals, framework-free so both servers send the same bytes.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tower_refresh_auth::AuthError;

use crate::users::Refusal;

/// The largest login body read, in bytes.
pub const LOGIN_BODY_LIMIT: usize = 16 * 1024;

/// The login request, as JSON `{"username", "password"}` or a form: what each server's
/// `Json` or `Form` extractor deserializes.
#[derive(Deserialize)]
pub struct Credentials {
    /// The account name.
    pub username: String,
    /// The password, checked against the account's argon2 hash.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How a login body is encoded, from its `Content-Type`: which extractor reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginBody {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

impl LoginBody {
    /// The encoding `headers` declare; `None` for any other content type (answer
    /// [`malformed_login`] with `415`).
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        let essence = headers
            .get(CONTENT_TYPE)?
            .to_str()
            .ok()?
            .split(';')
            .next()?
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(Self::Json),
            "application/x-www-form-urlencoded" => Some(Self::Form),
            _ => None,
        }
    }
}

/// The answer to a login body that cannot be read, from the status the framework's extractor
/// refused it with: `415` for another content type, `413` for a body over
/// [`LOGIN_BODY_LIMIT`], `400` for anything else (not JSON or a form, or without the two
/// fields). Both servers map their extractors' rejections through this, so a malformed login
/// gets the same status and body from both.
pub fn malformed_login(status: StatusCode) -> Response<String> {
    let (status, description) = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            status,
            "send application/json or application/x-www-form-urlencoded",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (status, "the login body is over 16 KiB or could not be read")
        }
        _ => (
            StatusCode::BAD_REQUEST,
            "the body must carry a username and a password",
        ),
    };
    json(status, "invalid_request", description)
}

/// The answer to a refused login: `401 invalid_credentials` (one answer for an unknown user
/// and a wrong password), `503 temporarily_unavailable` or `429 too_many_requests`, the last
/// two with `Retry-After`.
///
/// The servers answer the first with their adapter's `ErrorResponse::invalid_credentials`
/// (in the layer's error format); here it is the library's standard rendering of
/// [`AuthError::InvalidCredentials`], the same bytes.
pub fn login_refused(refusal: Refusal) -> Response<String> {
    match refusal {
        Refusal::InvalidCredentials => AuthError::InvalidCredentials
            .into_response()
            .map(|body| String::from_utf8_lossy(&body).into_owned()),
        Refusal::Busy => retry_after(
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the password checker is busy; try again shortly",
            ),
            1,
        ),
        Refusal::Throttled { retry_after: wait } => retry_after(
            json(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many failed logins for this username; try again later",
            ),
            wait.as_secs().max(1),
        ),
    }
}

/// `POST /reauth`'s body (docs/protocol.md §15): JSON `{"password": "…"}`, the signed-in
/// user's password typed again.
#[derive(Deserialize)]
pub struct Reauthentication {
    /// The password, checked against the signed-in user's argon2 hash.
    pub password: String,
}

impl std::fmt::Debug for Reauthentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reauthentication")
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The answer to a `POST /reauth` body that cannot be read, from the status the framework's
/// JSON extractor refused it with: `415` for another content type, `413` over
/// [`LOGIN_BODY_LIMIT`], `400` for anything else.
pub fn malformed_reauth(status: StatusCode) -> Response<String> {
    let (status, description) = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (status, "send application/json"),
        StatusCode::PAYLOAD_TOO_LARGE => (status, "the body is over 16 KiB or could not be read"),
        _ => (StatusCode::BAD_REQUEST, "the body must carry a password"),
    };
    json(status, "invalid_request", description)
}

/// `POST /api/sensitive`'s body when the login is fresh enough: `{"ok": true}`.
#[derive(Debug, Serialize)]
pub struct Done {
    /// Always `true`.
    pub ok: bool,
}

impl Done {
    /// `{"ok": true}`.
    pub const OK: Self = Self { ok: true };
}

/// `GET /api/dashboard`'s body, `{"message": "…"}`, naming the user.
#[derive(Debug, Serialize)]
pub struct Welcome {
    /// The greeting.
    pub message: String,
}

impl Welcome {
    /// The greeting for `user`.
    pub fn to(user: &str) -> Self {
        Self {
            message: format!("Welcome to your dashboard, {user}!"),
        }
    }
}

#[derive(Serialize)]
struct LoginError {
    error: &'static str,
    error_description: &'static str,
}

fn json(status: StatusCode, error: &'static str, description: &'static str) -> Response<String> {
    let body = LoginError {
        error,
        error_description: description,
    };
    // Serializing this plain struct cannot fail; `{}` is the safe fallback.
    let body = serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_owned());
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn retry_after(mut res: Response<String>, seconds: u64) -> Response<String> {
    res.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    res
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn the_content_type_picks_the_extractor() {
        assert_eq!(
            LoginBody::of(&headers("application/json")),
            Some(LoginBody::Json)
        );
        assert_eq!(
            LoginBody::of(&headers("Application/X-WWW-Form-Urlencoded; charset=utf-8")),
            Some(LoginBody::Form)
        );
        for other in [
            "text/plain",
            "application/problem+json",
            "multipart/form-data",
        ] {
            assert_eq!(LoginBody::of(&headers(other)), None, "{other}");
        }
        assert_eq!(LoginBody::of(&HeaderMap::new()), None);
    }

    #[test]
    fn malformed_logins_get_json_errors() {
        for (rejected, answered) in [
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (StatusCode::PAYLOAD_TOO_LARGE, StatusCode::PAYLOAD_TOO_LARGE),
            (StatusCode::UNPROCESSABLE_ENTITY, StatusCode::BAD_REQUEST),
            (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST),
        ] {
            let res = malformed_login(rejected);
            assert_eq!(res.status(), answered);
            assert!(res.body().contains(r#""error":"invalid_request""#));
            assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
        }
    }

    #[test]
    fn refusals_say_when_to_retry() {
        let busy = login_refused(Refusal::Busy);
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[RETRY_AFTER], "1");
        assert!(busy.body().contains("temporarily_unavailable"));
        let throttled = login_refused(Refusal::Throttled {
            retry_after: Duration::from_secs(6),
        });
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.headers()[RETRY_AFTER], "6");
        assert!(throttled.body().contains(r#""error":"too_many_requests""#));
        let wrong = login_refused(Refusal::InvalidCredentials);
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(wrong.headers().get(RETRY_AFTER).is_none());
        assert_eq!(
            wrong.body(),
            r#"{"error":"invalid_credentials","error_description":"unknown user or wrong password"}"#
        );
        assert_eq!(wrong.headers()[CACHE_CONTROL], "no-store");
    }
}
