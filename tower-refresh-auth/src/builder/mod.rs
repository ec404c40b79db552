//! [`RefreshAuthBuilder`]: one builder, validated once, in [`build`](RefreshAuthBuilder::build).
//!
//! Every setting is checked when the layer is built, and refused with a [`ConfigError`] that
//! says how to fix it; nothing is checked again per request. Families of settings come as
//! typed values that check themselves — [`Dpop`], [`Jwks`],
//! [`RefreshTransport`] with its [`CookieTransport`](crate::transport::CookieTransport) — and
//! the lifetimes, which bound each other, are checked together (`lifetimes.rs`), so
//! [`build`](RefreshAuthBuilder::build) only assembles checked parts.

#[cfg(feature = "key-rotation")]
mod key_rotation;
mod lifetimes;
mod secrets;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use self::lifetimes::Lifetimes;
use crate::clock::{Clock, SystemClock};
use crate::dpop::{Dpop, DpopMode, DpopPolicy};
use crate::error::ErrorBody;
use crate::error::{AuthError, ConfigError};
use crate::events::{EventFn, Events, SecurityEvent};
use crate::guard::Guard;
use crate::introspection::Introspection;
use crate::keys::{Algorithm, Jwks, SigningKey, VerifyingKey};
use crate::response::{DpopChallenge, ErrorBodyFn, Renderer};
use crate::revocation::{SessionCheck, SessionChecking};
use crate::session::{DEFAULT_MAX_SESSIONS_PER_SUBJECT, MAX_SESSIONS_PER_SUBJECT};
use crate::sessions::Sessions;
use crate::shared::{RefreshAuth, Shared};
use crate::store::RefreshStore;
use crate::token::access::AccessTokens;
use crate::token::refresh_token::SessionKeys;
use crate::transport::{RefreshTransport, check_cookie_name};

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
    lifetimes: Lifetimes,
    /// `None`: the default, when the store keeps a subject index.
    max_sessions: Option<usize>,
    issuer: Option<String>,
    audience: Option<String>,
    store: Option<Arc<dyn RefreshStore>>,
    clock: Arc<dyn Clock>,
    guard: Guard,
    check_sessions: SessionChecking,
    body_limit: usize,
    transport: RefreshTransport,
    access_cookie: Option<String>,
    realm: String,
    error_body: Option<Arc<ErrorBodyFn>>,
    cache_capacity: Option<usize>,
    on_event: Option<Arc<EventFn>>,
    jwks: Option<Jwks>,
    dpop: Dpop,
    introspection: Option<Introspection>,
    #[cfg(feature = "key-rotation")]
    key_rotation: Option<crate::fleet::KeyRotation>,
    _claims: PhantomData<fn() -> C>,
}

