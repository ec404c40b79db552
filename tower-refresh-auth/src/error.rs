//! The two error types: [`ConfigError`] when the layer is built, [`AuthError`] per request.
//!
//! A request error knows its HTTP status, its RFC error code and whether it carries a
//! `WWW-Authenticate` challenge, and is turned into a response in one place
//! ([`AuthRejection::into_response`](crate::AuthRejection::into_response)).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use crate::store::StoreError;

/// Bad configuration, refused by [`RefreshAuthBuilder::build`](crate::RefreshAuthBuilder::build).
///
/// Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No crypto backend: neither the `aws-lc` nor the `rust-crypto` feature is on, and no
    /// jsonwebtoken `CryptoProvider` was installed.
    #[error(
        "no JWT crypto backend: enable the `aws-lc` (default) or `rust-crypto` (pure Rust, no C \
         toolchain) feature of tower-refresh-auth, or install one with \
         `jsonwebtoken::crypto::CryptoProvider::install_default` before building the layer"
    )]
    NoCryptoBackend,
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
        alg: crate::Algorithm,
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
    /// A private key file (or PEM or DER bytes) that cannot sign access tokens.
    #[error("{origin}: {problem}")]
    KeyFile {
        /// The file's path, or `the PEM key` / `the DER key` for bytes.
        origin: String,
        /// What is wrong with it.
        problem: KeyFileProblem,
    },
    /// The JWKS route is on, but a key is an HMAC secret, which can never be published.
    #[error(
        "the JWKS route publishes public keys, but the key {kid:?} is an HMAC secret: sign with an \
         asymmetric key (`SigningKey::from_file(\"jwt.pem\")` with an ES256, EdDSA or RS256 key) \
         or turn the route off (no `.jwks(…)`)"
    )]
    SymmetricKeyPublished {
        /// The HMAC key's `kid`.
        kid: String,
    },
    /// The key overlap is shorter than an access token lives, so a rotation would log people
    /// out.
    #[error(
        "the key overlap ({overlap:?}) is shorter than an access token lives ({needed:?}, its TTL \
         plus the leeway): raise `.key_overlap(…)` or lower `.access_ttl(…)`, or a retired key \
         would stop verifying tokens that have not expired"
    )]
    OverlapTooShort {
        /// The configured overlap.
        overlap: Duration,
        /// The shortest accepted.
        needed: Duration,
    },
    /// The JWKS may be cached longer than a retired key stays published.
    #[error(
        "the JWKS max-age ({max_age:?}) is longer than the key overlap ({overlap:?}): lower \
         `Jwks::max_age(…)` or raise `.key_overlap(…)`"
    )]
    JwksMaxAgeTooLong {
        /// The configured max-age.
        max_age: Duration,
        /// The key overlap.
        overlap: Duration,
    },
    /// Two keys share one `kid`.
    #[error("two keys share the kid {0:?}: give each key its own `.with_kid(…)`")]
    DuplicateKid(String),
    /// No store was configured and the `memory-store` feature is off.
    #[error(
        "no session store: call `.store(…)` on the builder, or enable the `memory-store` feature"
    )]
    MissingStore,
    /// The configuration needs a store capability the configured store does not offer.
    #[error(
        "{needed_by} needs a store that implements `tower_refresh_auth::store::{capability}`, \
         and this one does not: use a store that does (every store of this crate does), or \
         implement it for yours and return `Some(self)` from `RefreshStore::{method}`",
        method = capability_method(capability)
    )]
    MissingCapability {
        /// What needs it: "sessions_route()", "DPoP".
        needed_by: &'static str,
        /// The capability trait's name.
        capability: &'static str,
    },
    /// The limit of live sessions per subject is zero, or larger than a login may read.
    #[error(
        "`max_sessions_per_subject({0})` is out of bounds: it must be from 1 to {max}; leave it \
         unset for the default of {default}, or raise it for accounts that log in from many \
         devices at once",
        max = crate::session::MAX_SESSIONS_PER_SUBJECT,
        default = crate::session::DEFAULT_MAX_SESSIONS_PER_SUBJECT
    )]
    SessionLimit(usize),
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
        "invalid path {0:?}: paths must start with '/', and the refresh, logout and JWKS paths must differ"
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
    /// DPoP is on, but the layer has no way to know the URL clients call it at (the proof's
    /// `htu` is compared with it).
    #[error(
        "DPoP needs the service's public URL: add `.origin(\"https://api.example.com\")` to the \
         `Dpop` settings, or `.origin_from_host(\"https\")` to trust the request's Host header \
         (read its warning)"
    )]
    MissingDpopOrigin,
    /// The DPoP origin is not an `http(s)://host[:port][/path]` URL.
    #[error(
        "the DPoP origin {0:?} must be an http or https URL without query, fragment or \
         credentials, such as `https://api.example.com`"
    )]
    InvalidDpopOrigin(String),
    /// DPoP server nonces were asked of a resource server without a secret (of at least 32
    /// bytes) to make them with.
    #[error(
        "DPoP server nonces need a secret of at least 32 bytes to make them: give the resource \
         server one of its own with `.dpop_nonce_secret(…)` (never the issuer's refresh-token \
         secret), or remove `.nonces(…)` from its `Dpop` settings"
    )]
    DpopNoncesWithoutSecret,
    /// The DPoP proof window is zero or longer than the most allowed.
    #[error("the DPoP proof window ({0:?}) must be between one second and five minutes")]
    DpopWindow(Duration),
    /// An algorithm that DPoP proofs may not use.
    #[error(
        "DPoP proofs may use ES256, ES384 or EdDSA, not {0:?} (never `none` or an HMAC, RFC 9449 §4.2)"
    )]
    DpopAlgorithm(crate::Algorithm),
    /// A resource server was built without an issuer to trust.
    #[error(
        "a resource server needs at least one issuer: call `.issuer(Issuer::discover(url))`, \
         `.issuer(Issuer::jwks_url(url))` or `.issuer(Issuer::from_jwks(json)?)` on the builder"
    )]
    NoIssuer,
    /// Two issuers of one resource server have the same `iss`, or more than one accepts any.
    #[error(
        "two issuers answer to {0:?}: each issuer needs its own `iss` (`Issuer::issuer`), and \
         only one may leave it unset"
    )]
    DuplicateIssuer(String),
    /// A key-source URL that cannot be used.
    #[error("the key source URL {url:?} is unusable: {reason}")]
    InvalidKeySource {
        /// The URL as given.
        url: String,
        /// Why: not absolute, not http(s), has credentials or a fragment.
        reason: &'static str,
    },
    /// A key source over plain `http` on a host that is not loopback.
    #[error(
        "the key source {url} is plain http on a host that is not loopback: use https, or allow \
         it with `.allow_insecure_http(true)` knowing that anyone on the network path can then \
         replace the keys and forge every token"
    )]
    InsecureKeySource {
        /// The URL as given.
        url: String,
    },
    /// A static JWK set that cannot be used.
    #[error("the JWK set is unusable: {0}")]
    InvalidJwks(Cow<'static, str>),
    /// Remote key sources fetch in the background, which needs a tokio runtime.
    #[error(
        "a remote key source (a JWKS or issuer URL) needs a tokio runtime: build the resource \
         server inside one (`#[tokio::main]`)"
    )]
    NoRuntime,
    /// [`SessionChecking::Feed`](crate::SessionChecking::Feed) was asked for outside a tokio
    /// runtime: its follower is a task.
    #[error(
        "`check_sessions(SessionChecking::Feed)` follows the store's revocation feed in a \
         task, so it needs a tokio runtime: build the layer inside one (`#[tokio::main]`)"
    )]
    FeedNeedsRuntime,
    /// The HTTP client for remote key sources could not be made.
    #[error("the HTTP client for key sources could not be made: {0}")]
    HttpClient(String),
    /// The introspection client's secret is short or repetitive.
    #[error(
        "the introspection client secret is {len} characters or too repetitive; it must be at \
         least 32 characters of some variety: generate one with `openssl rand -hex 32`"
    )]
    WeakIntrospectionSecret {
        /// The secret's length in bytes.
        len: usize,
    },
    /// The introspection client id or secret is empty, or has a character that clients must
    /// form-encode (RFC 6749 §2.3.1).
    #[error(
        "the introspection {0} must be non-empty and made of letters, digits, '-', '.', '_' and \
         '~' only (other characters are form-encoded differently by different clients)"
    )]
    InvalidIntrospectionClient(&'static str),
    /// Key rotation (`fleet::KeyRotation`) could not start: a weak
    /// key-encryption key, a stored ring that does not open, a store that cannot be reached.
    #[error("key rotation: {0}")]
    KeyRing(#[from] KeyRingError),
    /// Key rotation reads its keys from the store, which `build()` cannot wait for.
    #[error(
        "key rotation reads the key ring from the store: build with \
         `.build_with_key_rotation().await` instead of `.build()`"
    )]
    KeyRotationNeedsAsyncBuild,
    /// Key rotation and a signing key, a verifying key or a refresh secret of the builder's
    /// own: the ring makes and keeps every key.
    #[error(
        "key rotation makes and keeps the signing keys and refresh secrets itself: remove \
         `.{0}(…)` from the builder (or turn key rotation off)"
    )]
    KeyRotationWithKeys(&'static str),
    /// A key-rotation setting out of range.
    #[error("key rotation: {0}")]
    KeyRotationSetting(String),
    /// `build_with_key_rotation` without key rotation configured.
    #[error(
        "`build_with_key_rotation` needs `.key_rotation(KeyRotation::new(lifetime, kek))` on \
         the builder (or build with `.build()`)"
    )]
    MissingKeyRotation,
}

