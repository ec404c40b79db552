//! [`ResourceServerBuilder`]: a resource server's configuration, checked once when built.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::issuer::{IssuerKeys, Policy};
use super::keyset::{self, Rules};
use super::source::{Issuer, Source};
use super::{Inner, ResourceServer};
use crate::clock::{Clock, SystemClock};
use crate::dpop::{Dpop, DpopMode, DpopSettings};
use crate::error::{ConfigError, ErrorBody};
use crate::events::{EventFn, Events};
use crate::guard::Guard;
use crate::response::{DEFAULT_REALM, DpopChallenge, ErrorBodyFn, Renderer};
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
    leeway: Duration,
    clock: Arc<dyn Clock>,
    realm: String,
    error_body: Option<Arc<ErrorBodyFn>>,
    cache: usize,
    access_cookie: Option<String>,
    guard: Guard,
    on_event: Option<Arc<EventFn>>,
    policy: Policy,
    fetch_timeout: Duration,
    max_jwks_bytes: usize,
    allow_insecure_http: bool,
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
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<C> ResourceServerBuilder<C> {
    pub(crate) fn new() -> Self {
        Self {
            issuers: Vec::new(),
            leeway: Duration::ZERO,
            clock: Arc::new(SystemClock),
            realm: DEFAULT_REALM.into(),
            error_body: None,
            cache: 0,
            access_cookie: None,
            guard: Guard::default(),
            on_event: None,
            policy: Policy {
                cooldown: Duration::from_secs(10),
                max_staleness: Duration::from_secs(3600),
                min_ttl: Duration::from_secs(30),
                max_ttl: Duration::from_secs(24 * 3600),
                default_ttl: Duration::from_secs(300),
            },
            fetch_timeout: Duration::from_secs(5),
            max_jwks_bytes: 64 * 1024,
            allow_insecure_http: false,
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

    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default zero.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The clock tokens' times and key-set ages are read from; tests use a
    /// [`ManualClock`](crate::clock::ManualClock). Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The realm of the `WWW-Authenticate` challenge. Default `api`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Renders every refusal's body with `render`; the status and the RFC 6750 headers are
    /// kept. As [`RefreshAuthBuilder::error_body`](crate::RefreshAuthBuilder::error_body).
    pub fn error_body<F>(mut self, render: F) -> Self
    where
        F: Fn(&AuthError) -> ErrorBody + Send + Sync + 'static,
    {
        self.error_body = Some(Arc::new(render));
        self
    }

    /// Caches up to `capacity` verified tokens, as the issuing layer's
    /// [`verified_token_cache`](crate::RefreshAuthBuilder::verified_token_cache). `0` (the
    /// default) is off.
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.cache = capacity;
        self
    }

    /// Also reads the access token from the cookie `name` (never together with the
    /// `Authorization` header).
    pub fn access_cookie(mut self, name: impl Into<String>) -> Self {
        self.access_cookie = Some(name.into());
        self
    }

    /// Serves `path` without a token (with the refusal in the extensions instead of claims).
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.guard.public_paths.push(path.into());
        self
    }

    /// Serves every path starting with `prefix` without a token.
    pub fn public_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.guard.public_prefixes.push(prefix.into());
        self
    }

    /// Serves every path without a token: handlers decide, with the adapters' optional
    /// extractors.
    pub fn optional(mut self) -> Self {
        self.guard.optional = true;
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

    /// At most one fetch per issuer per `cooldown`, whatever asks for it (default 10 s).
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.policy.cooldown = cooldown;
        self
    }

    /// How long past its max-age the last good key set keeps verifying while its source
    /// fails (default 1 h); past it, tokens of that issuer are answered `503`.
    ///
    /// # Warning
    ///
    /// While a stale set verifies, a key the issuer withdrew (a leaked key) still verifies
    /// here. Keep it as short as the issuer's outages allow.
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.policy.max_staleness = max_staleness;
        self
    }

    /// The bounds a source's `Cache-Control: max-age` is clamped into (default 30 s to
    /// 24 h), and the max-age of a set served without one (default 5 min, clamped too).
    pub fn cache_ttl(mut self, min: Duration, max: Duration, default: Duration) -> Self {
        self.policy.min_ttl = min;
        self.policy.max_ttl = max;
        self.policy.default_ttl = default;
        self
    }

    /// The longest one fetch (connect to last byte) may take (default 5 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The largest metadata document or key set accepted, in bytes (default 64 KiB).
    pub fn max_jwks_bytes(mut self, bytes: usize) -> Self {
        self.max_jwks_bytes = bytes;
        self
    }

    /// Accepts plain-`http` key sources on hosts that are not loopback.
    ///
    /// # Warning
    ///
    /// Anyone on the network path can then replace the keys and forge every token. For
    /// tests and private networks that are encrypted below HTTP only.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
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
    /// usable key, an unusable or plain-`http` non-loopback URL, a zero cooldown, TTL bounds
    /// the wrong way round, a bad realm; a remote source outside a tokio runtime.
    pub fn build(self) -> Result<ResourceServer<C>, ConfigError> {
        crate::crypto_backend::ensure()?;
        if self.issuers.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        if self.policy.cooldown.is_zero() {
            return Err(ConfigError::ZeroDuration("refetch_cooldown"));
        }
        if self.policy.min_ttl > self.policy.max_ttl || self.policy.max_ttl.is_zero() {
            return Err(ConfigError::ZeroDuration("cache_ttl (max below min)"));
        }
        if self
            .realm
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            return Err(ConfigError::InvalidRealm(self.realm));
        }
        let mut catch_all = None;
        for (i, issuer) in self.issuers.iter().enumerate() {
            let clash = match &issuer.iss {
                Some(iss) => self.issuers[..i]
                    .iter()
                    .any(|other| other.iss.as_deref() == Some(iss)),
                None => catch_all.replace(i).is_some(),
            };
            if clash {
                return Err(ConfigError::DuplicateIssuer(issuer.name()));
            }
        }
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
                self.policy,
                Arc::clone(&self.clock),
                events.clone(),
            );
            #[cfg(feature = "remote-jwks")]
            {
                use super::fetch::{Http, Remote, RemoteSource, check_url};
                let source = match issuer.source {
                    Source::JwksUrl(url) => Some(RemoteSource::Jwks(check_url(
                        &url,
                        self.allow_insecure_http,
                    )?)),
                    Source::Discover(url) => {
                        let parsed = check_url(&url, self.allow_insecure_http)?;
                        Some(RemoteSource::issuer(url, parsed))
                    }
                    Source::Jwks(_) | Source::Keys(_) => None,
                };
                if let Some(source) = source {
                    let http = match http.get() {
                        Some(http) => Arc::clone(http),
                        None => {
                            let made =
                                Arc::new(Http::new(self.fetch_timeout, self.max_jwks_bytes)?);
                            let _ = http.set(Arc::clone(&made));
                            made
                        }
                    };
                    keys.remote = Some(Remote::new(source, http, self.allow_insecure_http));
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
            self.fetch_timeout,
            self.max_jwks_bytes,
            self.allow_insecure_http,
        );
        let (dpop, replay, renderer) = dpop_settings(
            self.dpop,
            self.dpop_store,
            self.dpop_nonce_secret.as_deref(),
            &self.clock,
            Renderer::new(self.realm, self.error_body),
        )?;
        Ok(ResourceServer {
            inner: Arc::new(Inner {
                issuers,
                catch_all,
                leeway_ms: u64::try_from(self.leeway.as_millis()).unwrap_or(u64::MAX),
                clock: self.clock,
                guard: self.guard,
                renderer: Arc::new(renderer),
                dpop,
                replay,
                cache: (self.cache > 0).then(|| TokenCache::new(self.cache)),
                access_cookie: self.access_cookie,
            }),
            _claims: PhantomData,
        })
    }
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
