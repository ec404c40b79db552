//! The responses the layer writes itself — errors, logout, the session and key routes — are
//! built here (the token pair's body is serialized where it is made, in
//! `routes::token::pair_response`, into one buffer sized once), and this is the one place an
//! [`AuthError`] becomes a response (gRPC calls get theirs from
//! [`grpc`](crate::grpc), rejections pick between the two in [`rejection`](crate::rejection)).
//!
//! The status and the protocol's headers (`WWW-Authenticate`, `Cache-Control`, `Allow`,
//! `Retry-After`) always come from the error. The body is the protocol's JSON
//! (`docs/protocol.md` §1) unless the application renders its own with
//! [`error_body`](crate::RefreshAuthBuilder::error_body).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::clock::Clock;
use crate::dpop::Nonces;
use crate::error::{AuthError, ConfigError, DpopCode, ErrorBody};

/// `Cache-Control: no-store` on everything that carries a token or an error (RFC 6749 §5.1).
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// How long a client should wait before retrying after a store failure, in seconds.
pub(crate) const RETRY_AFTER_SECS: HeaderValue = HeaderValue::from_static("1");
/// RFC 9449 §8: the header a server nonce travels in.
pub(crate) const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");
/// The realm of a layer built without `.realm(…)`.
pub(crate) const DEFAULT_REALM: &str = "api";

/// The function an application renders error bodies with.
pub(crate) type ErrorBodyFn = dyn Fn(&AuthError) -> ErrorBody + Send + Sync;

/// How one layer renders its errors: its realm, optionally the application's bodies, and
/// with DPoP on, the DPoP challenge.
pub(crate) struct Renderer {
    pub(crate) realm: Arc<str>,
    body: Option<Arc<ErrorBodyFn>>,
    dpop: Option<DpopChallenge>,
}

/// What the DPoP challenge says (RFC 9449 §7.1), and where fresh nonces come from.
pub(crate) struct DpopChallenge {
    /// `ES256 EdDSA`: the `algs` parameter.
    pub(crate) algs: String,
    /// Optional mode: the Bearer challenge goes alongside.
    pub(crate) bearer_too: bool,
    /// With server nonces on: a `use_dpop_nonce` refusal carries a fresh one.
    pub(crate) nonces: Option<(Arc<Nonces>, Arc<dyn Clock>)>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("realm", &self.realm)
            .field("custom_body", &self.body.is_some())
            .field("dpop", &self.dpop.as_ref().map(|d| &d.algs))
            .finish()
    }
}

impl Renderer {
    pub(crate) fn new(realm: impl Into<Arc<str>>, body: Option<Arc<ErrorBodyFn>>) -> Self {
        Self {
            realm: realm.into(),
            body,
            dpop: None,
        }
    }

    /// A renderer for a realm as configured: refused when the realm cannot be written as a
    /// quoted string.
    pub(crate) fn checked(
        realm: String,
        body: Option<Arc<ErrorBodyFn>>,
    ) -> Result<Self, ConfigError> {
        if realm
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            return Err(ConfigError::InvalidRealm(realm));
        }
        Ok(Self::new(realm, body))
    }

    /// The same, with DPoP challenges.
    pub(crate) fn with_dpop(mut self, dpop: DpopChallenge) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// The `WWW-Authenticate` challenges for `err`: none for endpoint errors; the Bearer
    /// challenge (RFC 6750 §3); with DPoP required the DPoP one (RFC 9449 §7.1) instead, and
    /// with DPoP optional both, the error on the challenge of the scheme that failed.
    pub(crate) fn challenges(&self, err: &AuthError) -> Vec<HeaderValue> {
        if !err.is_challenge() {
            return Vec::new();
        }
        let Some(dpop) = &self.dpop else {
            return challenge(err, &self.realm).into_iter().collect();
        };
        let on_dpop = matches!(err, AuthError::Dpop(_)) || !dpop.bearer_too;
        let mut out = Vec::with_capacity(2);
        if dpop.bearer_too {
            let bearer = if on_dpop {
                challenge(&AuthError::MissingCredentials, &self.realm)
            } else {
                challenge(err, &self.realm)
            };
            out.extend(bearer);
        }
        let mut value = format!("DPoP algs=\"{}\"", dpop.algs);
        if on_dpop && let Some(code) = err.error_code() {
            value.push_str(&format!(
                ", error=\"{code}\", error_description=\"{}\"",
                quoted_string_safe(&err.description())
            ));
            push_step_up(&mut value, err);
        }
        out.extend(HeaderValue::try_from(value).ok());
        out
    }

    /// A fresh `DPoP-Nonce` for a `use_dpop_nonce` refusal, when nonces are on.
    pub(crate) fn nonce_for(&self, err: &AuthError) -> Option<HeaderValue> {
        let AuthError::Dpop(e) = err else { return None };
        if e.code() != DpopCode::UseNonce {
            return None;
        }
        let (nonces, clock) = self.dpop.as_ref()?.nonces.as_ref()?;
        HeaderValue::try_from(nonces.issue(clock.now())).ok()
    }

    /// The response for `err`: status and headers from the protocol, the body from the
    /// application's function if there is one.
    pub(crate) fn render(&self, err: &AuthError) -> Response<Bytes> {
        if let AuthError::Store(e) = err {
            tracing::error!(error = %e, "session store failed; answering 503");
        }
        let body = match &self.body {
            Some(render) => render(err),
            None => ErrorBody::standard(err),
        };
        let mut res = Response::new(body.bytes);
        *res.status_mut() = err.status();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, body.content_type);
        headers.insert(header::CACHE_CONTROL, NO_STORE);
        for challenge in self.challenges(err) {
            headers.append(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(nonce) = self.nonce_for(err) {
            headers.insert(DPOP_NONCE, nonce);
        }
        match err {
            AuthError::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            AuthError::Store(_) => {
                headers.insert(header::RETRY_AFTER, RETRY_AFTER_SECS);
            }
            // RFC 6749 §5.2: a failed client authentication is challenged with the scheme the
            // client used, HTTP Basic (RFC 7617).
            AuthError::InvalidClient => {
                if let Ok(challenge) =
                    HeaderValue::try_from(format!("Basic realm=\"{}\"", self.realm))
                {
                    headers.insert(header::WWW_AUTHENTICATE, challenge);
                }
            }
            AuthError::KeysUnavailable { retry_after_secs }
            | AuthError::TooManyRequests { retry_after_secs } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from((*retry_after_secs).max(1)),
                );
            }
            _ => {}
        }
        res
    }
}