/// What went wrong with the key ring kept in the store (the `fleet` module, `key-rotation` feature).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// The key-encryption key is not 32 random bytes.
    #[error(
        "the key-encryption key is unusable ({reason}): give 32 random bytes, base64url \
         (for example `openssl rand 32 | basenc --base64url`)"
    )]
    WeakKek {
        /// Why it was refused.
        reason: String,
    },
    /// The key-encryption key's file could not be read.
    #[error("the key-encryption key file {path} cannot be read: {reason}")]
    KekFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The stored ring was sealed under a key-encryption key that is neither the configured
    /// one nor the previous one.
    #[error(
        "the key ring in the store (version {version}) was sealed under another key-encryption \
         key: configure the key it was sealed under, or give it as the previous key-encryption \
         key while rotating to a new one"
    )]
    WrongKek {
        /// The stored record's version.
        version: u64,
    },
    /// The stored ring names the configured key-encryption key but does not open under it:
    /// changed or planted by someone without the key. Refused; the last good ring stays.
    #[error(
        "the key ring in the store (version {version}) does not open under the key-encryption \
         key: it was changed or planted without the key, and is refused"
    )]
    Unsealed {
        /// The stored record's version.
        version: u64,
    },
    /// The stored ring is older than one this instance already used: refused.
    #[error(
        "the key ring in the store (version {stored}) is older than version {known}, already in use: refused"
    )]
    Rollback {
        /// The stored record's version.
        stored: u64,
        /// The version in use here.
        known: u64,
    },
    /// The stored ring opened but makes no sense.
    #[error("the key ring in the store is unusable: {0}")]
    Corrupt(String),
    /// The crypto backend could not make or seal a key.
    #[error(
        "the crypto backend could not make or seal a key: enable the `aws-lc` (default) or \
         `rust-crypto` feature of tower-refresh-auth"
    )]
    Crypto,
    /// The store could not be reached.
    #[error("the key ring's store: {0}")]
    Store(#[from] StoreError),
    /// A key directory that does not load: the file (or the directory) and why.
    #[error("key directory: {file}: {reason}")]
    KeyDir {
        /// The file or directory.
        file: String,
        /// Why.
        reason: String,
    },
}

