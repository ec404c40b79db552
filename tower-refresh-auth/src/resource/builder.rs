//! [`ResourceServerBuilder`]: a resource server's configuration, checked once when built.
//!
//! The settings come in typed groups that check themselves: [`Guarding`] (shared with the
//! issuing layer's builder), [`KeyFetching`], [`Dpop`]; each setter of a group's family here is
//! a shortcut that sets it in its group.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::issuer::IssuerKeys;
use super::key_fetching::KeyFetching;
use super::keyset::{self, Rules};
use super::source::{Issuer, Source};
use super::{Inner, ResourceServer};
use crate::clock::{Clock, SystemClock};
use crate::dpop::{Dpop, DpopMode, DpopSettings};
use crate::error::{ConfigError, ErrorBody};
use crate::events::{EventFn, Events};
use crate::guard::Guard;
use crate::guarding::Guarding;
use crate::response::{DpopChallenge, Renderer};
use crate::store::RefreshStore;
use crate::token::access::{KeyStatus, Verifier, validation};
use crate::token::cache::TokenCache;
use crate::{AuthError, SecurityEvent};

/// Builds a [`ResourceServer`]: one or more [`Issuer`]s, and how tokens are read and keys
/// fetched. [`build`](Self::build) refuses a weak or contradictory configuration with a
/// [`ConfigError`] saying how to fix it.
///
/// ```
/// use std::time::Duration;
/// use tower_refresh_auth::resource::{Issuer, ResourceServer};
/// use tower_refresh_auth::NoClaims;
///
/// let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let server = ResourceServer::<NoClaims>::builder()
///     .issuer(Issuer::from_jwks(jwks).issuer("https://login.example.com"))
///     .leeway(Duration::from_secs(5))
///     .public_path("/healthz")
///     .verified_token_cache(10_000)
///     .build()?;
/// # let _ = server;
///
/// // No issuer: refused, saying how to fix it.
/// let err = ResourceServer::<NoClaims>::builder().build().unwrap_err();
/// assert!(err.to_string().contains(".issuer("));
/// # Ok::<_, tower_refresh_auth::ConfigError>(())
/// ```
pub struct ResourceServerBuilder<C> {
    issuers: Vec<Issuer>,
    clock: Arc<dyn Clock>,
    guarding: Guarding,
    on_event: Option<Arc<EventFn>>,
    fetching: KeyFetching,
    dpop: Dpop,
    dpop_store: Option<Arc<dyn RefreshStore>>,
    /// Keys this server's own DPoP nonces ([`Dpop::nonces`]); `None`: nonces refused.
    dpop_nonce_secret: Option<Vec<u8>>,
    _claims: PhantomData<fn() -> C>,
}

impl<C> std::fmt::Debug for ResourceServerBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServerBuilder")
            .field("issuers", &self.issuers)
            .field("guarding", &self.guarding)
            .field("fetching", &self.fetching)
            .finish_non_exhaustive()
    }
}

impl<C> ResourceServerBuilder<C> {
    pub(crate) fn new() -> Self {
        Self {
            issuers: Vec::new(),
            clock: Arc::new(SystemClock),
            guarding: Guarding::new(),
            on_event: None,
            fetching: KeyFetching::new(),
            dpop: Dpop::default(),
            dpop_store: None,
            dpop_nonce_secret: None,
            _claims: PhantomData,
        }
    }

    /// Trusts `issuer`. Call once per issuer; with several, each needs its own `iss`
    /// ([`Issuer::issuer`]) except at most one, which takes the tokens no other names.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// The clock tokens' times and key-set ages are read from; tests use a
    /// [`ManualClock`](crate::clock::ManualClock). Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Hands the application every [`SecurityEvent`] about key sources: a failed fetch, an
    /// issuer answered `503`, a fetch for an unknown `kid`.
    pub fn on_security_event<F>(mut self, callback: F) -> Self
    where
        F: Fn(&SecurityEvent) + Send + Sync + 'static,
    {
        self.on_event = Some(Arc::new(callback));
        self
    }

    /// How requests are guarded ([`Guarding`]: the realm, error bodies, the access-token
    /// cookie, public paths, optional mode, leeway, the verified-token cache), the same group
    /// as the issuing layer's, checked when built. Replaces every guard setting given before,
    /// by this or by the shortcuts below.
    pub fn guarding(mut self, guarding: Guarding) -> Self {
        self.guarding = guarding;
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default zero. Sets
    /// [`Guarding::leeway`].
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.guarding = self.guarding.leeway(leeway);
        self
    }

