//! [`AuthError`]: why a request was refused, with its status, RFC error code and
//! description; the helpers that make the common refusals.

use std::borrow::Cow;

use http::StatusCode;

use super::{DpopError, StepUpError};
use crate::store::StoreError;

/// Why the request was refused, or why an operation on a session failed.
///
/// Rendered by [`RefreshAuth::rejection`](crate::RefreshAuth::rejection) and
/// [`AuthRejection::into_response`](crate::AuthRejection::into_response) with the status, headers and
/// JSON body of docs/protocol.md (RFC 6750 for protected requests, RFC 6749 §5.2 for the
/// refresh and logout endpoints).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials at all: `401` with a bare challenge (RFC 6750 §3.1).
    #[error("authentication required")]
    MissingCredentials,
    /// Credentials that cannot be a bearer token: `400 invalid_request` with a challenge.
    #[error("malformed credentials: {0}")]
    MalformedCredentials(Cow<'static, str>),
    /// A bearer token that did not verify: `401 invalid_token` with a challenge.
    #[error("invalid access token: {0}")]
    InvalidToken(Cow<'static, str>),
    /// The application's own login refused the user's credentials (unknown user or wrong
    /// password): `401 invalid_credentials`, with no challenge (the login is no bearer-token
    /// request). The core never returns it: a login handler answers with it, through its
    /// adapter (`ErrorResponse::invalid_credentials`) or
    /// [`RefreshAuth::rejection`](crate::RefreshAuth::rejection), so the application's error
    /// body applies. One answer for both cases, so it is no oracle for which names exist.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A bad request to the refresh or logout endpoint: `400 invalid_request`.
    #[error("invalid request: {0}")]
    InvalidRequest(Cow<'static, str>),
    /// An unknown, expired, revoked, reused or forged refresh token: `400 invalid_grant`.
    /// One answer for every case, so it is no oracle.
    #[error("invalid refresh token")]
    InvalidGrant,
    /// A `grant_type` other than `refresh_token`: `400 unsupported_grant_type`.
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// A body over the limit: `413 invalid_request`.
    #[error("request body over {0} bytes")]
    PayloadTooLarge(usize),
    /// A content type the endpoint does not take: `415 invalid_request`.
    #[error("unsupported content type")]
    UnsupportedMediaType,
    /// A method other than `POST` on an endpoint: `405` with `Allow: POST`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A cookie-borne request without the CSRF header: `403 invalid_request`.
    #[error("missing the {0} header required with cookie credentials")]
    MissingCsrfHeader(http::HeaderName),
    /// A DPoP refusal (RFC 9449): a missing or invalid proof, a token sent with the DPoP
    /// scheme that did not verify, or a server nonce to use. See [`DpopError`].
    #[error(transparent)]
    Dpop(DpopError),
    /// The store failed or timed out: `503 temporarily_unavailable` with `Retry-After`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The application's claims could not be turned into a token: `500 server_error`.
    /// A bug in the application, never caused by a client.
    #[error("the application's claims are unusable: {0}")]
    Claims(Cow<'static, str>),
    /// The access token is good, but the login behind it is older, or of another class,
    /// than the request needs (a [step-up requirement](crate::step_up::StepUp), RFC 9470):
    /// `401 insufficient_user_authentication`, with a challenge that says what would do
    /// (`max_age`, `acr_values`). The client has the user authenticate again
    /// ([`reauthenticate`](crate::RefreshAuth::reauthenticate)) and retries.
    #[error(transparent)]
    InsufficientUserAuthentication(StepUpError),
    /// The application called something its store cannot do (the store does not implement
    /// the named capability trait, e.g. `SubjectIndex`): `500 server_error`. The builder
    /// refuses the configurations that would need it, so only a direct library call can.
    #[error("the session store does not implement `{0}`")]
    MissingCapability(&'static str),
    /// A request to the [introspection](crate::introspection) route without the configured
    /// client's credentials (RFC 6749 §2.3.1): `401 invalid_client` with a
    /// `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2). One answer for a missing, an
    /// unknown and a wrong credential.
    #[error("client authentication failed")]
    InvalidClient,
    /// Too many failed client authentications at the [introspection](crate::introspection)
    /// route: `429 too_many_requests` with `Retry-After`; the credentials were not checked.
    #[error("too many failed client authentications")]
    TooManyRequests {
        /// When to retry, in seconds (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// A resource server could not confirm the token's key: its key source has not answered
    /// yet, or has failed for longer than the configured maximum staleness
    /// ([`crate::resource`]). `503 temporarily_unavailable` with `Retry-After`: never `401`,
    /// since the token may be good, and never accepted on keys that could not be confirmed.
    #[error("the token issuer's keys are unavailable")]
    KeysUnavailable {
        /// When to retry, in seconds (the `Retry-After` header).
        retry_after_secs: u64,
    },
}

impl AuthError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingCredentials
            | Self::InvalidToken(_)
            | Self::InvalidCredentials
            | Self::InvalidClient
            | Self::InsufficientUserAuthentication(_) => StatusCode::UNAUTHORIZED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MalformedCredentials(_)
            | Self::InvalidRequest(_)
            | Self::InvalidGrant
            | Self::UnsupportedGrantType => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::MissingCsrfHeader(_) => StatusCode::FORBIDDEN,
            Self::Dpop(e) if e.resource => StatusCode::UNAUTHORIZED,
            Self::Dpop(_) => StatusCode::BAD_REQUEST,
            Self::Store(_) | Self::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Claims(_) | Self::MissingCapability(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6749 / RFC 6750 error code, if the response carries one.
    ///
    /// `None` only for [`MissingCredentials`](Self::MissingCredentials) (RFC 6750 §3.1: no
    /// error code when credentials are absent).
    pub fn error_code(&self) -> Option<&'static str> {
        Some(match self {
            Self::MissingCredentials => return None,
            Self::MalformedCredentials(_)
            | Self::InvalidRequest(_)
            | Self::PayloadTooLarge(_)
            | Self::UnsupportedMediaType
            | Self::MethodNotAllowed
            | Self::MissingCsrfHeader(_) => "invalid_request",
            Self::InvalidToken(_) => "invalid_token",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidClient => "invalid_client",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::InsufficientUserAuthentication(_) => "insufficient_user_authentication",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::Dpop(e) => e.code.as_str(),
            Self::Store(_) | Self::KeysUnavailable { .. } => "temporarily_unavailable",
            Self::Claims(_) | Self::MissingCapability(_) => "server_error",
        })
    }

    /// Whether the response carries a `WWW-Authenticate: Bearer` challenge: every refusal of
    /// a protected request (RFC 6750 §3), none of the endpoint errors (RFC 6749 §5.2).
    pub fn is_challenge(&self) -> bool {
        matches!(
            self,
            Self::MissingCredentials
                | Self::MalformedCredentials(_)
                | Self::InvalidToken(_)
                | Self::InsufficientUserAuthentication(_)
        ) || matches!(self, Self::Dpop(e) if e.resource)
    }

    /// The human-readable `error_description`: safe to show a client, never a secret.
    pub fn description(&self) -> Cow<'static, str> {
        match self {
            Self::MissingCredentials => "authentication required".into(),
            Self::MalformedCredentials(d) | Self::InvalidToken(d) | Self::InvalidRequest(d) => {
                d.clone()
            }
            Self::Dpop(e) => e.description.clone(),
            Self::InsufficientUserAuthentication(e) => e.description.clone(),
            Self::InvalidGrant => "the refresh token is invalid, expired or revoked".into(),
            Self::InvalidCredentials => "unknown user or wrong password".into(),
            Self::InvalidClient => "client authentication failed".into(),
            Self::TooManyRequests { .. } => {
                "too many failed client authentications; retry later".into()
            }
            Self::UnsupportedGrantType => "grant_type must be refresh_token".into(),
            Self::PayloadTooLarge(limit) => format!("request body over {limit} bytes").into(),
            Self::UnsupportedMediaType => {
                "send application/json or application/x-www-form-urlencoded".into()
            }
            Self::MethodNotAllowed => "use POST".into(),
            Self::MissingCsrfHeader(h) => {
                format!("requests with cookie credentials must carry the {h} header").into()
            }
            // The store's own error text stays in the logs.
            Self::Store(_) => "the session store is unavailable; retry shortly".into(),
            Self::KeysUnavailable { .. } => {
                "the keys of the token's issuer cannot be fetched; retry shortly".into()
            }
            Self::Claims(_) | Self::MissingCapability(_) => "internal error".into(),
        }
    }
}

/// Why an access token was refused; becomes [`AuthError::InvalidToken`].
pub(crate) fn invalid_token(reason: &'static str) -> AuthError {
    AuthError::InvalidToken(Cow::Borrowed(reason))
}

/// Why an endpoint request was refused; becomes [`AuthError::InvalidRequest`].
pub(crate) fn invalid_request(reason: &'static str) -> AuthError {
    AuthError::InvalidRequest(Cow::Borrowed(reason))
}

/// Why credentials could not be read; becomes [`AuthError::MalformedCredentials`].
pub(crate) fn malformed(reason: &'static str) -> AuthError {
    AuthError::MalformedCredentials(Cow::Borrowed(reason))
}
