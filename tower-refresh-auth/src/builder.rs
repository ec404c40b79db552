//! [`RefreshAuthBuilder`]: one builder, validated once, in [`build`](RefreshAuthBuilder::build).
//!
//! Every setting is checked when the layer is built, and refused with a [`ConfigError`] that
//! says how to fix it; nothing is checked again per request.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::authority::RefreshAuth;
use crate::cache::TokenCache;
use crate::clock::{Clock, SystemClock};
use crate::dpop::{DpopMode, DpopSettings, Nonces, Origin, ProofRules, SUPPORTED as DPOP_ALGS};
use crate::error::ErrorBody;
use crate::error::{AuthError, ConfigError};
use crate::events::{EventFn, Events, SecurityEvent};
use crate::guard::{DEFAULT_JWKS_PATH, Guard};
use crate::keys::Algorithm;
use crate::keys::{SigningKey, VerifyingKey};
use crate::response::{DpopChallenge, ErrorBodyFn, Renderer};
use crate::session::{DEFAULT_MAX_SESSIONS_PER_SUBJECT, MAX_SESSIONS_PER_SUBJECT};
use crate::shared::Shared;
use crate::store::RefreshStore;
use crate::token::access::AccessTokens;
use crate::token::refresh::SessionKeys;
use crate::transport::{CookieSettings, RefreshTransport, Transport};

impl<C> RefreshAuth<C> {
    /// A builder with the defaults of the protocol document: access tokens for 1 minute,
    /// refresh tokens for 7 days, a 10 second reuse grace window, `POST /token` and
    /// `POST /logout`, every path guarded, tokens in the request body, the in-memory store.
    pub fn builder() -> RefreshAuthBuilder<C> {
        RefreshAuthBuilder::new()
    }
}

/// Builds a [`RefreshAuth`]; every setting is checked once, in [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
///
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .access_ttl(Duration::from_secs(60))
///     .refresh_ttl(Duration::from_secs(7 * 24 * 3600))
///     .public_path("/login")
///     .public_prefix("/static/")
///     .build()
///     .expect("valid configuration");
/// # let _ = auth;
///
/// // Weak configuration is refused with a message that says how to fix it.
/// let err = RefreshAuth::<NoClaims>::builder().hs256(b"short".to_vec()).build().unwrap_err();
/// assert!(err.to_string().contains("at least 32 bytes"));
/// ```
#[must_use = "call `.build()` to get a `RefreshAuth`"]
pub struct RefreshAuthBuilder<C> {
    signing: Option<SigningKey>,
    verifying: Vec<VerifyingKey>,
    refresh_secret: Option<Vec<u8>>,
    previous_refresh_secrets: Vec<Vec<u8>>,
    access_ttl: Duration,
    refresh_ttl: Duration,
    grace: Duration,
    session_lifetime: Option<Duration>,
    /// `None`: the default, when the store keeps a subject index.
    max_sessions: Option<usize>,
    leeway: Duration,
    issuer: Option<String>,
    audience: Option<String>,
    store: Option<Arc<dyn RefreshStore>>,
    clock: Arc<dyn Clock>,
    guard: Guard,
    check_sessions: bool,
    body_limit: usize,
    transport: RefreshTransport,
    cookie_name: String,
    cookie_secure: bool,
    csrf_header: String,
    access_cookie: Option<String>,
    realm: String,
    error_body: Option<Arc<ErrorBodyFn>>,
    cache_capacity: Option<usize>,
    on_event: Option<Arc<EventFn>>,
    key_overlap: Option<Duration>,
    jwks_max_age: Option<Duration>,
    dpop: DpopMode,
    dpop_origin: Option<DpopOrigin>,
    dpop_window: Duration,
    dpop_algs: Vec<Algorithm>,
    dpop_nonce_period: Option<Duration>,
    _claims: PhantomData<fn() -> C>,
}

/// Where the public URL for `htu` comes from, as given to the builder.
#[derive(Debug, Clone)]
enum DpopOrigin {
    Fixed(String),
    Host(String),
}