/// What is wrong with a key file; part of [`ConfigError::KeyFile`], and re-exported as
/// [`keys::KeyFileProblem`](crate::keys::KeyFileProblem). Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFileProblem {
    /// The file could not be read.
    Unreadable(std::io::ErrorKind),
    /// An X.509 certificate rather than a private key.
    Certificate,
    /// A public key rather than a private key.
    PublicKey,
    /// A password-protected (PKCS#8 encrypted) private key.
    Encrypted,
    /// Neither a PEM nor a DER private key; the PEM label, if there was one.
    NotAPrivateKey(Option<String>),
    /// An elliptic curve other than P-256 and P-384 (named as in RFC 7518, `P-521`, or by OID).
    UnsupportedCurve(Cow<'static, str>),
    /// A key type other than RSA, EC and Ed25519 (`Ed448`, `X25519`, or an OID).
    UnsupportedKeyType(Cow<'static, str>),
    /// An RSA key shorter than 2048 bits.
    WeakRsaKey {
        /// The modulus length in bits.
        bits: usize,
    },
    /// The structure is recognised but broken.
    Malformed(&'static str),
    /// The signer refused the key.
    Refused,
}

impl KeyFileProblem {
    /// RFC 7518 §3.3: an RSA key for `RS256` must be at least 2048 bits.
    pub(crate) const MIN_RSA_BITS: usize = 2048;
}

impl fmt::Display for KeyFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SUPPORTED: &str = "use an ES256 (P-256), ES384 (P-384), EdDSA (Ed25519) or RS256 key, \
                                 e.g. `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`";
        match self {
            Self::Unreadable(kind) => write!(f, "cannot be read ({kind})"),
            Self::Certificate => f.write_str(
                "the file is a certificate, not a private key: give the private key it was issued for",
            ),
            Self::PublicKey => f.write_str(
                "a public key, not a private key: give the private key (its public half is derived from it)",
            ),
            Self::Encrypted => f.write_str(
                "the private key is encrypted: decrypt it first (`openssl pkey -in key.pem -out plain.pem`) \
                 and keep the plain file readable by the server only",
            ),
            Self::NotAPrivateKey(Some(label)) => write!(
                f,
                "not a private key (a PEM \"{label}\"): expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY"
            ),
            Self::NotAPrivateKey(None) => f.write_str(
                "not a private key: neither PEM nor a DER PKCS#8, SEC1 or PKCS#1 private key",
            ),
            Self::UnsupportedCurve(curve) => write!(f, "{curve} is not supported: {SUPPORTED}"),
            Self::UnsupportedKeyType(kind) => {
                write!(f, "{kind} keys are not supported: {SUPPORTED}")
            }
            Self::WeakRsaKey { bits } => write!(
                f,
                "the RSA key has {bits} bits; RS256 needs at least {} (RFC 7518 §3.3)",
                Self::MIN_RSA_BITS
            ),
            Self::Malformed(what) => write!(f, "malformed {what}"),
            Self::Refused => f.write_str("the key was refused by the signer (is it damaged?)"),
        }
    }
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

/// A DPoP refusal ([`AuthError::Dpop`]): what kind, where, and why.
///
/// At the refresh endpoint and at login it is `400` with no challenge (RFC 9449 §5); on a
/// protected request `401` with a `WWW-Authenticate: DPoP` challenge naming the error (§7.1).
/// A [`UseNonce`](DpopCode::UseNonce) response carries a fresh `DPoP-Nonce` (§8, §9).
#[derive(Debug, Clone, thiserror::Error)]
#[error("DPoP: {description}")]
pub struct DpopError {
    code: DpopCode,
    resource: bool,
    description: Cow<'static, str>,
}

/// The error code of a [`DpopError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopCode {
    /// `invalid_dpop_proof`: no proof where one is needed, or one that does not verify.
    InvalidProof,
    /// `invalid_token`: an access token sent with the DPoP scheme that did not verify, or is
    /// not bound to a key.
    InvalidToken,
    /// `use_dpop_nonce`: retry with the nonce in the `DPoP-Nonce` header.
    UseNonce,
}