    /// The realm of the `WWW-Authenticate` challenge. Default `api`. Sets
    /// [`Guarding::realm`].
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.guarding = self.guarding.realm(realm);
        self
    }

    /// Renders every refusal's body with `render`; the status and the RFC 6750 headers are
    /// kept. As [`RefreshAuthBuilder::error_body`](crate::RefreshAuthBuilder::error_body);
    /// sets [`Guarding::error_body`].
    pub fn error_body<F>(mut self, render: F) -> Self
    where
        F: Fn(&AuthError) -> ErrorBody + Send + Sync + 'static,
    {
        self.guarding = self.guarding.error_body(render);
        self
    }

    /// Caches up to `capacity` verified tokens, as the issuing layer's
    /// [`verified_token_cache`](crate::RefreshAuthBuilder::verified_token_cache). `0` (the
    /// default) is off. Sets [`Guarding::verified_token_cache`].
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.guarding = self.guarding.verified_token_cache(capacity);
        self
    }

    /// Also reads the access token from the cookie `name` (never together with the
    /// `Authorization` header). Sets [`Guarding::access_token_cookie`].
    pub fn access_cookie(mut self, name: impl Into<String>) -> Self {
        self.guarding = self.guarding.access_token_cookie(name);
        self
    }

    /// Serves `path` without a token (with the refusal in the extensions instead of claims).
    /// Sets [`Guarding::public_path`].
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.guarding = self.guarding.public_path(path);
        self
    }

    /// Serves every path starting with `prefix` without a token. Sets
    /// [`Guarding::public_prefix`].
    pub fn public_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.guarding = self.guarding.public_prefix(prefix);
        self
    }

    /// Serves every path without a token: handlers decide, with the adapters' optional
    /// extractors. Sets [`Guarding::optional`].
    pub fn optional(mut self) -> Self {
        self.guarding = self.guarding.optional();
        self
    }

    /// How key sets are fetched ([`KeyFetching`]: the cooldown, staleness, TTL bounds,
    /// timeout, size limit, `http`), checked when built. Replaces every fetching setting given
    /// before, by this or by the shortcuts below.
    pub fn key_fetching(mut self, fetching: KeyFetching) -> Self {
        self.fetching = fetching;
        self
    }

    /// At most one fetch per issuer per `cooldown` (default 10 s). Sets
    /// [`KeyFetching::refetch_cooldown`].
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.fetching = self.fetching.refetch_cooldown(cooldown);
        self
    }

    /// How long past its max-age the last good key set keeps verifying while its source
    /// fails (default 1 h). Sets [`KeyFetching::max_staleness`], whose warning applies.
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.fetching = self.fetching.max_staleness(max_staleness);
        self
    }

    /// The bounds a source's max-age is clamped into, and the max-age of a set served
    /// without one. Sets [`KeyFetching::cache_ttl`].
    pub fn cache_ttl(mut self, min: Duration, max: Duration, default: Duration) -> Self {
        self.fetching = self.fetching.cache_ttl(min, max, default);
        self
    }

    /// The longest one fetch may take (default 5 s). Sets [`KeyFetching::fetch_timeout`].
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetching = self.fetching.fetch_timeout(timeout);
        self
    }

    /// The largest metadata document or key set accepted, in bytes (default 64 KiB). Sets
    /// [`KeyFetching::max_jwks_bytes`].
    pub fn max_jwks_bytes(mut self, bytes: usize) -> Self {
        self.fetching = self.fetching.max_jwks_bytes(bytes);
        self
    }

    /// Accepts plain-`http` key sources on hosts that are not loopback. Sets
    /// [`KeyFetching::allow_insecure_http`], whose warning applies.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.fetching = self.fetching.allow_insecure_http(allow);
        self
    }

    /// DPoP-bound tokens (RFC 9449 §7, `docs/protocol.md` §10), with the issuing layer's
    /// [`Dpop`] settings: off (the default: a bound token is refused), optional (bearer and
    /// bound tokens side by side) or required (bound tokens only). A bound token must come as
    /// `Authorization: DPoP` with a proof of its key for this request (`htm`, `htu` against the
    /// settings' [origin](Dpop::origin), `iat` within the [window](Dpop::window), `ath`),
    /// whose `jti` is spent in the [replay memory](Self::dpop_replay_store).
    ///
    /// Server [nonces](Dpop::nonces) (RFC 9449 §9) are this server's own, not the issuer's:
    /// with them on, a proof without a current nonce of this server is answered `401` with
    /// `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a fresh nonce in `DPoP-Nonce`. They
    /// need a secret to make them with, [`dpop_nonce_secret`](Self::dpop_nonce_secret); without
    /// one they are refused when built.
    pub fn dpop(mut self, dpop: impl Into<Dpop>) -> Self {
        self.dpop = dpop.into();
        self
    }

    /// Where spent proofs are remembered: a store with the
    /// [`DpopStore`](crate::store::DpopStore) capability, shared by every instance of this
    /// service so a proof replayed at another instance is refused too. Default: this process's
    /// memory (the `memory-store` feature), which refuses replays to this instance only.
    pub fn dpop_replay_store(mut self, store: Arc<dyn RefreshStore>) -> Self {
        self.dpop_store = Some(store);
        self
    }

    /// The secret this server's DPoP nonces ([`Dpop::nonces`]) are made under (at least 32
    /// bytes): an HMAC of the time under a key derived from it, so every instance of this
    /// service given the same secret agrees on them without a store. Needed for nonces only.
    ///
    /// Give it a secret of its own: never the issuer's refresh-token secret, which forges
    /// refresh tokens wherever it is known. Nonces made by the issuer (or another service)
    /// are then refused here, and this server's there.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_refresh_auth::dpop::Dpop;
    /// use tower_refresh_auth::resource::{Issuer, ResourceServer};
    /// use tower_refresh_auth::NoClaims;
    ///
    /// let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    /// let server = ResourceServer::<NoClaims>::builder()
    ///     .issuer(Issuer::from_jwks(jwks).issuer("https://login.example.com"))
    ///     .dpop(Dpop::required().origin("https://api.example.com").nonces(Duration::from_secs(60)))
    ///     .dpop_nonce_secret(b"this service's own nonce secret, 32+ bytes".to_vec())
    ///     .build()?;
    /// # let _ = server;
    ///
    /// // Nonces without a secret to make them: refused when built.
    /// let err = ResourceServer::<NoClaims>::builder()
    ///     .issuer(Issuer::from_jwks(jwks))
    ///     .dpop(Dpop::required().origin("https://api.example.com").nonces(Duration::from_secs(60)))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains(".dpop_nonce_secret("));
    /// # Ok::<_, tower_refresh_auth::ConfigError>(())
    /// ```
    pub fn dpop_nonce_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.dpop_nonce_secret = Some(secret.into());
        self
    }

    /// Checks the configuration and makes the server. Static key sets are read here; remote
    /// ones start fetching in the background (inside a tokio runtime).
    ///
    /// # Errors
    ///
    /// No issuer, two issuers with one `iss`, an HMAC algorithm or key, a static set with no
    /// usable key, an unusable or plain-`http` non-loopback URL, a [`KeyFetching`] or
    /// [`Guarding`] setting out of range (a zero cooldown, TTL bounds the wrong way round, a
    /// bad realm, cookie name or public path); a remote source outside a tokio runtime.
    pub fn build(self) -> Result<ResourceServer<C>, ConfigError> {
        crate::crypto_backend::ensure()?;
        if self.issuers.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        let fetching = self.fetching.check()?;
        let guarding = self.guarding.check()?;
        let catch_all = catch_all(&self.issuers)?;
        let events = Events::new(self.on_event);
        #[cfg(feature = "remote-jwks")]
        let http = std::sync::OnceLock::new();
        let mut issuers = Vec::with_capacity(self.issuers.len());
        for issuer in self.issuers {
            if let Some(alg) = issuer.algorithms.iter().find(|a| a.is_symmetric()) {
                return Err(ConfigError::InvalidJwks(
                    format!(
                        "{alg} needs a shared secret; a resource server verifies with public \
                         keys only: allow asymmetric algorithms"
                    )
                    .into(),
                ));
            }
            let name = issuer.name();
            let rules = Rules {
                iss: issuer.iss,
                audiences: issuer.audiences,
                algorithms: issuer.algorithms,
            };
            let static_keys = match &issuer.source {
                Source::Jwks(document) => {
                    Some(keyset::parse(document, &rules).map_err(ConfigError::InvalidJwks)?)
                }
                Source::Keys(keys) => Some(static_verifiers(keys, &rules)?),
                #[cfg(feature = "remote-jwks")]
                Source::JwksUrl(_) | Source::Discover(_) => None,
            };
            #[allow(unused_mut)]
            let mut keys = IssuerKeys::new(
                name,
                rules,
                static_keys,
                fetching.policy,
                Arc::clone(&self.clock),
                events.clone(),
            );
            #[cfg(feature = "remote-jwks")]
            {
                use super::fetch::{Http, Remote, RemoteSource, check_url};
                let insecure = fetching.allow_insecure_http;
                let source = match issuer.source {
                    Source::JwksUrl(url) => Some(RemoteSource::Jwks(check_url(&url, insecure)?)),
                    Source::Discover(url) => {
                        let parsed = check_url(&url, insecure)?;
                        Some(RemoteSource::issuer(url, parsed))
                    }
                    Source::Jwks(_) | Source::Keys(_) => None,
                };
                if let Some(source) = source {
                    let http = match http.get() {
                        Some(http) => Arc::clone(http),
                        None => {
                            let made = Arc::new(Http::new(fetching.timeout, fetching.max_bytes)?);
                            let _ = http.set(Arc::clone(&made));
                            made
                        }
                    };
                    keys.remote = Some(Remote::new(source, http, insecure));
                }
            }
            issuers.push(Arc::new(keys));
        }
        #[cfg(feature = "remote-jwks")]
        for keys in &issuers {
            super::fetch::spawn_refresher(keys)?;
        }
        #[cfg(not(feature = "remote-jwks"))]
        let _ = (
            fetching.timeout,
            fetching.max_bytes,
            fetching.allow_insecure_http,
        );
        let (dpop, replay, renderer) = dpop_settings(
            self.dpop,
            self.dpop_store,
            self.dpop_nonce_secret.as_deref(),
            &self.clock,
            guarding.renderer,
        )?;
        Ok(ResourceServer {
            inner: Arc::new(Inner {
                issuers,
                catch_all,
                leeway_ms: u64::try_from(guarding.leeway.as_millis()).unwrap_or(u64::MAX),
                clock: self.clock,
                guard: Guard {
                    public: guarding.public,
                    ..Guard::default()
                },
                renderer: Arc::new(renderer),
                dpop,
                replay,
                cache: guarding.cache_capacity.map(TokenCache::new),
                access_cookie: guarding.access_cookie,
            }),
            _claims: PhantomData,
        })
    }
}