impl<C> std::fmt::Debug for RefreshAuthBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshAuthBuilder")
            .field("signing", &self.signing)
            .field("verifying", &self.verifying)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("grace", &self.grace)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl<C> RefreshAuthBuilder<C> {
    pub(crate) fn new() -> Self {
        Self {
            signing: None,
            verifying: Vec::new(),
            refresh_secret: None,
            previous_refresh_secrets: Vec::new(),
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            grace: Duration::from_secs(10),
            session_lifetime: None,
            max_sessions: None,
            leeway: Duration::ZERO,
            issuer: None,
            audience: None,
            store: None,
            clock: Arc::new(SystemClock),
            guard: Guard::default(),
            check_sessions: false,
            body_limit: 16 * 1024,
            transport: RefreshTransport::Body,
            cookie_name: "refresh_token".into(),
            cookie_secure: true,
            csrf_header: "x-requested-with".into(),
            access_cookie: None,
            realm: crate::response::DEFAULT_REALM.into(),
            error_body: None,
            cache_capacity: None,
            on_event: None,
            key_overlap: None,
            jwks_max_age: None,
            dpop: DpopMode::Off,
            dpop_origin: None,
            dpop_window: Duration::from_secs(60),
            dpop_algs: vec![Algorithm::ES256, Algorithm::EdDSA],
            dpop_nonce_period: None,
            _claims: PhantomData,
        }
    }

    /// Signs access tokens with HMAC-SHA256 under `secret` (at least 32 bytes).
    ///
    /// Unless [`refresh_secret`](Self::refresh_secret) is set, the refresh-token MAC key is
    /// derived from the same secret under a separate label.
    pub fn hs256(self, secret: impl Into<Vec<u8>>) -> Self {
        self.signing_key(SigningKey::hmac(Algorithm::HS256, secret))
    }

    /// Signs access tokens with HMAC-SHA384 under `secret` (at least 48 bytes).
    pub fn hs384(self, secret: impl Into<Vec<u8>>) -> Self {
        self.signing_key(SigningKey::hmac(Algorithm::HS384, secret))
    }

    /// Signs access tokens with HMAC-SHA512 under `secret` (at least 64 bytes).
    pub fn hs512(self, secret: impl Into<Vec<u8>>) -> Self {
        self.signing_key(SigningKey::hmac(Algorithm::HS512, secret))
    }

    /// Signs access tokens with `key` (any supported algorithm). Only this key's algorithm
    /// is accepted when verifying it (RFC 8725 §3.1).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.signing = Some(key);
        self
    }

    /// Also accepts tokens signed by `key`: keep the previous signing key here for one
    /// access-token lifetime after a rotation, so nobody is logged out. Tokens must name it by
    /// its `kid`.
    ///
    /// Without a [`refresh_secret`](Self::refresh_secret), refresh tokens and session seals
    /// are keyed from the HMAC secrets, this key's included: as with a
    /// [previous refresh secret](Self::previous_refresh_secret), a session refreshed while
    /// the old key is listed here moves to the new one, and removing it ends only the
    /// sessions that were not refreshed meanwhile.
    pub fn previous_key(mut self, key: VerifyingKey) -> Self {
        self.verifying.push(key);
        self
    }

    /// The secret refresh tokens are MACed with (at least 32 bytes), shared by every
    /// instance. Required with an asymmetric signing key.
    ///
    /// # Warning
    ///
    /// Anyone who holds this secret can mint refresh tokens for any session id. Keep it with
    /// the signing key, never in the store's database.
    pub fn refresh_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.refresh_secret = Some(secret.into());
        self
    }

    /// Also accepts refresh tokens MACed with an older secret, after rotating
    /// [`refresh_secret`](Self::refresh_secret). Their successors use the new secret.
    ///
    /// A session is sealed at login under the secret of the day (see
    /// [`Session::seal`](crate::session::Session::seal)); its first refresh after the
    /// rotation seals it again under the new secret, as it re-mints its refresh token. So a
    /// session refreshed while the old secret is listed here survives its removal, and one
    /// that was not (an idle session) is refused, its user logs in again. Keep the old secret
    /// for as long as idle sessions should survive: up to the refresh-token TTL.
    pub fn previous_refresh_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.previous_refresh_secrets.push(secret.into());
        self
    }

    /// How long an access token lives. Default 1 minute.
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// How long a refresh token lives without being used: every refresh pushes the session's
    /// expiry this far into the future (sliding expiry). Default 7 days.
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// How long a spent refresh token still returns its successor. Default 10 seconds.
    ///
    /// Two tabs that refresh with the same token at the same moment both stay logged in. A
    /// spent token presented after the window revokes the whole session.
    ///
    /// # Warning
    ///
    /// A stolen token replayed inside the window gets a live successor too; keep the window
    /// as short as the clients allow. `Duration::ZERO` turns it off.
    pub fn reuse_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// An absolute limit on a session's life, however often it is refreshed. Off by default.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = Some(lifetime);
        self
    }

    /// The most live sessions one subject (user) keeps at once, for a store that keeps a
    /// [`SubjectIndex`](crate::store::SubjectIndex) (every store of this crate does): without
    /// one the limit is off unless set here, and setting it is refused when built. Default
    /// [`DEFAULT_MAX_SESSIONS_PER_SUBJECT`](crate::session::DEFAULT_MAX_SESSIONS_PER_SUBJECT) (100); from 1 to [`MAX_SESSIONS_PER_SUBJECT`](crate::session::MAX_SESSIONS_PER_SUBJECT)
    /// (10 000), anything else is refused when built.
    ///
    /// A login ([`issue`](RefreshAuth::issue)) that takes its subject past the limit ends
    /// that subject's *oldest* live sessions (by creation time), never the one it starts, and
    /// reports each as [`SecurityEvent::SessionRevoked`] with
    /// [`RevocationReason::SessionLimit`](crate::events::RevocationReason::SessionLimit) naming the
    /// subject (counted as `refresh_auth_sessions_revoked_total{reason="session_limit"}`).
    /// Logins racing on one subject may leave it a session or two over the limit until its
    /// next login. The check is best effort: if the store fails during it, the login still
    /// succeeds (logged at `warn`), and the next login ends what is over.
    ///
    /// The cost: every login reads one page of the subject's newest sessions, up to the limit
    /// ([`SubjectIndex::list_page`](crate::store::SubjectIndex::list_page)), and ends each
    /// session past it with one [`RefreshStore::revoke`].
    ///
    /// Sessions are ordered by their creation time to the millisecond (then by id): the logins
    /// below are a millisecond apart, as a person's are.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tower_refresh_auth::clock::ManualClock;
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let clock = ManualClock::new(SystemTime::now());
    /// let auth = RefreshAuth::<NoClaims>::builder()
    ///     .hs256(b"an example secret of at least 32 bytes".to_vec())
    ///     .max_sessions_per_subject(2)
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let first = auth.issue("user1", NoClaims {}).await?;
    /// clock.advance(Duration::from_millis(1));
    /// auth.issue("user1", NoClaims {}).await?;
    /// clock.advance(Duration::from_millis(1));
    /// auth.issue("user1", NoClaims {}).await?; // the third login ends the first session
    /// assert_eq!(auth.sessions("user1").await?.len(), 2);
    /// assert!(auth.refresh(&first.refresh_token).await.is_err());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn max_sessions_per_subject(mut self, max: usize) -> Self {
        self.max_sessions = Some(max);
        self
    }

    /// Clock-skew tolerance when checking `exp`, `nbf` and `iat`. Default zero: the layer
    /// issues and verifies its own tokens.
    ///
    /// # Warning
    ///
    /// An expired token is accepted for this long after its `exp`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Writes `iss` into every token and requires it when verifying.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Writes `aud` into every token and requires it when verifying.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Where sessions are kept. Default: a new [`MemoryStore`](crate::store::MemoryStore)
    /// (with the `memory-store` feature).
    pub fn store(mut self, store: impl RefreshStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Where sessions are kept, as a shared trait object.
    pub fn store_arc(mut self, store: Arc<dyn RefreshStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock every expiry is measured with. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Optional mode: no path is refused for lack of a token. A request with a valid token
    /// gets [`Claims`](crate::Claims) in its extensions; any other gets an
    /// [`AuthRejection`](crate::AuthRejection) there instead, and the handler decides.
    pub fn optional(mut self) -> Self {
        self.guard.optional = true;
        self
    }

    /// A path served without a token (exact match), such as `/login`. Claims are still
    /// attached when a valid token comes along.
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.guard.public_paths.push(path.into());
        self
    }

    /// Every path starting with `prefix` is served without a token, such as `/static/`.
    pub fn public_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.guard.public_prefixes.push(prefix.into());
        self
    }

    /// Checks on every authenticated request that the token's session is still live, so a
    /// logout or a detected reuse locks its access tokens out at once instead of when they
    /// expire. Off by default.
    ///
    /// The cost: one store read ([`RefreshStore::load`]) per authenticated request.
    pub fn check_sessions(mut self, on: bool) -> Self {
        self.check_sessions = on;
        self
    }

    /// The refresh route. Default `/token`.
    pub fn refresh_path(mut self, path: impl Into<String>) -> Self {
        self.guard.refresh_path = path.into();
        self
    }

    /// The logout route. Default `/logout`.
    pub fn logout_path(mut self, path: impl Into<String>) -> Self {
        self.guard.logout_path = path.into();
        self
    }

    /// Mounts the session routes of `docs/protocol.md` §8 at `/sessions`: `GET /sessions`
    /// lists the caller's live sessions, `DELETE /sessions/{id}` ends one of them (`404` for
    /// anyone else's), `DELETE /sessions` ends them all. Off by default.
    ///
    /// They are guarded by the access token, and always confirm with the store that the
    /// caller's own session is still live, whether or not [session
    /// checking](Self::check_sessions) is on. Elsewhere, with session checking off, an ended
    /// session's access tokens keep working until they expire: at most one
    /// [access-token lifetime](Self::access_ttl).
    ///
    /// ```
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let auth = RefreshAuth::<NoClaims>::builder()
    ///     .hs256(b"an example secret of at least 32 bytes".to_vec())
    ///     .sessions_route()
    ///     .build()?;
    /// let app = ServiceBuilder::new().layer(auth.layer()).service(service_fn(|_| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    /// }));
    /// let laptop = auth.issue("user1", NoClaims {}).await?;
    /// let phone = auth.issue("user1", NoClaims {}).await?;
    ///
    /// // From the laptop, end the phone's session.
    /// let req = http::Request::delete(format!("/sessions/{}", phone.session_id))
    ///     .header("authorization", format!("Bearer {}", laptop.access_token))
    ///     .body(String::new())?;
    /// assert_eq!(app.oneshot(req).await?.status(), 204);
    /// assert!(auth.refresh(&phone.refresh_token).await.is_err());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn sessions_route(self) -> Self {
        self.sessions_path(crate::guard::DEFAULT_SESSIONS_PATH)
    }

    /// Mounts the session routes (see [`sessions_route`](Self::sessions_route)) at `path`
    /// and `path/{id}` instead.
    pub fn sessions_path(mut self, path: impl Into<String>) -> Self {
        self.guard.sessions_path = Some(path.into());
        self
    }

    /// Serves the public keys at `GET /.well-known/jwks.json` (RFC 7517; docs/protocol.md §7),
    /// so gateways, other services and other languages verify access tokens without a shared
    /// secret. Off by default; needs an asymmetric signing key
    /// ([`SigningKey::from_file`](crate::keys::SigningKey::from_file)): with an HMAC key the
    /// build fails.
    ///
    /// The route is public. It lists the current signing key and every key that still
    /// verifies (keys retired by a [`KeyRing`](crate::keyring::KeyRing) rotation until removed, keys
    /// published ahead), with `Cache-Control: public, max-age=N`; see
    /// [`jwks_max_age`](Self::jwks_max_age).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use http::Request;
    /// use tower::{Layer, ServiceExt};
    /// use tower_refresh_auth::keys::SigningKey;
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    ///
    /// let auth = RefreshAuth::<NoClaims>::builder()
    ///     .signing_key(SigningKey::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/es256.pem"))?)
    ///     .refresh_secret(b"a refresh-token secret of 32+ bytes".to_vec())
    ///     .jwks_route()
    ///     .build()?;
    /// let app = auth.layer().layer(tower::service_fn(|_req: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    /// }));
    ///
    /// let res = app.oneshot(Request::get("/.well-known/jwks.json").body(String::new())?).await?;
    /// assert_eq!(res.status(), 200);
    /// assert_eq!(res.headers()["cache-control"], "public, max-age=60");
    /// let body = http_body_util::BodyExt::collect(res.into_body()).await?.to_bytes();
    /// let jwks: serde_json::Value = serde_json::from_slice(&body)?;
    /// assert_eq!(jwks["keys"][0]["kty"], "EC");
    /// assert_eq!(jwks["keys"][0]["kid"], auth.keys().signing_kid());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn jwks_route(self) -> Self {
        self.jwks_path(DEFAULT_JWKS_PATH)
    }

    /// Serves the JWKS route (see [`jwks_route`](Self::jwks_route)) at `path` instead.
    pub fn jwks_path(mut self, path: impl Into<String>) -> Self {
        self.guard.jwks_path = Some(path.into());
        self
    }

    /// How long caches may keep the JWKS (`Cache-Control: public, max-age=N`). Default: the
    /// [key overlap](Self::key_overlap), capped at 10 minutes; it may not be longer than the
    /// overlap, so a cache never holds a key set that lacks a key still signing.
    ///
    /// A new key is seen by every verifier at most this long after it is published: in a
    /// fleet, publish a key this long before it signs (see [`KeyRing`](crate::keyring::KeyRing)).
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = Some(max_age);
        self
    }

    /// How long a signing key retired by [`KeyRing::rotate`](crate::keyring::KeyRing::rotate) keeps
    /// verifying and stays published before [`KeyRing::prune`](crate::keyring::KeyRing::prune) drops
    /// it. Default, and the least accepted: one access-token lifetime plus the
    /// [leeway](Self::leeway), the longest a token it signed can live.
    pub fn key_overlap(mut self, overlap: Duration) -> Self {
        self.key_overlap = Some(overlap);
        self
    }

    /// The largest refresh or logout body read, in bytes. Default 16 KiB; larger is `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How the refresh token travels. Default [`RefreshTransport::Body`].
    pub fn transport(mut self, transport: RefreshTransport) -> Self {
        self.transport = transport;
        self
    }

    /// The refresh cookie's name in cookie mode. Default `refresh_token`.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Whether the refresh cookie is marked `Secure`. Default `true`.
    ///
    /// # Warning
    ///
    /// Without `Secure` the refresh token can travel over plain HTTP. Browsers accept
    /// `Secure` cookies from `http://localhost`, so turning this off is rarely needed.
    pub fn cookie_secure(mut self, secure: bool) -> Self {
        self.cookie_secure = secure;
        self
    }

    /// The header every cookie-mode refresh and logout must carry (CSRF defence): a
    /// cross-site form cannot send a custom header without a CORS preflight. Default
    /// `X-Requested-With`. A header that browsers send on simple cross-site requests, or set
    /// themselves (`Content-Type`, `Origin`, `Sec-…`), is refused when the layer is built.
    pub fn csrf_header(mut self, name: impl Into<String>) -> Self {
        self.csrf_header = name.into();
        self
    }

    /// Also reads the access token from this cookie. A request carrying a token in both the
    /// header and the cookie is refused (RFC 6750 §2).
    pub fn access_token_cookie(mut self, name: impl Into<String>) -> Self {
        self.access_cookie = Some(name.into());
        self
    }

    /// Caches up to `capacity` verified access tokens, so a token seen before skips its
    /// signature check. Off by default.
    ///
    /// An entry is made only for a token that verified, is keyed by a 128-bit keyed hash of
    /// the whole token, and never outlives the token's `exp`. Revoking a session through this
    /// `RefreshAuth` drops its entries; with [session checking](Self::check_sessions) the store
    /// is still asked on every request, so a logout on another instance is seen too.
    ///
    /// # Warning
    ///
    /// The trade-off: memory (a few hundred bytes per cached token) for CPU. It pays off with
    /// asymmetric keys (an ES256 or RS256 verification costs 20–50 µs, a cache hit well under
    /// one) and less with HS256. A removed verifying key stops accepting new tokens at once,
    /// but tokens cached before its removal stay accepted until they expire — which is at
    /// most one access-token lifetime.
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.cache_capacity = Some(capacity);
        self
    }

    /// The realm of the `WWW-Authenticate` challenge. Default `api`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Renders the body of every error response of the layer — refused requests on guarded
    /// paths, `/token` and `/logout` errors, and [`AuthRejection`](crate::AuthRejection)s
    /// rendered by extractors — in the application's own format.
    ///
    /// The layer still sets the status, `WWW-Authenticate` (RFC 6750 §3), `Cache-Control:
    /// no-store`, `Allow` and `Retry-After` from the [`AuthError`]; the function gives only
    /// the body and its content type. gRPC refusals carry no body and are not passed to it.
    ///
    /// ```
    /// use tower_refresh_auth::{AuthError, error::ErrorBody, NoClaims, RefreshAuth};
    ///
    /// let auth = RefreshAuth::<NoClaims>::builder()
    ///     .hs256(b"an example secret of at least 32 bytes".to_vec())
    ///     .error_body(|err: &AuthError| {
    ///         ErrorBody::json(&serde_json::json!({
    ///             "status": err.status().as_u16(),
    ///             "code": err.error_code().unwrap_or("unauthorized"),
    ///             "message": err.description(),
    ///         }))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// let res = auth.rejection(AuthError::InvalidGrant).into_response();
    /// assert_eq!(res.status(), 400);
    /// assert_eq!(
    ///     res.body().as_ref(),
    ///     br#"{"code":"invalid_grant","message":"the refresh token is invalid, expired or revoked","status":400}"#
    /// );
    /// ```
    pub fn error_body<F>(mut self, render: F) -> Self
    where
        F: Fn(&AuthError) -> ErrorBody + Send + Sync + 'static,
    {
        self.error_body = Some(Arc::new(render));
        self
    }

    /// Calls `callback` on every [`SecurityEvent`]: a refresh token reused after the grace
    /// window, a replay inside it, a session revoked (with its
    /// [`RevocationReason`](crate::events::RevocationReason)). An event names the session and its
    /// subject, never a token. See the [`SecurityEvent`] docs for an example.
    ///
    /// The callback runs on the request's task, after the store has answered and before the
    /// response is sent: keep it short (log, count, or hand the event to a channel).
    pub fn on_security_event<F>(mut self, callback: F) -> Self
    where
        F: Fn(&SecurityEvent) + Send + Sync + 'static,
    {
        self.on_event = Some(Arc::new(callback));
        self
    }

    /// Sender-constrained sessions with DPoP (RFC 9449; `docs/protocol.md` §10): `Off` (the
    /// default), `Optional` or `Required`. See the [`dpop`](crate::dpop) module for what each
    /// does. With DPoP on, the layer must know its public URL:
    /// [`dpop_origin`](Self::dpop_origin) or [`dpop_origin_from_host`](Self::dpop_origin_from_host).
    ///
    /// Refreshes then read the session first (one more store call) to check its binding, and
    /// every proof costs a signature check and one [`remember_proof`](crate::store::DpopStore::remember_proof).
    pub fn dpop(mut self, mode: DpopMode) -> Self {
        self.dpop = mode;
        self
    }

    /// The public base URL of the service, `https://api.example.com` (or with the path it is
    /// mounted under, `https://example.com/api`): a proof's `htu` must be this plus the
    /// request's path (RFC 9449 §4.3, normalised, without query and fragment).
    pub fn dpop_origin(mut self, base_url: impl Into<String>) -> Self {
        self.dpop_origin = Some(DpopOrigin::Fixed(base_url.into()));
        self
    }

    /// Takes the public URL from each request's authority (the `Host` header, or HTTP/2's
    /// `:authority`) with `scheme` (`https`, or `http` for local development), instead of a
    /// fixed [`dpop_origin`](Self::dpop_origin).
    ///
    /// # Warning
    ///
    /// The `Host` header is the client's to choose. A proof stays bound to its key, method,
    /// path, time and token either way, so a proof made for another host can be replayed
    /// here only if the same key and token are good here too; but a fixed origin is the
    /// stricter check. Use this behind a proxy that sets `Host` itself, or in development.
    pub fn dpop_origin_from_host(mut self, scheme: impl Into<String>) -> Self {
        self.dpop_origin = Some(DpopOrigin::Host(scheme.into()));
        self
    }

    /// How far a proof's `iat` may be from the server's clock, either way. Default 60
    /// seconds; between one second and five minutes. Proof `jti`s are remembered this long.
    ///
    /// # Warning
    ///
    /// A longer window accepts proofs signed further ahead of time (RFC 9449 §11.1: a
    /// pre-generated proof), and makes the store remember more `jti`s.
    pub fn dpop_window(mut self, window: Duration) -> Self {
        self.dpop_window = window;
        self
    }

    /// The algorithms proofs may use, listed in the challenge's `algs`. Default ES256 and
    /// EdDSA; ES384 may be added. Anything else — `none`, an HMAC, RSA — is refused when
    /// built.
    pub fn dpop_algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.dpop_algs = algs.into_iter().collect();
        self
    }

    /// Server-issued nonces (RFC 9449 §8): every proof must carry a `nonce` the server
    /// issued, fresh for `period` (and one period more), or is refused with
    /// `use_dpop_nonce` and a new nonce in the `DPoP-Nonce` header. A proof can then not be
    /// signed ahead of time. The nonces are an HMAC of the time under a key derived from the
    /// refresh-token secret, so every instance sharing that secret agrees on them without a
    /// store call. Off by default.
    pub fn dpop_nonces(mut self, period: Duration) -> Self {
        self.dpop_nonce_period = Some(period);
        self
    }

    /// Checks the configuration and builds the [`RefreshAuth`].
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] that says how to fix it: no crypto backend (see the `aws-lc` and
    /// `rust-crypto` features), no or a weak key, zero durations, a grace
    /// window as long as a refresh token's life, clashing paths, bad names.
    pub fn build(self) -> Result<RefreshAuth<C>, ConfigError> {
        crate::crypto_backend::ensure()?;
        let signing = self.signing.ok_or(ConfigError::MissingSigningKey)?;

        for (name, d) in [
            ("access_ttl", self.access_ttl),
            ("refresh_ttl", self.refresh_ttl),
        ] {
            // Token lifetimes are whole seconds (JWT NumericDate).
            if d.as_secs() == 0 {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        // docs/protocol.md §5b: no setting may overflow a clock, now or in ten years' time.
        for (setting, d) in [
            ("access_ttl", Some(self.access_ttl)),
            ("refresh_ttl", Some(self.refresh_ttl)),
            ("reuse_grace", Some(self.grace)),
            ("session_lifetime", self.session_lifetime),
            ("leeway", Some(self.leeway)),
            ("key_overlap", self.key_overlap),
            ("jwks_max_age", self.jwks_max_age),
        ] {
            if d.is_some_and(|d| d > MAX_DURATION) {
                return Err(ConfigError::DurationTooLong {
                    setting,
                    max: MAX_DURATION,
                });
            }
        }
        if self.grace >= self.refresh_ttl {
            return Err(ConfigError::GraceTooLong(self.grace));
        }
        if let Some(max) = self.max_sessions
            && !(1..=MAX_SESSIONS_PER_SUBJECT).contains(&max)
        {
            return Err(ConfigError::SessionLimit(max));
        }
        if let Some(lifetime) = self.session_lifetime
            && lifetime < self.refresh_ttl
        {
            return Err(ConfigError::LifetimeShorterThanTtl {
                lifetime,
                refresh_ttl: self.refresh_ttl,
            });
        }
        // The longest a token can live: a retired key must verify at least that long.
        let lifetime = self.access_ttl + self.leeway;
        let key_overlap = self.key_overlap.unwrap_or(lifetime);
        if key_overlap < lifetime {
            return Err(ConfigError::OverlapTooShort {
                overlap: key_overlap,
                needed: lifetime,
            });
        }
        let jwks_max_age = self
            .jwks_max_age
            .unwrap_or(key_overlap.min(DEFAULT_JWKS_MAX_AGE));
        if jwks_max_age > key_overlap {
            return Err(ConfigError::JwksMaxAgeTooLong {
                max_age: jwks_max_age,
                overlap: key_overlap,
            });
        }
        let jwks_cache_control =
            HeaderValue::try_from(format!("public, max-age={}", jwks_max_age.as_secs()))
                .unwrap_or(HeaderValue::from_static("no-cache"));

        for path in [&self.guard.refresh_path, &self.guard.logout_path]
            .into_iter()
            .chain(&self.guard.jwks_path)
            .chain(&self.guard.public_paths)
            .chain(&self.guard.public_prefixes)
        {
            if !path.starts_with('/') {
                return Err(ConfigError::InvalidPath(path.clone()));
            }
        }
        if self.guard.refresh_path == self.guard.logout_path {
            return Err(ConfigError::InvalidPath(self.guard.logout_path));
        }
        if let Some(sessions) = &self.guard.sessions_path
            && (!sessions.starts_with('/')
                || sessions.ends_with('/')
                || *sessions == self.guard.refresh_path
                || *sessions == self.guard.logout_path
                || self.guard.jwks_path.as_ref() == Some(sessions))
        {
            return Err(ConfigError::InvalidPath(sessions.clone()));
        }
        if let Some(jwks) = &self.guard.jwks_path
            && (*jwks == self.guard.refresh_path || *jwks == self.guard.logout_path)
        {
            return Err(ConfigError::InvalidPath(jwks.clone()));
        }
        if self
            .realm
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            return Err(ConfigError::InvalidRealm(self.realm));
        }
        for (what, name) in [("cookie", &self.cookie_name)].into_iter().chain(
            self.access_cookie
                .iter()
                .map(|n| ("access-token cookie", n)),
        ) {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ConfigError::InvalidName {
                    what,
                    name: name.clone(),
                });
            }
        }

        // The refresh-token MAC keys: explicit secrets, or derived from the HMAC signing
        // secret (and from older HMAC verifying secrets, so their refresh tokens survive a
        // rotation too).
        let refresh_derived = self.refresh_secret.is_none();
        let refresh_secrets: Vec<Vec<u8>> = match &self.refresh_secret {
            Some(secret) => std::iter::once(secret)
                .chain(&self.previous_refresh_secrets)
                .map(|s| {
                    if s.len() < 32 {
                        Err(ConfigError::WeakRefreshSecret { len: s.len() })
                    } else {
                        Ok(s.clone())
                    }
                })
                .collect::<Result<_, _>>()?,
            None => {
                let primary = signing
                    .verifying
                    .hmac_secret
                    .as_deref()
                    .ok_or(ConfigError::MissingRefreshSecret)?;
                std::iter::once(primary)
                    .chain(
                        self.verifying
                            .iter()
                            .filter_map(|k| k.hmac_secret.as_deref()),
                    )
                    .map(|s| SessionKeys::derive(s).to_vec())
                    .collect()
            }
        };

        let transport = match self.transport {
            RefreshTransport::Body => Transport::Body,
            RefreshTransport::Cookie => {
                if is_sent_by_browsers(&self.csrf_header) {
                    return Err(ConfigError::CsrfHeaderSentByBrowsers(self.csrf_header));
                }
                let csrf_header =
                    HeaderName::try_from(self.csrf_header.as_str()).map_err(|_| {
                        ConfigError::InvalidName {
                            what: "CSRF header",
                            name: self.csrf_header.clone(),
                        }
                    })?;
                let [refresh_path, logout_path] = self.guard.cookie_paths();
                Transport::Cookie(CookieSettings {
                    name: self.cookie_name,
                    secure: self.cookie_secure,
                    csrf_header,
                    paths: [refresh_path.to_owned(), logout_path.to_owned()],
                    max_age: self.refresh_ttl,
                })
            }
        };

        let store = match self.store {
            Some(store) => store,
            None => default_store()?,
        };
        // What the configuration needs of the store beyond its five core operations.
        if self.guard.sessions_path.is_some() && store.subject_index().is_none() {
            return Err(ConfigError::MissingCapability {
                needed_by: "`sessions_route()`",
                capability: "SubjectIndex",
            });
        }
        // The limit of sessions per subject reads the subject's sessions: on by default where
        // the store keeps an index, refused where it was asked for and the store has none.
        let max_sessions = match (self.max_sessions, store.subject_index().is_some()) {
            (max, true) => Some(max.unwrap_or(DEFAULT_MAX_SESSIONS_PER_SUBJECT)),
            (None, false) => None,
            (Some(_), false) => {
                return Err(ConfigError::MissingCapability {
                    needed_by: "`max_sessions_per_subject(…)`",
                    capability: "SubjectIndex",
                });
            }
        };
        if self.dpop.is_on() && store.dpop().is_none() {
            return Err(ConfigError::MissingCapability {
                needed_by: "DPoP",
                capability: "DpopStore",
            });
        }

        let access = AccessTokens::new(
            signing,
            self.verifying,
            self.access_ttl,
            self.leeway,
            self.issuer,
            self.audience,
            self.guard.jwks_path.is_some(),
        )?;

        let dpop = if self.dpop.is_on() {
            let origin = match &self.dpop_origin {
                None => return Err(ConfigError::MissingDpopOrigin),
                Some(DpopOrigin::Fixed(url)) => Origin::fixed(url)?,
                Some(DpopOrigin::Host(scheme)) => Origin::from_host(scheme)?,
            };
            if self.dpop_window < Duration::from_secs(1) || self.dpop_window > MAX_DPOP_WINDOW {
                return Err(ConfigError::DpopWindow(self.dpop_window));
            }
            if let Some(alg) = self
                .dpop_algs
                .iter()
                .find(|a| !DPOP_ALGS.contains(&a.to_jwt()))
            {
                return Err(ConfigError::DpopAlgorithm(*alg));
            }
            if self.dpop_algs.is_empty() {
                return Err(ConfigError::DpopAlgorithm(Algorithm::HS256));
            }
            if let Some(period) = self.dpop_nonce_period
                && (period < Duration::from_secs(1) || period > MAX_DPOP_WINDOW)
            {
                return Err(ConfigError::DpopWindow(period));
            }
            let nonces = self
                .dpop_nonce_period
                .zip(refresh_secrets.first())
                .map(|(period, secret)| Arc::new(Nonces::new(secret, period)));
            Some((
                DpopSettings {
                    mode: self.dpop,
                    rules: ProofRules {
                        algs: self.dpop_algs.iter().map(|a| a.to_jwt()).collect(),
                        window: self.dpop_window,
                        origin,
                        nonces: nonces.clone(),
                    },
                },
                nonces,
            ))
        } else {
            None
        };
        let mut renderer = Renderer::new(self.realm, self.error_body);
        if let Some((settings, nonces)) = &dpop {
            renderer = renderer.with_dpop(DpopChallenge {
                algs: settings.rules.algs_param(),
                bearer_too: settings.mode == DpopMode::Optional,
                nonces: nonces.clone().map(|n| (n, Arc::clone(&self.clock))),
            });
        }

        // docs/protocol.md §12: the RFC 8414 metadata beside the JWKS, when the issuer is a URL.
        let guard = self.guard.with_metadata(access.issuer());
        Ok(RefreshAuth::from_shared(Shared {
            access,
            refresh_keys: SessionKeys::new(
                refresh_secrets.iter().map(Vec::as_slice),
                refresh_derived,
            ),
            key_overlap,
            jwks_cache_control,
            store,
            clock: self.clock,
            refresh_ttl: self.refresh_ttl,
            grace: self.grace,
            session_lifetime: self.session_lifetime,
            max_sessions,
            guard,
            check_sessions: self.check_sessions,
            body_limit: self.body_limit,
            transport,
            access_cookie: self.access_cookie,
            renderer: Arc::new(renderer),
            cache: self.cache_capacity.filter(|&n| n > 0).map(TokenCache::new),
            events: Events::new(self.on_event),
            dpop: dpop.map(|(settings, _)| settings),
        }))
    }
}