impl<C> std::fmt::Debug for RefreshAuthBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshAuthBuilder")
            .field("signing", &self.signing)
            .field("verifying", &self.verifying)
            .field("lifetimes", &self.lifetimes)
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
            lifetimes: Lifetimes::default(),
            max_sessions: None,
            issuer: None,
            audience: None,
            store: None,
            clock: Arc::new(SystemClock),
            guard: Guard::default(),
            check_sessions: SessionChecking::Off,
            body_limit: 16 * 1024,
            transport: RefreshTransport::Body,
            access_cookie: None,
            realm: crate::response::DEFAULT_REALM.into(),
            error_body: None,
            cache_capacity: None,
            on_event: None,
            jwks: None,
            dpop: Dpop::default(),
            introspection: None,
            #[cfg(feature = "key-rotation")]
            key_rotation: None,
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
        self.lifetimes.access_ttl = ttl;
        self
    }

    /// How long a refresh token lives without being used: every refresh pushes the session's
    /// expiry this far into the future (sliding expiry). Default 7 days.
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.lifetimes.refresh_ttl = ttl;
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
        self.lifetimes.grace = grace;
        self
    }

    /// An absolute limit on a session's life, however often it is refreshed. Off by default.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.session_lifetime = Some(lifetime);
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
        self.lifetimes.leeway = leeway;
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
    ///
    /// Takes any [`RefreshStore`]: a store by value, or one the application shares with other
    /// code as an `Arc<S>` or an `Arc<dyn RefreshStore>` (both are stores too).
    pub fn store(mut self, store: impl RefreshStore) -> Self {
        self.store = Some(Arc::new(store));
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
    /// `true` ([`SessionChecking::PerRequest`]) costs one store read
    /// ([`RefreshStore::load`]) per authenticated request; [`SessionChecking::Feed`] checks a
    /// local set that follows the store's
    /// [revocation feed](crate::store::RevocationFeed) instead, with no store call (see
    /// [`SessionChecking`]). [`build`](Self::build) refuses `Feed` with a store that keeps no
    /// feed, or outside a tokio runtime.
    ///
    /// ```
    /// use tower_refresh_auth::{NoClaims, RefreshAuth, SessionChecking};
    ///
    /// let per_request = RefreshAuth::<NoClaims>::builder().check_sessions(true);
    /// let same = RefreshAuth::<NoClaims>::builder().check_sessions(SessionChecking::PerRequest);
    /// # let _ = (per_request, same);
    /// ```
    pub fn check_sessions(mut self, mode: impl Into<SessionChecking>) -> Self {
        self.check_sessions = mode.into();
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

    /// Publishes the public keys at a JWKS route ([`Jwks`]: its path and `Cache-Control`
    /// max-age; docs/protocol.md §7). Off by default; needs an asymmetric signing key.
    pub fn jwks(mut self, jwks: Jwks) -> Self {
        self.jwks = Some(jwks);
        self
    }

    /// How long a signing key retired by [`KeyRing::rotate`](crate::keyring::KeyRing::rotate) keeps
    /// verifying and stays published before [`KeyRing::prune`](crate::keyring::KeyRing::prune) drops
    /// it. Default, and the least accepted: one access-token lifetime plus the
    /// [leeway](Self::leeway), the longest a token it signed can live.
    pub fn key_overlap(mut self, overlap: Duration) -> Self {
        self.lifetimes.key_overlap = Some(overlap);
        self
    }

    /// The largest refresh or logout body read, in bytes. Default 16 KiB; larger is `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How the refresh token travels: [`RefreshTransport::Body`] (the default), or a cookie
    /// with its settings ([`CookieTransport`](crate::transport::CookieTransport), checked
    /// when built).
    pub fn transport(mut self, transport: impl Into<RefreshTransport>) -> Self {
        self.transport = transport.into();
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

    /// Sender-constrained sessions with DPoP (RFC 9449; `docs/protocol.md` §10), off by
    /// default: [`Dpop`] settings (the mode, the service's public URL, the proof window, the
    /// algorithms, nonces), checked when built. See the [`dpop`](crate::dpop) module for what
    /// each mode does.
    ///
    /// Refreshes then read the session first (one more store call) to check its binding, and
    /// every proof costs a signature check and one [`remember_proof`](crate::store::DpopStore::remember_proof).
    pub fn dpop(mut self, dpop: impl Into<Dpop>) -> Self {
        self.dpop = dpop.into();
        self
    }

    /// Mounts token introspection (RFC 7662; `docs/protocol.md` §14) for one client:
    /// [`Introspection`] settings (the client's id and secret, the path, the bound on failed
    /// client authentications), checked when built. Off by default. See the
    /// [`introspection`](crate::introspection) module for what it answers.
    ///
    /// The cost: one store read ([`RefreshStore::load`]) per introspected token that verifies.
    pub fn introspection(mut self, introspection: Introspection) -> Self {
        self.introspection = Some(introspection);
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
        #[cfg(feature = "key-rotation")]
        if self.key_rotation.is_some() {
            return Err(ConfigError::KeyRotationNeedsAsyncBuild);
        }
        let signing = self.signing.ok_or(ConfigError::MissingSigningKey)?;
        let lifetimes = self
            .lifetimes
            .check(self.jwks.as_ref().and_then(Jwks::given_max_age))?;
        let mut guard = self.guard;
        let publish = self.jwks.is_some();
        let (jwks_path, jwks_cache_control) =
            self.jwks.unwrap_or_default().check(lifetimes.key_overlap)?;
        guard.jwks_path = publish.then_some(jwks_path);
        let introspection = match self.introspection {
            Some(introspection) => {
                let (path, introspector) = introspection.check(Arc::clone(&self.clock))?;
                guard.introspection_path = Some(path);
                Some(introspector)
            }
            None => None,
        };
        guard.check()?;
        let renderer = Renderer::checked(self.realm, self.error_body)?;
        if let Some(name) = &self.access_cookie {
            check_cookie_name("access-token cookie", name)?;
        }
        let transport = self
            .transport
            .check(guard.cookie_paths(), lifetimes.refresh_ttl)?;
        let (refresh_secrets, refresh_derived) = secrets::session_secrets(
            self.refresh_secret,
            self.previous_refresh_secrets,
            &signing,
            &self.verifying,
        )?;
        let dpop = self.dpop.check(Some(&refresh_secrets[0]))?;

        let store = match self.store {
            Some(store) => store,
            None => default_store()?,
        };
        // What the configuration needs of the store beyond its five core operations.
        if guard.sessions_path.is_some() && store.subject_index().is_none() {
            return Err(ConfigError::MissingCapability {
                needed_by: "`sessions_route()`",
                capability: "SubjectIndex",
            });
        }
        let max_sessions = session_limit(self.max_sessions, &*store)?;
        if dpop.is_some() && store.dpop().is_none() {
            return Err(ConfigError::MissingCapability {
                needed_by: "DPoP",
                capability: "DpopStore",
            });
        }

        let check_sessions = SessionCheck::start(
            self.check_sessions,
            &store,
            &self.clock,
            lifetimes.leeway.max(Duration::from_secs(1)),
        )?;
        let access = AccessTokens::new(
            signing,
            self.verifying,
            lifetimes.access_ttl,
            lifetimes.leeway,
            self.issuer,
            self.audience,
            publish,
        )?;
        let renderer = match &dpop {
            Some(dpop) => renderer.with_dpop(DpopChallenge {
                algs: dpop.settings.rules.algs_param(),
                bearer_too: dpop.settings.mode == DpopMode::Optional,
                nonces: dpop.nonces.clone().map(|n| (n, Arc::clone(&self.clock))),
            }),
            None => renderer,
        };
        // docs/protocol.md §12: the RFC 8414 metadata beside the JWKS, when the issuer is a URL.
        let guard = guard.with_metadata(access.issuer());
        let access = Arc::new(access.with_cache(self.cache_capacity));
        let dpop = DpopPolicy::new(
            dpop.map(|dpop| dpop.settings),
            Arc::clone(&store),
            Arc::clone(&self.clock),
        );
        let dpop = Arc::new(dpop);
        let sessions = Sessions {
            store,
            clock: Arc::clone(&self.clock),
            keys: SessionKeys::new(refresh_secrets.iter().map(Vec::as_slice), refresh_derived),
            access: Arc::clone(&access),
            dpop: Arc::clone(&dpop),
            refresh_ttl: lifetimes.refresh_ttl,
            grace: lifetimes.grace,
            session_lifetime: lifetimes.session_lifetime,
            max_sessions,
            check_sessions,
            events: Events::new(self.on_event),
        };
        Ok(RefreshAuth::from_shared(Shared {
            access,
            sessions,
            dpop,
            clock: self.clock,
            key_overlap: lifetimes.key_overlap,
            introspection,
            http: crate::face::Http {
                guard,
                transport,
                access_cookie: self.access_cookie,
                body_limit: self.body_limit,
                jwks_cache_control,
                renderer: Arc::new(renderer),
            },
        }))
    }
}

/// The limit of sessions per subject: on by default where the store keeps a subject index
/// (the limit reads the subject's sessions), refused where it was asked for and the store
/// has none.
fn session_limit(
    given: Option<usize>,
    store: &dyn RefreshStore,
) -> Result<Option<usize>, ConfigError> {
    if let Some(max) = given
        && !(1..=MAX_SESSIONS_PER_SUBJECT).contains(&max)
    {
        return Err(ConfigError::SessionLimit(max));
    }
    match (given, store.subject_index().is_some()) {
        (max, true) => Ok(Some(max.unwrap_or(DEFAULT_MAX_SESSIONS_PER_SUBJECT))),
        (None, false) => Ok(None),
        (Some(_), false) => Err(ConfigError::MissingCapability {
            needed_by: "`max_sessions_per_subject(…)`",
            capability: "SubjectIndex",
        }),
    }
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
mod tests;
