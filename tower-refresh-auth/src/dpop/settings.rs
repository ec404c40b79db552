//! [`Dpop`]: the DPoP settings as one value, checked where they are assembled.

use std::sync::Arc;
use std::time::Duration;

use super::{DpopMode, DpopSettings, Nonces, Origin, ProofRules, SUPPORTED};
use crate::error::ConfigError;
use crate::keys::Algorithm;

/// The longest proof window and nonce period accepted.
const MAX_WINDOW: Duration = Duration::from_secs(300);

/// How the layer takes DPoP proofs (RFC 9449; `docs/protocol.md` §10), given to
/// [`RefreshAuthBuilder::dpop`](crate::RefreshAuthBuilder::dpop): the
/// [mode](DpopMode), where the service's public URL comes from, the proof window, the
/// algorithms proofs may use and server nonces.
///
/// With DPoP on, the layer must know the URL clients call it at: set
/// [`origin`](Self::origin) or [`origin_from_host`](Self::origin_from_host), or the build
/// is refused.
///
/// ```
/// use std::time::Duration;
/// use tower_refresh_auth::dpop::Dpop;
/// use tower_refresh_auth::{Algorithm, NoClaims, RefreshAuth};
///
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .dpop(
///         Dpop::required()
///             .origin("https://api.example.com")
///             .window(Duration::from_secs(30))
///             .algorithms([Algorithm::ES256])
///             .nonces(Duration::from_secs(60)),
///     )
///     .build()?;
/// # let _ = auth;
///
/// // Proofs signed with a shared secret prove nothing: refused when built.
/// let err = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .dpop(Dpop::optional().origin("https://api.example.com").algorithms([Algorithm::HS256]))
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("never `none` or an HMAC"));
/// # Ok::<_, tower_refresh_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "give it to `RefreshAuthBuilder::dpop`"]
pub struct Dpop {
    mode: DpopMode,
    origin: Option<OriginSetting>,
    window: Duration,
    algs: Vec<Algorithm>,
    nonce_period: Option<Duration>,
}

/// Where the public URL for `htu` comes from, as given.
#[derive(Debug, Clone)]
enum OriginSetting {
    Fixed(String),
    Host(String),
}

impl Default for Dpop {
    /// DPoP off.
    fn default() -> Self {
        Self::new(DpopMode::Off)
    }
}

impl From<DpopMode> for Dpop {
    fn from(mode: DpopMode) -> Self {
        Self::new(mode)
    }
}

impl Dpop {
    /// DPoP in `mode`, with the defaults: a 60-second proof window, ES256 and EdDSA, no
    /// server nonces, and no origin yet.
    pub fn new(mode: DpopMode) -> Self {
        Self {
            mode,
            origin: None,
            window: Duration::from_secs(60),
            algs: vec![Algorithm::ES256, Algorithm::EdDSA],
            nonce_period: None,
        }
    }

    /// [`DpopMode::Optional`]: bearer and DPoP side by side.
    pub fn optional() -> Self {
        Self::new(DpopMode::Optional)
    }

    /// [`DpopMode::Required`]: every login, refresh and protected request needs a proof.
    pub fn required() -> Self {
        Self::new(DpopMode::Required)
    }

    /// The mode these settings turn on.
    #[must_use]
    pub fn mode(&self) -> DpopMode {
        self.mode
    }

    /// The public base URL of the service, `https://api.example.com` (or with the path it is
    /// mounted under, `https://example.com/api`): a proof's `htu` must be this plus the
    /// request's path (RFC 9449 §4.3, normalised, without query and fragment).
    pub fn origin(mut self, base_url: impl Into<String>) -> Self {
        self.origin = Some(OriginSetting::Fixed(base_url.into()));
        self
    }