/// The longest DPoP proof window and nonce period.
const MAX_DPOP_WINDOW: Duration = Duration::from_secs(300);

/// How long caches keep the JWKS unless told otherwise (when the key overlap is longer).
const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(600);

/// The longest duration any setting takes: ten years (of 365.25 days).
const MAX_DURATION: Duration = Duration::from_secs(10 * 36_525 * 24 * 3_600 / 100);

/// Whether browsers send header `name` on a simple cross-site request, or set it themselves:
/// the CORS-safelisted request headers and the forbidden request headers of the Fetch
/// standard. Such a header proves nothing about where a request came from.
fn is_sent_by_browsers(name: &str) -> bool {
    const SAFELISTED: &[&str] = &[
        "accept",
        "accept-language",
        "content-language",
        "content-type",
        "range",
    ];
    const FORBIDDEN: &[&str] = &[
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "priority",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "via",
    ];
    let name = name.trim().to_ascii_lowercase();
    SAFELISTED.contains(&name.as_str())
        || FORBIDDEN.contains(&name.as_str())
        || name.starts_with("proxy-")
        || name.starts_with("sec-")
}

#[cfg(feature = "memory-store")]
fn default_store() -> Result<Arc<dyn RefreshStore>, ConfigError> {
    Ok(Arc::new(crate::store::MemoryStore::new()))
}

