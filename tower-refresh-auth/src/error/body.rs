//! [`ErrorBody`]: the body of an error response as the application renders it.

use bytes::Bytes;
use http::HeaderValue;
use serde::Serialize;

use super::AuthError;

/// The body of an error response, as an application renders it: a content type and bytes.
///
/// Made by the function given to
/// [`RefreshAuthBuilder::error_body`](crate::RefreshAuthBuilder::error_body); the layer keeps
/// the status and the headers the RFCs require and uses this body.
///
/// ```
/// use tower_refresh_auth::{AuthError, error::ErrorBody};
///
/// let body = ErrorBody::json(&serde_json::json!({ "code": AuthError::InvalidGrant.status().as_u16() }));
/// assert_eq!(body.content_type(), "application/json");
/// assert_eq!(body.bytes().as_ref(), br#"{"code":400}"#);
/// ```
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub(crate) content_type: HeaderValue,
    pub(crate) bytes: Bytes,
}

impl ErrorBody {
    /// A body of `content_type`.
    pub fn new(content_type: HeaderValue, bytes: impl Into<Bytes>) -> Self {
        Self {
            content_type,
            bytes: bytes.into(),
        }
    }

    /// `value` serialized as JSON (`application/json`); `{}` if it cannot be serialized.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self::new(HeaderValue::from_static("application/json"), bytes)
    }

    /// Plain text (`text/plain; charset=utf-8`).
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(
            HeaderValue::from_static("text/plain; charset=utf-8"),
            text.into(),
        )
    }

    /// The protocol's own body: `{"error": "…", "error_description": "…"}`.
    pub fn standard(error: &AuthError) -> Self {
        let description = error.description();
        Self::json(&StandardBody {
            // RFC 6750 §3.1 forbids an error code in the challenge when credentials are
            // absent; the body still names the problem.
            error: error.error_code().unwrap_or("unauthorized"),
            error_description: &description,
        })
    }

    /// The `Content-Type` of the body.
    pub fn content_type(&self) -> &HeaderValue {
        &self.content_type
    }

    /// The body's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[derive(Serialize)]
struct StandardBody<'a> {
    error: &'a str,
    error_description: &'a str,
}
