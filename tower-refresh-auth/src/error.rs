//! The two error types: [`ConfigError`] when the layer is built, [`AuthError`] per request.
//!
//! A request error knows its HTTP status, its RFC error code and whether it carries a
//! `WWW-Authenticate` challenge, and is turned into a response in one place
//! ([`AuthRejection::into_response`](crate::AuthRejection::into_response)).

use std::borrow::Cow;

use http::StatusCode;

use crate::store::StoreError;

/// Bad configuration, refused by [`RefreshAuthBuilder::build`](crate::RefreshAuthBuilder::build).
///
/// Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No signing key was configured.
    #[error(
        "no signing key: call `.hs256(secret)` (or `.signing_key(SigningKey::…)`) on the builder"
    )]
    MissingSigningKey,
    /// An HMAC secret is shorter than its algorithm's hash.
    #[error(
        "the {alg:?} secret is {len} bytes; it must be at least {min} bytes (RFC 7518 §3.2): \
         generate one with `openssl rand -base64 48` and load it from the environment"
    )]
    WeakSecret {
        /// The algorithm the secret is for.
        alg: jsonwebtoken::Algorithm,
        /// The secret's length in bytes.
        len: usize,
        /// The shortest length accepted.
        min: usize,
    },
    /// The refresh-token MAC secret is too short.
    #[error(
        "the refresh-token secret is {len} bytes; it must be at least 32 bytes: \
         generate one with `openssl rand -base64 48`"
    )]
    WeakRefreshSecret {
        /// The secret's length in bytes.
        len: usize,
    },
    /// With an asymmetric signing key there is no HMAC secret to derive the refresh-token MAC
    /// key from.
    #[error(
        "an asymmetric signing key needs a separate refresh-token secret: call \
         `.refresh_secret(bytes)` with at least 32 random bytes shared by every instance"
    )]
    MissingRefreshSecret,
    /// A PEM or DER key could not be read.
    #[error("the {what} key could not be read: {source}")]
    InvalidKey {
        /// Which key.
        what: &'static str,
        /// Why.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// Two keys share one `kid`.
    #[error("two keys share the kid {0:?}: give each key its own `.with_kid(…)`")]
    DuplicateKid(String),
    /// No store was configured and the `memory-store` feature is off.
    #[error(
        "no session store: call `.store(…)` on the builder, or enable the `memory-store` feature"
    )]
    MissingStore,
    /// A lifetime that must be at least one second is shorter.
    #[error("`{0}` must be at least one second (token lifetimes are whole seconds)")]
    ZeroDuration(&'static str),
    /// The absolute session lifetime is shorter than one refresh-token lifetime.
    #[error(
        "the session lifetime ({lifetime:?}) is shorter than the refresh-token TTL ({refresh_ttl:?}): \
         raise `.session_lifetime(…)` or lower `.refresh_ttl(…)`"
    )]
    LifetimeShorterThanTtl {
        /// The absolute lifetime.
        lifetime: std::time::Duration,
        /// The refresh TTL.
        refresh_ttl: std::time::Duration,
    },
    /// A duration is longer than any setting may be.
    #[error(
        "`{setting}` is longer than {max:?} (ten years), the most any duration may be: \
         shorten it (a longer one would overflow a clock)"
    )]
    DurationTooLong {
        /// The builder method that set it.
        setting: &'static str,
        /// The longest accepted.
        max: std::time::Duration,
    },
    /// The CSRF header is one browsers send on simple cross-site requests, or set themselves.
    #[error(
        "the CSRF header {0:?} is sent by browsers on cross-site requests, so it proves nothing: \
         use a custom header such as `X-Requested-With`"
    )]
    CsrfHeaderSentByBrowsers(String),
    /// The grace window is as long as the refresh-token lifetime, which would make reuse
    /// detection meaningless.
    #[error("the reuse grace window ({0:?}) must be shorter than the refresh-token TTL")]
    GraceTooLong(std::time::Duration),
    /// A route path is not an absolute path, or two routes share one path.
    #[error(
        "invalid path {0:?}: paths must start with '/', and the refresh and logout paths must differ"
    )]
    InvalidPath(String),
    /// A cookie or header name is not a valid token.
    #[error("invalid {what} name {name:?}: use letters, digits and '-' or '_'")]
    InvalidName {
        /// Which name.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// The realm contains a character that cannot appear in a quoted string.
    #[error("the realm {0:?} may not contain '\"', '\\\\' or control characters")]
    InvalidRealm(String),
}

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
    /// The store failed or timed out: `503 temporarily_unavailable` with `Retry-After`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The application's claims could not be turned into a token: `500 server_error`.
    /// A bug in the application, never caused by a client.
    #[error("the application's claims are unusable: {0}")]
    Claims(Cow<'static, str>),
}

impl AuthError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingCredentials | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::MalformedCredentials(_)
            | Self::InvalidRequest(_)
            | Self::InvalidGrant
            | Self::UnsupportedGrantType => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::MissingCsrfHeader(_) => StatusCode::FORBIDDEN,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Claims(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::Store(_) => "temporarily_unavailable",
            Self::Claims(_) => "server_error",
        })
    }

    /// Whether the response carries a `WWW-Authenticate: Bearer` challenge: every refusal of
    /// a protected request (RFC 6750 §3), none of the endpoint errors (RFC 6749 §5.2).
    pub fn is_challenge(&self) -> bool {
        matches!(
            self,
            Self::MissingCredentials | Self::MalformedCredentials(_) | Self::InvalidToken(_)
        )
    }

    /// The human-readable `error_description`: safe to show a client, never a secret.
    pub fn description(&self) -> Cow<'static, str> {
        match self {
            Self::MissingCredentials => "authentication required".into(),
            Self::MalformedCredentials(d) | Self::InvalidToken(d) | Self::InvalidRequest(d) => {
                d.clone()
            }
            Self::InvalidGrant => "the refresh token is invalid, expired or revoked".into(),
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
            Self::Claims(_) => "internal error".into(),
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