/// The issuer configured without an `iss`, if any; refused when two answer to one `iss`, or
/// more than one to any.
fn catch_all(issuers: &[Issuer]) -> Result<Option<usize>, ConfigError> {
    let mut catch_all = None;
    for (i, issuer) in issuers.iter().enumerate() {
        let clash = match &issuer.iss {
            Some(iss) => issuers[..i]
                .iter()
                .any(|other| other.iss.as_deref() == Some(iss)),
            None => catch_all.replace(i).is_some(),
        };
        if clash {
            return Err(ConfigError::DuplicateIssuer(issuer.name()));
        }
    }
    Ok(catch_all)
}

/// The shortest secret this server's DPoP nonces are made under, as for a refresh-token
/// secret.
const MIN_NONCE_SECRET: usize = 32;

/// DPoP as a resource server does it: the proof rules, its own nonces (under `nonce_secret`,
/// read from `clock`), the replay memory, the challenge.
#[allow(clippy::type_complexity)]
fn dpop_settings(
    dpop: Dpop,
    store: Option<Arc<dyn RefreshStore>>,
    nonce_secret: Option<&[u8]>,
    clock: &Arc<dyn Clock>,
    renderer: Renderer,
) -> Result<
    (
        Option<DpopSettings>,
        Option<Arc<dyn RefreshStore>>,
        Renderer,
    ),
    ConfigError,
