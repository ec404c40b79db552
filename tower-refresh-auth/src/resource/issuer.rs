//! One trusted issuer's keys as a resource server holds them: the last good set, how fresh
//! it is, the kids known to be unknown, and — for a remote source — when it may be fetched
//! again.
//!
//! The hot path ([`IssuerKeys::attempt`]) is one lock-free load of the set and the crate's
//! one verification function. Everything that waits — a fetch for an unknown `kid`, for a
//! set past its maximum staleness, for the first set — is in [`IssuerKeys::fetch_for`], one
//! fetch at a time per issuer and at most one per cooldown.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::keyset::Rules;
use crate::clock::{Clock, to_millis};
use crate::error::{AuthError, invalid_token};
use crate::events::Events;
use crate::telemetry;
use crate::token::Claims;
use crate::token::access::Verifier;
use arc_swap::ArcSwapOption;

#[cfg(feature = "remote-jwks")]
use super::fetch::Remote;

/// How many unknown kids an issuer remembers (refused without a fetch until its set
/// changes); the oldest is forgotten first.
const UNKNOWN_KIDS: usize = 1024;

/// How a resource server treats its key sources; the same for every issuer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// At most one fetch per issuer per this interval, whatever asks for it.
    pub(crate) cooldown: Duration,
    /// How long past its max-age the last good set keeps verifying while the source fails.
    pub(crate) max_staleness: Duration,
    /// The bounds a source's `Cache-Control: max-age` is clamped into.
    pub(crate) min_ttl: Duration,
    pub(crate) max_ttl: Duration,
    /// The max-age of a set served without one.
    pub(crate) default_ttl: Duration,
}

/// An issuer's key set and when it was confirmed.
#[derive(Debug)]
struct Snapshot {
    verifiers: Vec<Verifier>,
    /// When to fetch again (three quarters into its max-age), in milliseconds.
    refresh_ms: u64,
    /// The end of its max-age; past it the set is stale.
    fresh_until_ms: u64,
    /// When it arrived.
    #[cfg_attr(not(feature = "remote-jwks"), allow(dead_code))]
    fetched_ms: u64,
}

/// What the key set could not settle without a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// The token names a kid the set does not hold.
    UnknownKid,
    /// No set has arrived yet.
    NoKeys,
    /// The set is past its maximum staleness.
    Stale,
}

/// Why [`IssuerKeys::attempt`] gave no claims.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The answer: refuse with this.
    Error(AuthError),
    /// A fetch might change the answer.
    Needs(Need),
}

impl From<AuthError> for Refusal {
    fn from(err: AuthError) -> Self {
        Self::Error(err)
    }
}

/// One trusted issuer.
pub(crate) struct IssuerKeys {
    /// Its `iss`, or the JWKS URL when none is configured: for logs, metrics and events.
    pub(crate) name: String,
    pub(crate) rules: Rules,
    keys: ArcSwapOption<Snapshot>,
    unknown: Mutex<UnknownKids>,
    pub(crate) policy: Policy,
    #[cfg_attr(not(feature = "remote-jwks"), allow(dead_code))]
    pub(crate) clock: Arc<dyn Clock>,
    #[cfg_attr(not(feature = "remote-jwks"), allow(dead_code))]
    pub(crate) events: Events,
    #[cfg(feature = "remote-jwks")]
    pub(crate) remote: Option<Remote>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("name", &self.name)
            .field(
                "keys",
                &self.keys.load().as_ref().map_or(0, |s| s.verifiers.len()),
            )
            .finish_non_exhaustive()
    }
}

impl IssuerKeys {
    /// An issuer with `static_keys` (verifying for ever), or none yet (a remote source).
    pub(crate) fn new(
        name: String,
        rules: Rules,
        static_keys: Option<Vec<Verifier>>,
        policy: Policy,
        clock: Arc<dyn Clock>,
        events: Events,
    ) -> Self {
        let keys = static_keys.map(|verifiers| {
            Arc::new(Snapshot {
                verifiers,
                refresh_ms: u64::MAX,
                fresh_until_ms: u64::MAX,
                fetched_ms: to_millis(clock.now()),
            })
        });
        Self {
            name,
            rules,
            keys: ArcSwapOption::new(keys),
            unknown: Mutex::new(UnknownKids::default()),
            policy,
            clock,
            events,
            #[cfg(feature = "remote-jwks")]
            remote: None,
        }
    }

