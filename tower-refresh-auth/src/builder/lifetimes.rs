//! How long tokens, sessions and retired keys live, checked together: each bound depends on
//! the others (a grace window shorter than a refresh token, a key overlap at least as long
//! as an access token lives).

use std::time::Duration;

use crate::clock::MAX_DURATION;
use crate::error::ConfigError;

/// The lifetimes as given to the builder.
#[derive(Debug, Clone)]
pub(super) struct Lifetimes {
    pub(super) access_ttl: Duration,
    pub(super) refresh_ttl: Duration,
    pub(super) grace: Duration,
    pub(super) session_lifetime: Option<Duration>,
    pub(super) key_overlap: Option<Duration>,
}

impl Default for Lifetimes {
    /// The protocol document's defaults: access tokens for 1 minute, refresh tokens for 7
    /// days, a 10 second reuse grace window, no absolute session lifetime.
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            grace: Duration::from_secs(10),
            session_lifetime: None,
            key_overlap: None,
        }
    }
}

/// The lifetimes that passed [`Lifetimes::check`], with the key overlap resolved.
#[derive(Debug, Clone, Copy)]
pub(super) struct Checked {
    pub(super) access_ttl: Duration,
    pub(super) refresh_ttl: Duration,
    pub(super) grace: Duration,
    pub(super) session_lifetime: Option<Duration>,
    pub(super) leeway: Duration,
    pub(super) key_overlap: Duration,
}

impl Lifetimes {
    /// Checks every bound; `leeway` is the [`Guarding`](crate::guarding::Guarding) leeway
    /// (already held to the ten-year ceiling), `jwks_max_age` the JWKS max-age when one was
    /// given, held to the same ceiling.
    pub(super) fn check(
        self,
        leeway: Duration,
        jwks_max_age: Option<Duration>,
    ) -> Result<Checked, ConfigError> {
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
            ("key_overlap", self.key_overlap),
            ("Jwks::max_age", jwks_max_age),
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
        if let Some(lifetime) = self.session_lifetime
            && lifetime < self.refresh_ttl
        {
            return Err(ConfigError::LifetimeShorterThanTtl {
                lifetime,
                refresh_ttl: self.refresh_ttl,
            });
        }
        // The longest a token can live: a retired key must verify at least that long.
        let token_life = self.access_ttl + leeway;
        let key_overlap = self.key_overlap.unwrap_or(token_life);
        if key_overlap < token_life {
            return Err(ConfigError::OverlapTooShort {
                overlap: key_overlap,
                needed: token_life,
            });
        }
        Ok(Checked {
            access_ttl: self.access_ttl,
            refresh_ttl: self.refresh_ttl,
            grace: self.grace,
            session_lifetime: self.session_lifetime,
            leeway,
            key_overlap,
        })
    }
}
