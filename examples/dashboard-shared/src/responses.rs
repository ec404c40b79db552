//! The application's own responses, framework-free so both servers send the same bytes.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::{Deserialize, Serialize};

/// The largest login body read, in bytes.
const LOGIN_BODY_LIMIT: usize = 16 * 1024;

/// The login request, as JSON `{"username", "password"}` or a form.
#[derive(Deserialize)]
pub struct Credentials {
    /// The account name.
    pub username: String,
    /// The password, checked against the account's argon2 hash.
    pub password: String,
}

impl Credentials {
    /// Reads the credentials of a login request, JSON or form-encoded, at most 16 KiB.
    ///
    /// Both servers read the body here rather than with their framework's extractors, so that
    /// a malformed login is refused with the same status and body by both.
    ///
    /// # Errors
    ///
    /// The response to send instead: `415` for another content type, `413` for a body over
    /// the limit, `400` for a body without the two fields.
    pub async fn read<B>(headers: &HeaderMap, body: B) -> Result<Self, Response<String>>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let essence = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| ct.split(';').next())
            .map(|ct| ct.trim().to_ascii_lowercase());
        let form = match essence.as_deref() {
            Some("application/json") => false,
            Some("application/x-www-form-urlencoded") => true,
            _ => {
                return Err(invalid_request(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "send application/json or application/x-www-form-urlencoded",
                ));
            }
        };
        let bytes = match Limited::new(body, LOGIN_BODY_LIMIT).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return Err(invalid_request(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the login body is over 16 KiB or could not be read",
                ));
            }
        };
        let parsed = if form {
            serde_urlencoded::from_bytes(&bytes).ok()
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        parsed.ok_or_else(|| {
            invalid_request(
                StatusCode::BAD_REQUEST,
                "the body must carry a username and a password",
            )
        })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize)]
struct Message<'a> {
    message: &'a str,
}

#[derive(Serialize)]
struct LoginError {
    error: &'static str,
    error_description: &'static str,
}

fn json(status: StatusCode, body: &impl Serialize) -> Response<String> {
    // Serializing these plain structs cannot fail; `{}` is the safe fallback.
    let body = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn invalid_request(status: StatusCode, description: &'static str) -> Response<String> {
    json(
        status,
        &LoginError {
            error: "invalid_request",
            error_description: description,
        },
    )
}

/// `401 {"error": "invalid_credentials", …}`: an unknown user or a wrong password, one
/// answer for both.
pub fn invalid_credentials() -> Response<String> {
    json(
        StatusCode::UNAUTHORIZED,
        &LoginError {
            error: "invalid_credentials",
            error_description: "unknown user or wrong password",
        },
    )
}

/// `200 {"message": "…"}` for `GET /api/dashboard`, naming the user.
pub fn dashboard(user: &str) -> Response<String> {
    let message = format!("Welcome to your dashboard, {user}!");
    json(StatusCode::OK, &Message { message: &message })
}

/// A page, `text/html`.
pub fn html(page: &'static str) -> Response<String> {
    let mut res = Response::new(page.to_owned());
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res
}

/// `404 Not Found`, for a path no route serves.
pub fn not_found() -> Response<String> {
    let mut res = Response::new("not found".to_owned());
    *res.status_mut() = StatusCode::NOT_FOUND;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// `303 See Other` to `to`.
pub fn redirect(to: &'static str) -> Response<String> {
    let mut res = Response::new(String::new());
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    res
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use http_body_util::Full;

    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    async fn read(content_type: &str, body: &str) -> Result<Credentials, Response<String>> {
        Credentials::read(
            &headers(content_type),
            Full::<bytes::Bytes>::from(body.to_owned()),
        )
        .await
    }

    #[tokio::test]
    async fn json_and_form_logins_are_read() {
        let json = read(
            "application/json",
            r#"{"username":"user1","password":"p w"}"#,
        )
        .await
        .unwrap();
        assert_eq!(
            (json.username.as_str(), json.password.as_str()),
            ("user1", "p w")
        );
        let form = read(
            "application/x-www-form-urlencoded; charset=utf-8",
            "username=user1&password=p+w",
        )
        .await
        .unwrap();
        assert_eq!(
            (form.username.as_str(), form.password.as_str()),
            ("user1", "p w")
        );
    }

    #[tokio::test]
    async fn bad_logins_are_refused_with_json_errors() {
        let res = read("text/plain", "user1:password1").await.unwrap_err();
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let res = read("application/json", r#"{"username":"user1"}"#)
            .await
            .unwrap_err();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.body().contains("invalid_request"));
        let big = "x".repeat(LOGIN_BODY_LIMIT + 1);
        let res = read("application/json", &big).await.unwrap_err();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
