//! [`ConfigError`]: bad configuration, refused when the layer is built; each message says
//! how to fix it.

use std::borrow::Cow;
use std::time::Duration;

use super::{KeyFileProblem, KeyRingError};

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
    /// A resource server's key-fetching setting ([`KeyFetching`](crate::resource::KeyFetching))
    /// out of range; the message names it and says what it takes.
    #[error("key fetching: {0}")]
    KeyFetching(&'static str),
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

/// The [`RefreshStore`](crate::store::RefreshStore) method that hands out `capability`.
fn capability_method(capability: &str) -> &'static str {
    match capability {
        "SubjectIndex" => "subject_index",
        "RevocationFeed" => "revocation_feed",
        "ReauthStore" => "reauth",
        _ => "dpop",
    }
}