> {
    // A short secret is no secret: refused whether nonces are on or not.
    if nonce_secret.is_some_and(|s| s.len() < MIN_NONCE_SECRET) {
        return Err(ConfigError::DpopNoncesWithoutSecret);
    }
    let Some(checked) = dpop.check(nonce_secret)? else {
        return Ok((None, None, renderer));
    };
    let store = match store {
        Some(store) => store,
        #[cfg(feature = "memory-store")]
        None => Arc::new(crate::store::MemoryStore::new()),
        #[cfg(not(feature = "memory-store"))]
        None => return Err(ConfigError::MissingStore),
    };
    if store.dpop().is_none() {
        return Err(ConfigError::MissingCapability {
            needed_by: "DPoP",
            capability: "DpopStore",
        });
    }
    let settings = checked.settings;
    let renderer = renderer.with_dpop(DpopChallenge {
        algs: settings.rules.algs_param(),
        bearer_too: settings.mode == DpopMode::Optional,
        nonces: checked.nonces.map(|n| (n, Arc::clone(clock))),
    });
    Ok((Some(settings), Some(store), renderer))
}

/// The verifiers of keys in hand: each with its own algorithm, which the issuer must allow.
fn static_verifiers(
    keys: &[crate::keys::VerifyingKey],
    rules: &Rules,
) -> Result<Vec<Verifier>, ConfigError> {
    if keys.is_empty() {
        return Err(ConfigError::InvalidJwks("no keys were given".into()));
    }
    keys.iter()
        .map(|key| {
            if key.hmac_secret.is_some() {
                return Err(ConfigError::InvalidJwks(
                    "an HMAC key is a shared secret; a resource server verifies with public \
                     keys only"
                        .into(),
                ));
            }
            if !rules.algorithms.contains(&key.alg) {
                return Err(ConfigError::InvalidJwks(
                    format!(
                        "the key {:?} is {}, which the issuer's algorithms do not allow",
                        key.kid, key.alg
                    )
                    .into(),
                ));
            }
            Ok(Verifier::new(
                key.clone(),
                KeyStatus::Kept,
                validation(&[key.alg], rules.iss.as_deref(), &rules.audiences),
            ))
        })
        .collect()
}
