//! [`KeyFetching`]: how a resource server fetches its issuers' keys — how often, how long a
//! key set is kept, how long a fetch may take, how large a document may be, over which
//! schemes. One group, checked once when the server is built.

use std::time::Duration;

use super::issuer::Policy;
use crate::error::ConfigError;

/// How a [`ResourceServer`](super::ResourceServer) fetches key sets and metadata documents,
/// the same for every issuer; checked when the server is built, each refusal a
/// [`ConfigError::KeyFetching`] saying what the setting takes.
///
/// Give it whole to
/// [`ResourceServerBuilder::key_fetching`](super::ResourceServerBuilder::key_fetching); the
/// builder's shortcuts (`.refetch_cooldown(…)`, `.max_staleness(…)`, …) set it one setting at
/// a time.
///
/// ```
/// use std::time::Duration;
/// use tower_refresh_auth::resource::{Issuer, KeyFetching, ResourceServer};
/// use tower_refresh_auth::NoClaims;
///
/// let fetching = KeyFetching::new()
///     .refetch_cooldown(Duration::from_secs(30))
///     .max_staleness(Duration::from_secs(600))
///     .fetch_timeout(Duration::from_secs(2));
/// let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let server = ResourceServer::<NoClaims>::builder()
///     .issuer(Issuer::from_jwks(jwks))
///     .key_fetching(fetching)
///     .build()?;
/// # let _ = server;
///
/// // Refused when built, saying what the setting takes.
/// let err = ResourceServer::<NoClaims>::builder()
///     .issuer(Issuer::from_jwks(jwks))
///     .key_fetching(KeyFetching::new().refetch_cooldown(Duration::ZERO))
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("`refetch_cooldown` must be longer than zero"));
/// # Ok::<_, tower_refresh_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "give it to `ResourceServerBuilder::key_fetching`"]
pub struct KeyFetching {
    policy: Policy,
    fetch_timeout: Duration,
    max_jwks_bytes: usize,
    allow_insecure_http: bool,
}

impl Default for KeyFetching {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyFetching {
    /// The defaults: at most one fetch per issuer per 10 s, a failing source's last good set
    /// kept for 1 h past its max-age, max-ages clamped into 30 s to 24 h (5 min without
    /// one), 5 s per fetch, documents up to 64 KiB, `https` only (and `http` to loopback).
    pub fn new() -> Self {
        Self {
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
        }
    }

    /// At most one fetch per issuer per `cooldown`, whatever asks for it (default 10 s;
    /// longer than zero).
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
    /// 24 h; `min` at most `max`, `max` longer than zero), and the max-age of a set served
    /// without one (default 5 min, clamped too).
    pub fn cache_ttl(mut self, min: Duration, max: Duration, default: Duration) -> Self {
        self.policy.min_ttl = min;
        self.policy.max_ttl = max;
        self.policy.default_ttl = default;
        self
    }

    /// The longest one fetch (connect to last byte) may take (default 5 s; longer than
    /// zero).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The largest metadata document or key set accepted, in bytes (default 64 KiB; more
    /// than zero).
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

    /// Checks every setting.
    pub(crate) fn check(self) -> Result<Fetching, ConfigError> {
        let policy = self.policy;
        if policy.cooldown.is_zero() {
            return Err(ConfigError::KeyFetching(
                "`refetch_cooldown` must be longer than zero: it bounds the fetches per issuer \
                 (10 s unless set)",
            ));
        }
        if policy.max_ttl.is_zero() || policy.min_ttl > policy.max_ttl {
            return Err(ConfigError::KeyFetching(
                "`cache_ttl(min, max, default)` needs `min` at most `max` and `max` longer than \
                 zero (30 s, 24 h and 5 min unless set)",
            ));
        }
        if self.fetch_timeout.is_zero() {
            return Err(ConfigError::KeyFetching(
                "`fetch_timeout` must be longer than zero: every fetch would fail (5 s unless \
                 set)",
            ));
        }
        if self.max_jwks_bytes == 0 {
            return Err(ConfigError::KeyFetching(
                "`max_jwks_bytes` must be more than zero: no key set would be accepted (64 KiB \
                 unless set)",
            ));
        }
        Ok(Fetching {
            policy,
            timeout: self.fetch_timeout,
            max_bytes: self.max_jwks_bytes,
            allow_insecure_http: self.allow_insecure_http,
        })
    }
}

/// The [`KeyFetching`] settings that passed their check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fetching {
    pub(crate) policy: Policy,
    pub(crate) timeout: Duration,
    pub(crate) max_bytes: usize,
    pub(crate) allow_insecure_http: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setting_is_checked_and_says_what_it_takes() {
        let s = Duration::from_secs;
        for (fetching, needle) in [
            (
                KeyFetching::new().refetch_cooldown(s(0)),
                "`refetch_cooldown` must be longer",
            ),
            (
                KeyFetching::new().cache_ttl(s(60), s(30), s(45)),
                "`min` at most `max`",
            ),
            (
                KeyFetching::new().cache_ttl(s(0), s(0), s(0)),
                "`max` longer than zero",
            ),
            (
                KeyFetching::new().fetch_timeout(s(0)),
                "`fetch_timeout` must be longer",
            ),
            (
                KeyFetching::new().max_jwks_bytes(0),
                "`max_jwks_bytes` must be more",
            ),
        ] {
            let err = fetching.check().expect_err("refused");
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn the_checked_settings_are_those_given() {
        let s = Duration::from_secs;
        let checked = KeyFetching::new()
            .refetch_cooldown(Duration::from_millis(100))
            .max_staleness(s(60))
            .cache_ttl(s(1), s(2), s(3))
            .fetch_timeout(s(4))
            .max_jwks_bytes(4096)
            .allow_insecure_http(true)
            .check()
            .expect("valid");
        assert_eq!(checked.policy.cooldown, Duration::from_millis(100));
        assert_eq!(checked.policy.max_staleness, s(60));
        assert_eq!(
            (
                checked.policy.min_ttl,
                checked.policy.max_ttl,
                checked.policy.default_ttl
            ),
            (s(1), s(2), s(3))
        );
        assert_eq!((checked.timeout, checked.max_bytes), (s(4), 4096));
        assert!(checked.allow_insecure_http);
        assert!(
            !KeyFetching::new()
                .check()
                .expect("valid")
                .allow_insecure_http
        );
    }
}
