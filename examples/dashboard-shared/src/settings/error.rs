//! [`SettingsError`]: a setting that stops the server at start, whether the example refuses it
//! while reading the settings table or the library refuses it when the layer is built
//! ([`SettingsError::refused`], the one place that names a library refusal's variables).

use tower_refresh_auth::ConfigError;
use tower_refresh_auth::fleet::KeyRingError;

use super::Settings;

/// A setting that stops the server at start. Each message names the variable to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A variable is set but not valid Unicode.
    #[error("{0} is not valid UTF-8")]
    NotUnicode(String),
    /// A flag that is not a setting, or a value clap cannot take (the message is clap's).
    #[error("{0}")]
    Table(String),
    /// `VERIFIED_TOKEN_CACHE` is not a number.
    #[error("VERIFIED_TOKEN_CACHE={0:?} is not a number of entries (0 turns the cache off)")]
    TokenCache(String),
    /// `MAX_SESSIONS_PER_USER` is not a number (the library refuses one outside 1 to 10 000:
    /// [`SettingsError::Refused`]).
    #[error(
        "MAX_SESSIONS_PER_USER={0:?} is not a number of sessions from 1 to {max} (default {default})",
        max = tower_refresh_auth::session::MAX_SESSIONS_PER_SUBJECT,
        default = tower_refresh_auth::session::DEFAULT_MAX_SESSIONS_PER_SUBJECT
    )]
    MaxSessions(String),
    /// `PORT` is not a port number.
    #[error("PORT={0:?} is not a port number (0-65535)")]
    Port(String),
    /// `JWT_PRIVATE_KEY_FILE` names a file that is not a private key the library signs with.
    /// The message names the file and says what it is, never what it holds.
    #[error("JWT_PRIVATE_KEY_FILE: {0}")]
    KeyFile(#[source] tower_refresh_auth::ConfigError),
    /// `CHECK_SESSIONS` is neither `true`, `false` nor `feed`.
    #[error("CHECK_SESSIONS={0:?} is not a session-checking mode: write `false`, `true` or `feed`")]
    CheckSessions(String),
    /// `DPOP` is not a mode.
    #[error("DPOP={0:?} is not a DPoP mode: write `off`, `optional` or `required`")]
    Dpop(String),
    /// `INTROSPECTION_CLIENT` is not `ID:SECRET`. The message never holds the value.
    #[error(
        "INTROSPECTION_CLIENT must be `ID:SECRET` (a client id, a colon, a secret of at least 32 \
         characters from `openssl rand -hex 32`), or unset"
    )]
    IntrospectionClient,
    /// `METRICS_ADDR` is not an address to listen on.
    #[error("METRICS_ADDR={0:?} is not an address to listen on: write e.g. `127.0.0.1:9100`")]
    MetricsAddr(String),
    /// `STEP_UP_MAX_AGE` or `KEY_ROTATION` is longer than ten years (the library bounds the
    /// other durations itself: [`SettingsError::Refused`]).
    #[error("{var}={value:?} is longer than the 10 years any duration may be")]
    DurationTooLong {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// A duration does not parse.
    #[error("{var}={value:?} is not a duration (write e.g. `30s`, `1m`, `7d`): {source}")]
    Duration {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it does not parse.
        #[source]
        source: humantime::DurationError,
    },
    /// `REFRESH_TRANSPORT` is neither `body` nor `cookie`.
    #[error("REFRESH_TRANSPORT: {0}")]
    Transport(#[from] tower_refresh_auth::transport::ParseTransportError),
    /// The store `STORE_URL` names could not be reached or set up.
    #[error(
        "STORE_URL={url}: the session store is unreachable ({source}); start it, fix the URL, \
         or use `memory://`"
    )]
    StoreUnreachable {
        /// The URL given, without its password.
        url: String,
        /// Why.
        #[source]
        source: tower_refresh_auth::store::StoreError,
    },
    /// `STORE_URL` names a store this build does not include.
    #[error(
        "STORE_URL={url}: this server was built without the {store} store; rebuild it with \
         `--features {feature}`, e.g. `cargo run -p axum-dashboard --features {feature}` \
         (or `-p poem-dashboard`)"
    )]
    StoreNotBuilt {
        /// The URL given, without its password.
        url: String,
        /// The store's name.
        store: &'static str,
        /// The cargo feature that brings it in.
        feature: &'static str,
    },
    /// A fleet-key variable (`KEY_ROTATION`, `SIGNING_ALG`, `KEY_ENCRYPTION_KEY`, …).
    #[error(transparent)]
    Fleet(#[from] crate::fleet::FleetSettingsError),
    /// `STORE_URL` is not a URL of a known store.
    #[error(
        "STORE_URL={0:?} is not a store URL: use `memory://`, `redis://…` (or `rediss://…`, \
         `redis+cluster://HOST:PORT,…`), `postgres://…` or `sqlite://…`"
    )]
    UnknownStore(String),
    /// The library refused the configuration when the layer was built: its own message (which
    /// says how to fix it) after the variables that set what it refused.
    #[error("{message}")]
    Refused {
        /// The variables, then the library's message.
        message: String,
        /// The library's refusal.
        #[source]
        source: ConfigError,
    },
}