/// The `WWW-Authenticate` challenge for a refused protected request (RFC 6750 §3), `None` for
/// errors that carry none.
pub(crate) fn challenge(err: &AuthError, realm: &str) -> Option<HeaderValue> {
    if !err.is_challenge() {
        return None;
    }
    let challenge = match err.error_code() {
        None => format!("Bearer realm=\"{realm}\""),
        Some(code) => {
            let mut challenge = format!(
                "Bearer realm=\"{realm}\", error=\"{code}\", error_description=\"{}\"",
                quoted_string_safe(&err.description())
            );
            push_step_up(&mut challenge, err);
            challenge
        }
    };
    HeaderValue::try_from(challenge).ok()
}

/// RFC 9470 §3: a step-up refusal's challenge says what would do — `max_age` (a token, the
/// seconds) and `acr_values` (a quoted string, space-separated).
fn push_step_up(challenge: &mut String, err: &AuthError) {
    let AuthError::InsufficientUserAuthentication(step_up) = err else {
        return;
    };
    if let Some(values) = step_up.acr_values() {
        challenge.push_str(&format!(", acr_values=\"{}\"", quoted_string_safe(values)));
    }
    if let Some(max_age) = step_up.max_age() {
        challenge.push_str(&format!(", max_age={max_age}"));
    }
}

impl AuthError {
    /// The response the protocol prescribes for this error, as a layer with the default
    /// realm (`api`) and the standard body renders it.
    ///
    /// For handlers and adapters that get an error from [`RefreshAuth`](crate::RefreshAuth)'s
    /// methods without a request in hand (a login handler's `issue` failing with a store
    /// error, say). To render one as a configured layer does (its realm, the application's
    /// error body), use [`RefreshAuth::rejection`](crate::RefreshAuth::rejection).
    pub fn into_response(self) -> Response<Bytes> {
        Renderer::new(DEFAULT_REALM, None).render(&self)
    }
}

/// A JSON response with `Cache-Control: no-store`.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Bytes> {
    json_sized(status, body, 128)
}

/// [`json`] into a buffer of `capacity` bytes, sized once by a caller that knows the length.
pub(crate) fn json_sized<T: Serialize>(
    status: StatusCode,
    body: &T,
    capacity: usize,
) -> Response<Bytes> {
    let mut bytes = Vec::with_capacity(capacity);
    // Serializing our own plain structs cannot fail; an empty object is the safe fallback.
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes = b"{}".to_vec();
    }
    let mut res = Response::new(Bytes::from(bytes));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, JSON);
    res.headers_mut().insert(header::CACHE_CONTROL, NO_STORE);
    res
}

/// An empty response with `Cache-Control: no-store`.
pub(crate) fn empty(status: StatusCode) -> Response<Bytes> {
    let mut res = Response::new(Bytes::new());
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

    fn standard() -> Renderer {
        Renderer::new(DEFAULT_REALM, None)
    }

    #[test]
    fn missing_credentials_has_a_bare_challenge() {
        let res = standard().render(&AuthError::MissingCredentials);
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\""
        );
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            res.body().as_ref(),
            br#"{"error":"unauthorized","error_description":"authentication required"}"#
        );
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
    fn a_refused_login_is_401_invalid_credentials_without_a_challenge() {
        let res = standard().render(&AuthError::InvalidCredentials);
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        // A login is no bearer-token request: nothing to challenge.
        assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            res.body().as_ref(),
            br#"{"error":"invalid_credentials","error_description":"unknown user or wrong password"}"#
        );
    }

    #[test]
    fn a_custom_body_keeps_the_status_and_the_protocol_headers() {
        let renderer = Renderer::new(
            "app",
            Some(Arc::new(|err: &AuthError| {
                ErrorBody::text(format!("nope: {}", err.status().as_u16()))
            })),
        );
        let res = renderer.render(&crate::error::invalid_token("expired"));
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"app\", error=\"invalid_token\", error_description=\"expired\""
        );
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(res.body().as_ref(), b"nope: 401");

        let res = renderer.render(&AuthError::MethodNotAllowed);
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::ALLOW], "POST");
        let res = renderer.render(&AuthError::Store(crate::store::StoreError::Timeout(
            std::time::Duration::from_secs(1),
        )));
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn descriptions_stay_inside_the_quoted_string_grammar() {
        assert_eq!(quoted_string_safe("a \"b\" \\ é\t"), "a ?b? ? ??");
    }
}