impl DpopCode {
    /// The RFC 9449 error code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidProof => "invalid_dpop_proof",
            Self::InvalidToken => "invalid_token",
            Self::UseNonce => "use_dpop_nonce",
        }
    }
}

impl DpopError {
    /// A refusal at the refresh endpoint or a login (`400`).
    pub(crate) fn grant(code: DpopCode, description: impl Into<Cow<'static, str>>) -> AuthError {
        AuthError::Dpop(Self {
            code,
            resource: false,
            description: description.into(),
        })
    }

    /// A refusal of a protected request (`401` with a DPoP challenge).
    pub(crate) fn resource(code: DpopCode, description: impl Into<Cow<'static, str>>) -> AuthError {
        AuthError::Dpop(Self {
            code,
            resource: true,
            description: description.into(),
        })
    }

    /// The error code.
    pub fn code(&self) -> DpopCode {
        self.code
    }

    /// Whether a protected request was refused (`401` with a challenge), rather than a login
    /// or a refresh (`400`).
    pub fn is_resource(&self) -> bool {
        self.resource
    }
}

/// A step-up refusal ([`AuthError::InsufficientUserAuthentication`], RFC 9470 §3): what the
/// request needs of the authentication, as its challenge says it. Made by
/// [`StepUp::check`](crate::step_up::StepUp::check) when the login does not meet it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("insufficient user authentication: {description}")]
pub struct StepUpError {
    max_age: Option<u64>,
    acr_values: Option<String>,
    description: Cow<'static, str>,
}

impl StepUpError {
    pub(crate) fn new(
        max_age: Option<u64>,
        acr_values: Option<String>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            max_age,
            acr_values,
            description: description.into(),
        }
    }

    /// The challenge's `max_age`: the most seconds since the user authenticated that the
    /// request accepts, if it sets a limit.
    pub fn max_age(&self) -> Option<u64> {
        self.max_age
    }

    /// The challenge's `acr_values`: the classes of authentication the request accepts,
    /// space-separated, in the order of preference, if it names any.
    pub fn acr_values(&self) -> Option<&str> {
        self.acr_values.as_deref()
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

/// The [`RefreshStore`](crate::store::RefreshStore) method that hands out `capability`.
fn capability_method(capability: &str) -> &'static str {
    match capability {
        "SubjectIndex" => "subject_index",
        "RevocationFeed" => "revocation_feed",
        "ReauthStore" => "reauth",
        _ => "dpop",
    }
}

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
