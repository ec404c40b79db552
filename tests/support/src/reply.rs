//! A response read whole, and the requests of the wire contract.

use std::fmt::Debug;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;

/// A response, read to the end: what tests assert on, and what two frameworks must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// A reply from its parts, e.g. those of an HTTP client's response.
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }

    /// Reads `res` to the end.
    ///
    /// # Panics
    ///
    /// If the body fails.
    pub async fn read<B>(res: Response<B>) -> Self
    where
        B: Body,
        B::Error: Debug,
    {
        let (parts, body) = res.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("the body failed: {e:?}"))
            .to_bytes();
        Self::new(parts.status, parts.headers, body)
    }

    /// The body as text (lossily, for messages and HTML).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The status and the body, for a failure message.
    pub fn describe(&self) -> String {
        format!("{} {}", self.status, self.text())
    }

    /// The body as JSON, or `None` when it is not JSON.
    pub fn try_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as JSON.
    ///
    /// # Panics
    ///
    /// If it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// The string field `name` of the JSON body.
    ///
    /// # Panics
    ///
    /// If there is none.
    pub fn field(&self, name: &str) -> String {
        match &self.json()[name] {
            serde_json::Value::String(s) => s.clone(),
            other => panic!("expected a string {name}, got {other} in {}", self.text()),
        }
    }

    /// The JSON body's `refreshToken`.
    pub fn refresh_token(&self) -> String {
        self.field("refreshToken")
    }

    /// The JSON body's `accessToken`.
    pub fn access_token(&self) -> String {
        self.field("accessToken")
    }

    /// The one value of header `name`.
    ///
    /// # Panics
    ///
    /// If the header is absent, repeated or not visible ASCII.
    pub fn header(&self, name: &str) -> &str {
        match self.headers(name).as_slice() {
            [value] => value,
            other => panic!(
                "expected one {name} header, got {other:?} in {:?}",
                self.headers
            ),
        }
    }

    /// Every value of header `name`, in arrival order.
    ///
    /// # Panics
    ///
    /// If one is not visible ASCII.
    pub fn headers(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| {
                v.to_str()
                    .unwrap_or_else(|_| panic!("{name} is not visible ASCII: {v:?}"))
            })
            .collect()
    }

    /// Asserts an error the layer wrote itself (RFC 6749 §5.2): the status, the JSON `error`
    /// code, a string `error_description`, and `Cache-Control: no-store`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        let json = self.json();
        assert_eq!(json["error"], code, "body: {}", self.text());
        assert!(
            json["error_description"].is_string(),
            "body: {}",
            self.text()
        );
        assert_eq!(self.header("cache-control"), "no-store");
    }

    /// Asserts a refusal of a guarded request: as [`assert_error`](Self::assert_error), plus
    /// the RFC 6750 challenge of realm `api` carrying the code and a description.
    #[track_caller]
    pub fn assert_challenge(&self, status: u16, code: &str) {
        self.assert_error(status, code);
        let challenge = self.header("www-authenticate");
        let want = format!(r#"Bearer realm="api", error="{code}", error_description=""#);
        assert!(challenge.starts_with(&want), "{challenge}");
        assert!(challenge.ends_with('"'), "{challenge}");
    }

    /// The JSON body's `error_description`.
    ///
    /// # Panics
    ///
    /// If there is none.
    pub fn error_description(&self) -> String {
        self.field("error_description")
    }
}

/// The JSON body of `POST /token` and `POST /logout` carrying `refresh_token`.
///
/// The token is pasted in as it is: the layer's tokens need no escaping, and a test can
/// inject JSON through it.
pub fn refresh_body(refresh_token: &str) -> String {
    format!(r#"{{"refreshToken":"{refresh_token}"}}"#)
}

/// A `POST` to `path` with a JSON body.
///
/// # Panics
///
/// If `path` is not a valid URI.
pub fn json_post<B: From<String>>(path: &str, body: impl Into<String>) -> Request<B> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(B::from(body.into()))
        .expect("a valid request")
}

/// `POST /token` with `refresh_token` in a JSON body.
pub fn refresh_request<B: From<String>>(refresh_token: &str) -> Request<B> {
    json_post("/token", refresh_body(refresh_token))
}

/// `POST /logout` with `refresh_token` in a JSON body.
pub fn logout_request<B: From<String>>(refresh_token: &str) -> Request<B> {
    json_post("/logout", refresh_body(refresh_token))
}

/// A `GET` of `path`, with `Authorization: Bearer <token>` when there is a token.
///
/// # Panics
///
/// If `path` or the token cannot be sent.
pub fn bearer_get<B: From<String>>(path: &str, token: Option<&str>) -> Request<B> {
    let mut req = Request::get(path);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req.body(B::from(String::new())).expect("a valid request")
}
