//! [`Settings`]: the servers' settings as typed values, made from the settings table
//! (`variables.rs`: the environment, flags, `--help`; docs/protocol.md §6); each example hands
//! them to `RefreshAuth::builder()` itself.

use std::net::SocketAddr;
use std::time::Duration;
use tower_refresh_auth::dpop::Dpop;

use rand::RngCore;

use tower_refresh_auth::dpop::DpopMode;
use tower_refresh_auth::introspection::Introspection;
use tower_refresh_auth::keys::SigningKey;
use tower_refresh_auth::{RefreshAuthBuilder, SessionChecking, transport::RefreshTransport};

use crate::variables::Variables;

mod error;
mod store;

pub use self::error::SettingsError;
pub use self::store::StoreKind;

/// The longest `STEP_UP_MAX_AGE` or `KEY_ROTATION`: ten years (humantime's `10y`). The
/// library bounds the lifetimes it is given itself (its `ConfigError` names them, and
/// [`SettingsError::Refused`] their variables), but neither of these two, which it takes as
/// they are.
const MAX_DURATION: Duration = Duration::from_secs(10 * 31_557_600);

/// `value` of the variable `var` as a duration.
pub(crate) fn duration(var: &'static str, value: &str) -> Result<Duration, SettingsError> {
    humantime::parse_duration(value.trim()).map_err(|source| SettingsError::Duration {
        var,
        value: value.to_owned(),
        source,
    })
}

/// `value` of the variable `var` as a duration of at most ten years, for the durations the
/// library does not bound (see [`MAX_DURATION`]).
pub(crate) fn bounded_duration(var: &'static str, value: &str) -> Result<Duration, SettingsError> {
    let parsed = duration(var, value)?;
    if parsed > MAX_DURATION {
        return Err(SettingsError::DurationTooLong {
            var,
            value: value.to_owned(),
        });
    }
    Ok(parsed)
}

/// The servers' settings, typed. Read them with [`Settings::from_env`]; each variable's
/// default is in the settings table (`variables.rs`, `--help`, docs/protocol.md §6).
#[derive(Clone)]
pub struct Settings {
    /// `HOST`: the bind address.
    pub host: String,
    /// `PORT`: the bind port; `0` picks a free one.
    pub port: u16,
    /// `JWT_SECRET`: the HS256 secret, at least 32 bytes. `None`: a random one per start.
    pub jwt_secret: Option<Vec<u8>>,
    /// `JWT_PRIVATE_KEY_FILE`: the key read from that file (ES256, ES384, EdDSA or RS256),
    /// which signs access tokens instead of `JWT_SECRET`; its public half is then served at
    /// `GET /.well-known/jwks.json`. Default: unset.
    pub jwt_private_key: Option<SigningKey>,
    /// `REFRESH_TOKEN_SECRET`: the refresh-token MAC secret, at least 32 bytes. Default:
    /// unset, see [`Settings::refresh_secret`].
    pub refresh_token_secret: Option<Vec<u8>>,
    /// `ACCESS_TOKEN_TTL`: the access-token lifetime.
    pub access_ttl: Duration,
    /// `REFRESH_TOKEN_TTL`: the refresh-token lifetime.
    pub refresh_ttl: Duration,
    /// `REFRESH_REUSE_GRACE`: how long a spent refresh token still gets its successor.
    pub reuse_grace: Duration,
    /// `STORE_URL`: where sessions live.
    pub store_url: String,
    /// `REFRESH_TRANSPORT`: `body` (default) or `cookie`.
    pub transport: RefreshTransport,
    /// `VERIFIED_TOKEN_CACHE`: how many verified access tokens to cache (the library's
    /// opt-in verified-token cache).
    pub token_cache: usize,
    /// `STEP_UP_MAX_AGE`: how recent the user's last authentication (the login, or a
    /// password typed again at `POST /reauth`) must be for `POST /api/sensitive`
    /// (docs/protocol.md §15).
    pub step_up_max_age: Duration,
    /// `SESSION_LIFETIME`: how long a session lives at most, whatever its refreshes.
    /// `None`: no limit but the refresh-token TTL.
    pub session_lifetime: Option<Duration>,
    /// `MAX_SESSIONS_PER_USER`: the most live sessions one user keeps; a login past it ends
    /// the user's oldest (docs/protocol.md §8). From 1 to 10 000.
    pub max_sessions_per_user: usize,
    /// `CHECK_SESSIONS`: whether every access token must also belong to a live session, so a
    /// revoked session's tokens stop at once: `false` (the default, [`SessionChecking::Off`]),
    /// `true` (a store read per request, [`SessionChecking::PerRequest`]) or `feed` (each
    /// instance follows the store's revocation feed, [`SessionChecking::Feed`];
    /// docs/protocol.md §14).
    pub check_sessions: SessionChecking,
    /// `DPOP`: `off` (default), `optional` or `required` (docs/protocol.md §10). With DPoP on,
    /// `htu` is compared with the request's `Host` and `http` (the demo serves plain HTTP;
    /// behind TLS set `PUBLIC_URL`).
    pub dpop: DpopMode,
    /// `PUBLIC_URL`: the URL clients reach the server at (`https://app.example.com`), which
    /// DPoP proofs' `htu` must name. `None`: the request's `Host` over `http`.
    pub public_url: Option<String>,
    /// `METRICS_ADDR`: where Prometheus text metrics are served, at `GET /metrics`, on a
    /// listener of their own (never the application's port). `None`: no metrics.
    pub metrics_addr: Option<SocketAddr>,
    /// `INTROSPECTION_CLIENT`: `ID:SECRET` of the one client allowed to call `POST
    /// /introspect` (RFC 7662, docs/protocol.md §14), with HTTP Basic authentication; the
    /// secret at least 32 characters (`openssl rand -hex 32`). `None`: no route.
    pub introspection: Option<Introspection>,
    /// `KEY_ROTATION` (the signing-key lifetime) with `SIGNING_ALG`, `KEY_ENCRYPTION_KEY` or
    /// `KEY_ENCRYPTION_KEY_FILE`, and `PREVIOUS_KEY_ENCRYPTION_KEY`: the keys come from the
    /// key ring in `STORE_URL`, rotated on that schedule (docs/protocol.md §13). Default:
    /// unset, off.
    pub key_rotation: Option<tower_refresh_auth::fleet::KeyRotation>,
    /// `KEY_DIR`: signing keys from the key files of that directory (`current*.pem`,
    /// `next*.pem`, `retired*.pem`), read at start and reloaded when they change
    /// (docs/protocol.md §13). Default: unset.
    pub key_dir: Option<(
        tower_refresh_auth::fleet::KeyDirectory,
        tower_refresh_auth::fleet::DirectoryKeys,
    )>,
    /// `RUST_LOG`: the log filter, for [`init_tracing`](crate::init_tracing).
    pub log_filter: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_private_key", &self.jwt_private_key)
            .field(
                "refresh_token_secret",
                &self.refresh_token_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("reuse_grace", &self.reuse_grace)
            .field("store_url", &self.store_url)
            .field("transport", &self.transport)
            .field("token_cache", &self.token_cache)
            .field("step_up_max_age", &self.step_up_max_age)
            .field("session_lifetime", &self.session_lifetime)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field("check_sessions", &self.check_sessions)
            .field("dpop", &self.dpop)
            .field("public_url", &self.public_url)
            .field("metrics_addr", &self.metrics_addr)
            // `Introspection`'s own Debug never prints the secret.
            .field("introspection", &self.introspection)
            .field("key_rotation", &self.key_rotation)
            .field("key_dir", &self.key_dir)
            .field("log_filter", &self.log_filter)
            .finish()
    }
}