    /// Verifies a token (whose header names `kid`) with `verify` under the set in hand: the
    /// key its `kid` names, or every key without one. With `last` set no fetch is asked for
    /// any more: what needed one is refused (an unknown kid `401`, no usable set `503`).
    pub(crate) fn attempt<C>(
        &self,
        kid: Option<&str>,
        now: SystemTime,
        last: bool,
        verify: impl FnOnce(&[Verifier]) -> Result<Claims<C>, AuthError>,
    ) -> Result<Claims<C>, Refusal> {
        let needs = |need: Need| {
            if last {
                Refusal::Error(self.final_refusal(need, kid))
            } else {
                Refusal::Needs(need)
            }
        };
        let guard = self.keys.load();
        let Some(snapshot) = guard.as_deref() else {
            return Err(needs(Need::NoKeys));
        };
        let now_ms = to_millis(now);
        if now_ms >= snapshot.refresh_ms {
            self.wake();
        }
        if now_ms >= snapshot.fresh_until_ms {
            let deadline = snapshot
                .fresh_until_ms
                .saturating_add(millis(self.policy.max_staleness));
            if now_ms >= deadline {
                return Err(needs(Need::Stale));
            }
            telemetry::stale_key_set(true);
        }
        match kid {
            Some(kid) => match snapshot.verifiers.iter().find(|v| v.key.kid == kid) {
                Some(verifier) => Ok(verify(std::slice::from_ref(verifier))?),
                None if !last && self.is_remote() && !self.is_known_unknown(kid) => {
                    Err(Refusal::Needs(Need::UnknownKid))
                }
                None => Err(Refusal::Error(
                    self.final_refusal(Need::UnknownKid, Some(kid)),
                )),
            },
            None => Ok(verify(&snapshot.verifiers)?),
        }
    }

    /// The refusal of a token whose need no fetch met.
    fn final_refusal(&self, need: Need, kid: Option<&str>) -> AuthError {
        match need {
            Need::UnknownKid => {
                if let Some(kid) = kid {
                    self.remember_unknown(kid);
                }
                telemetry::unknown_kid(false);
                invalid_token("the token's kid is unknown")
            }
            Need::NoKeys | Need::Stale => {
                telemetry::stale_key_set(false);
                AuthError::KeysUnavailable {
                    retry_after_secs: self.retry_after().as_secs().max(1),
                }
            }
        }
    }

    fn is_remote(&self) -> bool {
        #[cfg(feature = "remote-jwks")]
        {
            self.remote.is_some()
        }
        #[cfg(not(feature = "remote-jwks"))]
        {
            false
        }
    }

    fn is_known_unknown(&self, kid: &str) -> bool {
        self.unknown
            .lock()
            .is_ok_and(|unknown| unknown.set.contains(kid))
    }

    fn remember_unknown(&self, kid: &str) {
        if let Ok(mut unknown) = self.unknown.lock() {
            unknown.insert(kid);
        }
    }

    /// Replaces the set with `verifiers`, fresh for `ttl` (clamped into the policy's bounds)
    /// from now; every kid remembered as unknown is forgotten, since the new set may hold it.
    #[cfg(feature = "remote-jwks")]
    pub(crate) fn install(&self, verifiers: Vec<Verifier>, ttl: Option<Duration>) {
        let now_ms = to_millis(self.clock.now());
        let ttl = millis(
            ttl.unwrap_or(self.policy.default_ttl)
                .clamp(self.policy.min_ttl, self.policy.max_ttl),
        );
        self.keys.store(Some(Arc::new(Snapshot {
            verifiers,
            refresh_ms: now_ms.saturating_add(ttl / 4 * 3),
            fresh_until_ms: now_ms.saturating_add(ttl),
            fetched_ms: now_ms,
        })));
        if let Ok(mut unknown) = self.unknown.lock() {
            *unknown = UnknownKids::default();
        }
        telemetry::key_set_age(&self.name, 0.0);
    }