impl SettingsError {
    /// `err`, the library's refusal of the configuration made from `settings`, named by the
    /// variables that set what it refused: `REFRESH_TOKEN_TTL: <the library's message>`. A
    /// refusal no variable sets (none is expected) keeps the library's message alone.
    pub(crate) fn refused(err: ConfigError, settings: &Settings) -> Self {
        let message = match (&err, variables(&err, settings)) {
            // docs/protocol.md §6: this message begins `KEY_ENCRYPTION_KEY:`.
            (ConfigError::KeyRing(ring), _) if is_wrong_kek(ring) => format!(
                "KEY_ENCRYPTION_KEY: {ring} (the previous key-encryption key is \
                 PREVIOUS_KEY_ENCRYPTION_KEY)"
            ),
            (_, Some(names)) => format!("{names}: {err}"),
            (_, None) => err.to_string(),
        };
        Self::Refused {
            message,
            source: err,
        }
    }
}

/// A stored key ring that does not open under the key-encryption key given.
fn is_wrong_kek(err: &KeyRingError) -> bool {
    matches!(
        err,
        KeyRingError::WrongKek { .. } | KeyRingError::Unsealed { .. }
    )
}

/// The variables that set what the library refused, as the message names them.
fn variables(err: &ConfigError, settings: &Settings) -> Option<&'static str> {
    Some(match err {
        // `JWT_SECRET` is the HS256 secret…
        ConfigError::WeakSecret { .. } => "JWT_SECRET",
        // …and, with a key file or directory, the refresh-token secret when
        // `REFRESH_TOKEN_SECRET` is unset (`Settings::refresh_secret`).
        ConfigError::WeakRefreshSecret { .. } if settings.refresh_token_secret.is_none() => {
            "JWT_SECRET"
        }
        ConfigError::WeakRefreshSecret { .. } => "REFRESH_TOKEN_SECRET",
        ConfigError::ZeroDuration(setting) | ConfigError::DurationTooLong { setting, .. } => {
            match *setting {
                "access_ttl" => "ACCESS_TOKEN_TTL",
                "refresh_ttl" => "REFRESH_TOKEN_TTL",
                "reuse_grace" => "REFRESH_REUSE_GRACE",
                "session_lifetime" => "SESSION_LIFETIME",
                _ => return None,
            }
        }
        ConfigError::GraceTooLong(_) => "REFRESH_REUSE_GRACE, REFRESH_TOKEN_TTL",
        ConfigError::LifetimeShorterThanTtl { .. } => "SESSION_LIFETIME, REFRESH_TOKEN_TTL",
        ConfigError::SessionLimit(_) => "MAX_SESSIONS_PER_USER",
        ConfigError::WeakIntrospectionSecret { .. }
        | ConfigError::InvalidIntrospectionClient(_) => "INTROSPECTION_CLIENT",
        ConfigError::InvalidDpopOrigin(_) => "PUBLIC_URL",
        // The signing-key lifetime and the ring's algorithm.
        ConfigError::KeyRotationSetting(_) => "KEY_ROTATION, SIGNING_ALG",
        _ => return None,
    })
}