impl Default for Settings {
    /// The settings table's defaults (docs/protocol.md §6).
    fn default() -> Self {
        match Self::from_vars(|_| None) {
            Ok(settings) => settings,
            // `variables::tests` reads them.
            Err(err) => unreachable!("the settings table's defaults are valid: {err}"),
        }
    }
}

impl Settings {
    /// Reads the settings from the process environment; unset variables take their defaults.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the variable that is invalid.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_table(Variables::from_env())
    }

    /// Reads the settings from `var`, a lookup by variable name (the environment, or a map in
    /// tests), alone: unset variables take their defaults.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the variable that is invalid.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, SettingsError> {
        Self::from_table(Variables::from_vars(var)?)
    }

    /// The typed settings from the table's values.
    fn from_table(vars: Variables) -> Result<Self, SettingsError> {
        let port = vars
            .port
            .trim()
            .parse()
            .map_err(|_| SettingsError::Port(vars.port.clone()))?;
        // The secrets' lengths are the library's to check, when the layer is built.
        let jwt_secret = vars.jwt_secret.clone().map(String::into_bytes);
        let refresh_token_secret = vars.refresh_token_secret.clone().map(String::into_bytes);
        // Read at once, so a bad file stops the server before anything is bound.
        let jwt_private_key = vars
            .jwt_private_key_file
            .as_ref()
            .map(|path| SigningKey::from_file(path).map_err(SettingsError::KeyFile))
            .transpose()?;
        let key_dir = crate::fleet::read_key_dir(&vars)?;
        let key_rotation = crate::fleet::read(&vars, key_dir.is_some())?;
        let config = Self {
            key_rotation,
            key_dir,
            host: vars.host,
            port,
            jwt_secret,
            jwt_private_key,
            refresh_token_secret,
            access_ttl: duration("ACCESS_TOKEN_TTL", &vars.access_token_ttl)?,
            refresh_ttl: duration("REFRESH_TOKEN_TTL", &vars.refresh_token_ttl)?,
            reuse_grace: duration("REFRESH_REUSE_GRACE", &vars.refresh_reuse_grace)?,
            store_url: vars.store_url,
            transport: vars.refresh_transport.parse()?,
            token_cache: vars
                .verified_token_cache
                .trim()
                .parse()
                .map_err(|_| SettingsError::TokenCache(vars.verified_token_cache.clone()))?,
            step_up_max_age: bounded_duration("STEP_UP_MAX_AGE", &vars.step_up_max_age)?,
            session_lifetime: vars
                .session_lifetime
                .as_deref()
                .map(|value| duration("SESSION_LIFETIME", value))
                .transpose()?,
            // The range (1 to 10 000) is the library's to check.
            max_sessions_per_user: vars
                .max_sessions_per_user
                .trim()
                .parse()
                .map_err(|_| SettingsError::MaxSessions(vars.max_sessions_per_user.clone()))?,
            check_sessions: match vars.check_sessions.trim() {
                "true" => SessionChecking::PerRequest,
                "false" => SessionChecking::Off,
                "feed" => SessionChecking::Feed,
                other => return Err(SettingsError::CheckSessions(other.to_owned())),
            },
            dpop: vars
                .dpop
                .parse()
                .map_err(|_| SettingsError::Dpop(vars.dpop.clone()))?,
            public_url: vars.public_url.filter(|u| !u.trim().is_empty()),
            metrics_addr: vars
                .metrics_addr
                .map(|addr| {
                    addr.trim()
                        .parse()
                        .map_err(|_| SettingsError::MetricsAddr(addr.clone()))
                })
                .transpose()?,
            // The id and the secret are checked (length, characters) when the layer is built.
            introspection: match vars.introspection_client {
                None => None,
                Some(client) => match client.trim().split_once(':') {
                    Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                        Some(Introspection::client(id, secret))
                    }
                    _ => return Err(SettingsError::IntrospectionClient),
                },
            },
            log_filter: vars.rust_log,
        };
        // Fail on a URL that names no store, or a store not built in, before anything is bound.
        config.store_kind()?.ensure_built(&config.store_url)?;
        Ok(config)
    }

    /// `builder` with `DPOP` and `PUBLIC_URL` applied: the mode, and where proofs' `htu` is
    /// compared from (`PUBLIC_URL`, else the request's `Host` over plain `http`, which is
    /// what the demo serves; see the warning on `Dpop::origin_from_host`). With `PUBLIC_URL`
    /// set it is also the tokens' `iss` (without a trailing slash), so the issuer's RFC 8414
    /// metadata is served beside the JWKS (`docs/protocol.md` §12) and a resource server
    /// needs only that URL.
    pub fn apply_dpop<C>(&self, builder: RefreshAuthBuilder<C>) -> RefreshAuthBuilder<C> {
        let dpop = Dpop::new(self.dpop);
        match &self.public_url {
            Some(url) => builder
                .issuer(url.trim_end_matches('/'))
                .dpop(dpop.origin(url.clone())),
            None => builder.dpop(dpop.origin_from_host("http")),
        }
    }

    /// The address to bind, `HOST:PORT`.
    pub fn bind_addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The HS256 secret: `JWT_SECRET`, or when it is unset 48 random bytes, with a warning
    /// that tokens will not survive a restart.
    pub fn jwt_secret_or_random(&self) -> Vec<u8> {
        if let Some(secret) = &self.jwt_secret {
            return secret.clone();
        }
        tracing::warn!(
            "JWT_SECRET is unset: using a random secret, so every token dies with this \
             process; set JWT_SECRET (32+ bytes) to keep sessions across restarts"
        );
        random_secret()
    }

    /// The refresh-token MAC secret to give the builder, if one must be given:
    /// `REFRESH_TOKEN_SECRET` when set. Otherwise, with an HS256 secret, `None`: the library
    /// derives the MAC key from it. With `JWT_PRIVATE_KEY_FILE`, `JWT_SECRET` (which signs
    /// nothing then) when set, else 48 random bytes, with a warning that refresh tokens will
    /// not survive a restart.
    pub fn refresh_secret(&self) -> Option<Vec<u8>> {
        // A key directory signs like a key file: no HMAC secret to derive from.
        let asymmetric = self.jwt_private_key.is_some() || self.key_dir.is_some();
        match (
            &self.refresh_token_secret,
            asymmetric.then_some(()),
            &self.jwt_secret,
        ) {
            (Some(secret), _, _) => Some(secret.clone()),
            (None, None, _) => None,
            (None, Some(_), Some(secret)) => Some(secret.clone()),
            (None, Some(_), None) => {
                tracing::warn!(
                    "JWT_PRIVATE_KEY_FILE is set but neither REFRESH_TOKEN_SECRET nor \
                     JWT_SECRET: using a random refresh-token secret, so every session dies \
                     with this process; set REFRESH_TOKEN_SECRET (32+ bytes) to keep sessions \
                     across restarts"
                );
                Some(random_secret())
            }
        }
    }
}

/// 48 random bytes, for a secret that lives as long as the process.
fn random_secret() -> Vec<u8> {
    let mut secret = vec![0; 48];
    rand::rng().fill_bytes(&mut secret);
    secret
}

#[cfg(test)]
mod tests;