    /// Whether a set is in hand.
    #[cfg(feature = "remote-jwks")]
    pub(crate) fn has_keys(&self) -> bool {
        self.keys.load().is_some()
    }

    /// Whether the set in hand (if any) is past its maximum staleness.
    #[cfg(feature = "remote-jwks")]
    pub(crate) fn is_unusable(&self, now_ms: u64) -> bool {
        self.keys.load().as_deref().is_none_or(|s| {
            now_ms
                >= s.fresh_until_ms
                    .saturating_add(millis(self.policy.max_staleness))
        })
    }

    /// Whether the set should be fetched again: none yet, or three quarters into its max-age.
    #[cfg(feature = "remote-jwks")]
    pub(crate) fn refresh_due(&self, now_ms: u64) -> bool {
        self.keys
            .load()
            .as_deref()
            .is_none_or(|s| now_ms >= s.refresh_ms)
    }

    /// How long until the set should be fetched again, from now.
    #[cfg(feature = "remote-jwks")]
    pub(crate) fn refresh_in(&self, now_ms: u64) -> Duration {
        Duration::from_millis(
            self.keys
                .load()
                .as_deref()
                .map_or(0, |s| s.refresh_ms.saturating_sub(now_ms)),
        )
    }

    /// Records the set's age (seconds since it was fetched) as a gauge.
    #[cfg(feature = "remote-jwks")]
    pub(crate) fn record_age(&self) {
        if let Some(s) = self.keys.load().as_deref() {
            let age_ms = to_millis(self.clock.now()).saturating_sub(s.fetched_ms);
            // u64 milliseconds to f64 seconds: precision far beyond what a gauge needs.
            #[allow(clippy::cast_precision_loss)]
            telemetry::key_set_age(&self.name, age_ms as f64 / 1000.0);
        }
    }

    /// Meets `need` if a fetch may: one fetch at a time, at most one per cooldown, shared by
    /// every request waiting for it. A static set has nothing to fetch.
    pub(crate) async fn fetch_for(&self, need: Need) {
        #[cfg(feature = "remote-jwks")]
        if let Some(remote) = &self.remote
            && remote.refetch(self, Some(need)).await
            && need == Need::UnknownKid
        {
            telemetry::unknown_kid(true);
        }
        #[cfg(not(feature = "remote-jwks"))]
        let _ = need;
    }

    /// How long until a fetch may be tried again.
    fn retry_after(&self) -> Duration {
        #[cfg(feature = "remote-jwks")]
        if let Some(remote) = &self.remote {
            return remote.cooldown_left(self);
        }
        self.policy.cooldown
    }

    /// Tells the background refresher the set is due.
    fn wake(&self) {
        #[cfg(feature = "remote-jwks")]
        if let Some(remote) = &self.remote {
            remote.wake();
        }
    }
}

/// Kids an issuer's set was fetched for and did not hold, bounded.
#[derive(Debug, Default)]
struct UnknownKids {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl UnknownKids {
    fn insert(&mut self, kid: &str) {
        if self.set.contains(kid) {
            return;
        }
        if self.order.len() >= UNKNOWN_KIDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.set.insert(kid.to_owned());
        self.order.push_back(kid.to_owned());
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kids_are_bounded_oldest_first() {
        let mut unknown = UnknownKids::default();
        for i in 0..UNKNOWN_KIDS + 10 {
            unknown.insert(&i.to_string());
        }
        assert_eq!(unknown.set.len(), UNKNOWN_KIDS);
        assert!(!unknown.set.contains("0"));
        assert!(unknown.set.contains(&(UNKNOWN_KIDS + 9).to_string()));
        unknown.insert("5000");
        unknown.insert("5000");
        assert_eq!(unknown.order.len(), UNKNOWN_KIDS);
    }
}