#[cfg(not(feature = "memory-store"))]
fn default_store() -> Result<Arc<dyn RefreshStore>, ConfigError> {
    Err(ConfigError::MissingStore)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoClaims;

    const SECRET: &[u8] = b"a configuration test secret of 32+ bytes";

    fn builder() -> RefreshAuthBuilder<NoClaims> {
        RefreshAuth::<NoClaims>::builder().hs256(SECRET.to_vec())
    }

    #[track_caller]
    fn refused(b: RefreshAuthBuilder<NoClaims>, hint: &str) {
        let err = b.build().unwrap_err().to_string();
        assert!(err.contains(hint), "{err:?} should mention {hint:?}");
    }

    #[test]
    fn defaults_build() {
        assert!(builder().build().is_ok());
    }

    #[test]
    fn weak_configuration_is_refused_with_a_fix() {
        refused(RefreshAuth::<NoClaims>::builder(), ".hs256(secret)");
        refused(builder().hs256(vec![1; 31]), "at least 32 bytes");
        refused(builder().hs512(vec![1; 63]), "at least 64 bytes");
        refused(builder().access_ttl(Duration::ZERO), "access_ttl");
        refused(
            builder().access_ttl(Duration::from_millis(999)),
            "at least one second",
        );
        refused(builder().refresh_ttl(Duration::ZERO), "refresh_ttl");
        refused(
            builder()
                .refresh_ttl(Duration::from_secs(5))
                .reuse_grace(Duration::from_secs(5)),
            "grace window",
        );
        refused(
            builder().session_lifetime(Duration::from_secs(60)),
            "raise `.session_lifetime(…)`",
        );
        refused(builder().refresh_path("token"), "must start with '/'");
        refused(builder().public_path("login"), "must start with '/'");
        refused(builder().logout_path("/token"), "must differ");
        refused(builder().sessions_path("/token"), "must differ");
        refused(builder().sessions_path("sessions"), "must start with '/'");
        refused(builder().sessions_path("/sessions/"), "\"/sessions/\"");
        refused(builder().sessions_path("/"), "invalid path \"/\"");
        refused(builder().realm("a\"b"), "realm");
        refused(
            builder()
                .transport(RefreshTransport::Cookie)
                .cookie_name("a;b"),
            "cookie name",
        );
        refused(
            builder().access_token_cookie(""),
            "access-token cookie name",
        );
        refused(
            builder()
                .transport(RefreshTransport::Cookie)
                .csrf_header("bad header"),
            "CSRF header",
        );
        refused(
            builder()
                .transport(RefreshTransport::Cookie)
                .csrf_header("Content-Type"),
            "sent by browsers",
        );
        refused(
            builder()
                .transport(RefreshTransport::Cookie)
                .csrf_header("sec-fetch-site"),
            "sent by browsers",
        );
        let ten_years = Duration::from_secs(315_576_000);
        let beyond = ten_years + Duration::from_secs(1);
        refused(builder().access_ttl(beyond), "`access_ttl` is longer than");
        refused(
            builder().refresh_ttl(beyond),
            "`refresh_ttl` is longer than",
        );
        refused(
            builder()
                .refresh_ttl(Duration::from_secs(3600))
                .reuse_grace(beyond),
            "`reuse_grace` is longer than",
        );
        refused(builder().session_lifetime(beyond), "`session_lifetime`");
        refused(
            builder().max_sessions_per_subject(0),
            "`max_sessions_per_subject(0)` is out of bounds: it must be from 1 to 10000",
        );
        refused(
            builder().max_sessions_per_subject(10_001),
            "leave it unset for the default of 100",
        );
        assert!(builder().max_sessions_per_subject(1).build().is_ok());
        assert!(builder().max_sessions_per_subject(10_000).build().is_ok());
        refused(builder().leeway(beyond), "`leeway`");
        refused(
            builder().refresh_ttl(Duration::from_secs(300_000_000_000 * 31_557_600)),
            "`refresh_ttl`",
        );
        assert!(
            builder()
                .access_ttl(ten_years)
                .refresh_ttl(ten_years)
                .session_lifetime(ten_years)
                .build()
                .is_ok()
        );
        refused(
            builder().refresh_secret(vec![1; 16]),
            "refresh-token secret is 16 bytes",
        );
        refused(
            builder()
                .signing_key(SigningKey::hmac(Algorithm::HS256, SECRET.to_vec()).with_kid("k"))
                .previous_key(VerifyingKey::hmac(Algorithm::HS256, vec![2; 32]).with_kid("k")),
            "share the kid",
        );
    }

    #[test]
    fn dpop_settings_are_checked() {
        refused(builder().dpop(DpopMode::Optional), "dpop_origin");
        let on = || {
            builder()
                .dpop(DpopMode::Required)
                .dpop_origin("https://api.example.com")
        };
        assert!(on().build().is_ok());
        assert!(
            builder()
                .dpop(DpopMode::Off)
                .dpop_origin("nonsense")
                .build()
                .is_ok()
        );
        refused(on().dpop_origin("ftp://x"), "http or https URL");
        refused(on().dpop_origin_from_host("gopher"), "http or https URL");
        refused(on().dpop_window(Duration::ZERO), "proof window");
        refused(on().dpop_window(Duration::from_secs(301)), "proof window");
        refused(
            on().dpop_algorithms([Algorithm::HS256]),
            "never `none` or an HMAC",
        );
        refused(on().dpop_algorithms([Algorithm::RS256]), "RS256");
        refused(on().dpop_algorithms([]), "ES256, ES384 or EdDSA");
        refused(on().dpop_nonces(Duration::ZERO), "proof window");
        assert!(on().dpop_nonces(Duration::from_secs(60)).build().is_ok());
    }

    #[test]
    fn key_publishing_and_overlap_are_checked() {
        refused(builder().jwks_route(), "is an HMAC secret");
        let es256 = || {
            RefreshAuth::<NoClaims>::builder()
                .signing_key(
                    SigningKey::from_file(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/tests/keys/es256.pem"
                    ))
                    .unwrap(),
                )
                .refresh_secret(SECRET.to_vec())
        };
        assert!(es256().jwks_route().build().is_ok());
        refused(
            es256()
                .jwks_route()
                .previous_key(VerifyingKey::hmac(Algorithm::HS256, vec![2; 32])),
            "is an HMAC secret",
        );
        refused(es256().jwks_path("jwks.json"), "must start with '/'");
        refused(es256().jwks_path("/token"), "must differ");
        refused(
            builder()
                .access_ttl(Duration::from_secs(60))
                .leeway(Duration::from_secs(5))
                .key_overlap(Duration::from_secs(64)),
            "the key overlap (64s) is shorter than an access token lives (65s",
        );
        refused(
            es256().jwks_route().jwks_max_age(Duration::from_secs(61)),
            "lower `.jwks_max_age(…)`",
        );
        let auth = es256()
            .jwks_route()
            .key_overlap(Duration::from_secs(7200))
            .build()
            .unwrap();
        // The default max-age is the overlap, capped at ten minutes.
        assert_eq!(auth.shared.jwks_cache_control, "public, max-age=600");
        let auth = es256().jwks_route().build().unwrap();
        assert_eq!(auth.shared.jwks_cache_control, "public, max-age=60");
    }
}
