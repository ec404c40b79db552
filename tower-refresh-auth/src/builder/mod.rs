//! [`RefreshAuthBuilder`]: one builder, validated once, in [`build`](RefreshAuthBuilder::build).
//!
//! Every setting is checked when the layer is built, and refused with a [`ConfigError`] that
//! says how to fix it; nothing is checked again per request. Families of settings come as
//! typed values that check themselves — [`Guarding`], [`Dpop`], [`Jwks`],
//! [`Introspection`], [`RefreshTransport`] with its
//! [`CookieTransport`](crate::transport::CookieTransport) — and the lifetimes, which bound
//! each other, are checked together (`lifetimes.rs`); the routes and the store's capabilities
//! are checked in `parts.rs`, so [`build`](RefreshAuthBuilder::build) only assembles checked
//! parts. The signing keys' setters are in `signing.rs`, the guard settings' in `guarding.rs`.

mod guarding;
#[cfg(feature = "key-rotation")]
mod key_rotation;
mod lifetimes;
mod parts;
mod secrets;
mod signing;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use self::lifetimes::Lifetimes;
use crate::clock::{Clock, SystemClock};
use crate::dpop::{Dpop, DpopMode, DpopPolicy};
use crate::error::ConfigError;
use crate::events::{EventFn, Events, SecurityEvent};
use crate::guard::Guard;
use crate::guarding::Guarding;
use crate::introspection::Introspection;
use crate::keys::{Jwks, SigningKey, VerifyingKey};
use crate::response::DpopChallenge;
use crate::revocation::{SessionCheck, SessionChecking};
use crate::sessions::Sessions;
use crate::shared::{RefreshAuth, Shared};
use crate::store::RefreshStore;
use crate::token::access::AccessTokens;
use crate::token::refresh_token::SessionKeys;
use crate::transport::RefreshTransport;

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
    /// The layer's own routes (the public paths are in `guarding`).
    guard: Guard,
    guarding: Guarding,
    check_sessions: SessionChecking,
    body_limit: usize,
    transport: RefreshTransport,
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
            .field("guarding", &self.guarding)
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
            guarding: Guarding::new(),
            check_sessions: SessionChecking::Off,
            body_limit: 16 * 1024,
            transport: RefreshTransport::Body,
            on_event: None,
            jwks: None,
            dpop: Dpop::default(),
            introspection: None,
            #[cfg(feature = "key-rotation")]
            key_rotation: None,
            _claims: PhantomData,
        }
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
        let guarding = self.guarding.check()?;
        let jwks_max_age = self.jwks.as_ref().and_then(Jwks::given_max_age);
        let lifetimes = self.lifetimes.check(guarding.leeway, jwks_max_age)?;
        let routes = parts::Routes::check(
            self.guard,
            guarding.public,
            self.jwks,
            self.introspection,
            lifetimes.key_overlap,
            &self.clock,
        )?;
        let transport =
            (self.transport).check(routes.guard.cookie_paths(), lifetimes.refresh_ttl)?;
        let (refresh_secrets, refresh_derived) = secrets::session_secrets(
            self.refresh_secret,
            self.previous_refresh_secrets,
            &signing,
            &self.verifying,
        )?;
        let dpop = self.dpop.check(Some(&refresh_secrets[0]))?;
        let (store, max_sessions) =
            parts::store(self.store, &routes.guard, self.max_sessions, dpop.is_some())?;
        let skew = lifetimes.leeway.max(Duration::from_secs(1));
        let check_sessions = SessionCheck::start(self.check_sessions, &store, &self.clock, skew)?;
        let access = AccessTokens::new(
            signing,
            self.verifying,
            lifetimes.access_ttl,
            lifetimes.leeway,
            self.issuer,
            self.audience,
            routes.publish,
        )?;
        let renderer = match &dpop {
            Some(dpop) => guarding.renderer.with_dpop(DpopChallenge {
                algs: dpop.settings.rules.algs_param(),
                bearer_too: dpop.settings.mode == DpopMode::Optional,
                nonces: dpop.nonces.clone().map(|n| (n, Arc::clone(&self.clock))),
            }),
            None => guarding.renderer,
        };
        // docs/protocol.md §12: the RFC 8414 metadata beside the JWKS, when the issuer is a URL.
        let guard = routes.guard.with_metadata(access.issuer());
        let access = Arc::new(access.with_cache(guarding.cache_capacity));
        let dpop = dpop.map(|dpop| dpop.settings);
        let dpop = Arc::new(DpopPolicy::new(
            dpop,
            Arc::clone(&store),
            Arc::clone(&self.clock),
        ));
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
            introspection: routes.introspection,
            http: crate::face::Http {
                guard,
                transport,
                access_cookie: guarding.access_cookie,
                body_limit: self.body_limit,
                jwks_cache_control: routes.jwks_cache_control,
                renderer: Arc::new(renderer),
            },
        }))
    }
}

#[cfg(test)]
mod tests;