    /// Takes the public URL from each request's authority (the `Host` header, or HTTP/2's
    /// `:authority`) with `scheme` (`https`, or `http` for local development), instead of a
    /// fixed [`origin`](Self::origin).
    ///
    /// # Warning
    ///
    /// The `Host` header is the client's to choose. A proof stays bound to its key, method,
    /// path, time and token either way, so a proof made for another host can be replayed
    /// here only if the same key and token are good here too; but a fixed origin is the
    /// stricter check. Use this behind a proxy that sets `Host` itself, or in development.
    pub fn origin_from_host(mut self, scheme: impl Into<String>) -> Self {
        self.origin = Some(OriginSetting::Host(scheme.into()));
        self
    }

    /// How far a proof's `iat` may be from the server's clock, either way. Default 60
    /// seconds; between one second and five minutes. Proof `jti`s are remembered this long
    /// (twice, and a second, to cover both sides).
    ///
    /// # Warning
    ///
    /// A longer window accepts proofs signed further ahead of time (RFC 9449 §11.1: a
    /// pre-generated proof), and makes the store remember more `jti`s.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The algorithms proofs may use, listed in the challenge's `algs`. Default ES256 and
    /// EdDSA; ES384 may be added. Anything else — `none`, an HMAC, RSA — is refused when
    /// built.
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algs = algs.into_iter().collect();
        self
    }

    /// Server-issued nonces (RFC 9449 §8): every proof must carry a `nonce` the server
    /// issued, fresh for `period` (and one period more), or is refused with
    /// `use_dpop_nonce` and a new nonce in the `DPoP-Nonce` header. A proof can then not be
    /// signed ahead of time. The nonces are an HMAC of the time under a key derived from the
    /// refresh-token secret, so every instance sharing that secret agrees on them without a
    /// store call. Off by default; `period` is between one second and five minutes.
    ///
    /// A [resource server](crate::resource) makes its own (RFC 9449 §9), under the secret
    /// given to
    /// [`ResourceServerBuilder::dpop_nonce_secret`](crate::resource::ResourceServerBuilder::dpop_nonce_secret).
    pub fn nonces(mut self, period: Duration) -> Self {
        self.nonce_period = Some(period);
        self
    }

    /// The settings as the layer runs them, `None` with DPoP off. `nonce_secret` keys the
    /// server nonces (the refresh-token secret, or a resource server's own); without one
    /// nonces are refused.
    pub(crate) fn check(self, nonce_secret: Option<&[u8]>) -> Result<Option<Checked>, ConfigError> {
        if !self.mode.is_on() {
            return Ok(None);
        }
        let origin = match &self.origin {
            None => return Err(ConfigError::MissingDpopOrigin),
            Some(OriginSetting::Fixed(url)) => Origin::fixed(url)?,
            Some(OriginSetting::Host(scheme)) => Origin::from_host(scheme)?,
        };
        if !(Duration::from_secs(1)..=MAX_WINDOW).contains(&self.window) {
            return Err(ConfigError::DpopWindow(self.window));
        }
        if let Some(alg) = self.algs.iter().find(|a| !SUPPORTED.contains(&a.to_jwt())) {
            return Err(ConfigError::DpopAlgorithm(*alg));
        }
        if self.algs.is_empty() {
            return Err(ConfigError::DpopAlgorithm(Algorithm::HS256));
        }
        if let Some(period) = self.nonce_period
            && !(Duration::from_secs(1)..=MAX_WINDOW).contains(&period)
        {
            return Err(ConfigError::DpopWindow(period));
        }
        let nonces = match (self.nonce_period, nonce_secret) {
            (None, _) => None,
            (Some(period), Some(secret)) => Some(Arc::new(Nonces::new(secret, period))),
            (Some(_), None) => return Err(ConfigError::DpopNoncesWithoutSecret),
        };
        Ok(Some(Checked {
            settings: DpopSettings {
                mode: self.mode,
                rules: ProofRules {
                    algs: self.algs.iter().map(|a| a.to_jwt()).collect(),
                    window: self.window,
                    origin,
                    nonces: nonces.clone(),
                },
            },
            nonces,
        }))
    }
}

/// DPoP settings that passed [`Dpop::check`].
pub(crate) struct Checked {
    pub(crate) settings: DpopSettings,
    pub(crate) nonces: Option<Arc<Nonces>>,
}
