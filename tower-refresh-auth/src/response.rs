//! Every response the layer writes itself — errors, token pairs, logout — is built here.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use crate::error::AuthError;

/// `Cache-Control: no-store` on everything that carries a token or an error (RFC 6749 §5.1).
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// How long a client should wait before retrying after a store failure, in seconds.
pub(crate) const RETRY_AFTER_SECS: HeaderValue = HeaderValue::from_static("1");

/// A refusal, ready to be rendered: the error and the realm of the layer that refused.
///
/// In optional mode and on public paths the layer does not answer a bad token itself; it puts
/// an `AuthRejection` into the request extensions instead, and the handler or an adapter's
/// extractor decides. [`into_response`](Self::into_response) renders exactly what the layer
/// would have sent.
#[derive(Debug, Clone)]
pub struct AuthRejection {
    error: Arc<AuthError>,
    realm: Arc<str>,
}

impl AuthRejection {
    pub(crate) fn new(error: AuthError, realm: Arc<str>) -> Self {
        Self {
            error: Arc::new(error),
            realm,
        }
    }

    /// Why the request was refused.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The realm of the layer that refused.
    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }

    /// The response the wire contract prescribes for this refusal.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        error_response(&self.error, &self.realm)
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

impl AuthError {
    /// The response the wire contract prescribes for this error, as a layer with the default
    /// realm (`api`) renders it.
    ///
    /// For handlers and adapters that get an error from [`RefreshAuth`](crate::RefreshAuth)'s
    /// methods without a request in hand (a login handler's `issue` failing with a store
    /// error, say). The realm only appears in the challenge of a refused access token; to
    /// render one with a configured realm, use
    /// [`RefreshAuth::rejection`](crate::RefreshAuth::rejection).
    pub fn into_response(self) -> Response<Full<Bytes>> {
        error_response(&self, DEFAULT_REALM)
    }
}

/// The realm of a layer built without `.realm(…)`.
const DEFAULT_REALM: &str = "api";

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// The one place an [`AuthError`] becomes a response.
pub(crate) fn error_response(err: &AuthError, realm: &str) -> Response<Full<Bytes>> {
    if let AuthError::Store(e) = err {
        tracing::error!(error = %e, "session store failed; answering 503");
    }
    let description = err.description();
    let body = ErrorBody {
        // RFC 6750 §3.1 forbids an error code in the challenge when credentials are absent;
        // the body still names the problem.
        error: err.error_code().unwrap_or("unauthorized"),
        error_description: &description,
    };
    let mut res = json(err.status(), &body);
    let headers = res.headers_mut();
    if let Some(value) = challenge(err, realm) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    match err {
        AuthError::MethodNotAllowed => {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        AuthError::Store(_) => {
            headers.insert(header::RETRY_AFTER, RETRY_AFTER_SECS);
        }
        _ => {}
    }
    res
}

/// The `WWW-Authenticate: Bearer` challenge of a refused protected request (RFC 6750 §3), or
/// `None` for errors that carry none.
pub(crate) fn challenge(err: &AuthError, realm: &str) -> Option<HeaderValue> {
    if !err.is_challenge() {
        return None;
    }
    let challenge = match err.error_code() {
        // RFC 6750 §3.1: no error code when credentials are absent.
        None => format!("Bearer realm=\"{realm}\""),
        Some(code) => format!(
            "Bearer realm=\"{realm}\", error=\"{code}\", error_description=\"{}\"",
            quoted_string_safe(&err.description())
        ),
    };
    HeaderValue::try_from(challenge).ok()
}

/// A JSON response with `Cache-Control: no-store`.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    // Serializing our own plain structs cannot fail; an empty object is the safe fallback.
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut res = Response::new(Full::new(Bytes::from(bytes)));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, JSON);
    res.headers_mut().insert(header::CACHE_CONTROL, NO_STORE);
    res
}

/// An empty response with `Cache-Control: no-store`.
pub(crate) fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CACHE_CONTROL, NO_STORE);
    res
}

/// RFC 6750 §3: `error_description` may only hold %x20-21 / %x23-5B / %x5D-7E.
fn quoted_string_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_has_a_bare_challenge() {
        let res = error_response(&AuthError::MissingCredentials, "api");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\""
        );
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn an_error_renders_itself_with_the_default_realm() {
        let res = crate::error::invalid_token("expired").into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"expired\""
        );
        let res = AuthError::InvalidGrant.into_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn descriptions_stay_inside_the_quoted_string_grammar() {
        assert_eq!(quoted_string_safe("a \"b\" \\ é\t"), "a ?b? ? ??");
    }
}
