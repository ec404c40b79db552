//! [`FailedLogins`]: failed logins counted per username, and the throttle they lead to.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// Failed logins allowed per username and minute before `429`.
pub(super) const FAILURES_PER_MINUTE: NonZeroU32 = match NonZeroU32::new(10) {
    Some(n) => n,
    None => panic!("not zero"),
};

/// How often a failure's cell comes back: a minute over [`FAILURES_PER_MINUTE`].
const REPLENISHED_EVERY: Duration = Duration::from_secs(60 / FAILURES_PER_MINUTE.get() as u64);

/// How often the throttle forgets the names whose failures no longer count (at the next
/// failure after this long).
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// Failed logins per username: [`FAILURES_PER_MINUTE`] of them, then `429` until a failure's
/// cell comes back (one every [`REPLENISHED_EVERY`]). The counting is `governor`'s keyed GCRA
/// limiter; the names whose cells are spent are remembered with the moment one returns, so
/// the next attempt is refused *before* its password is checked — the check is the work the
/// throttle saves.
///
/// Why this shape: it limits per username, not per client address, so it protects an account
/// against guessing spread over many addresses and does not shut out a shared address (a NAT,
/// a proxy); it counts failures only, so a genuine user's sign-ins never use it up; and it
/// never locks a name out for good: the cells come back on their own, so an attacker can keep
/// an account's login answering `429` only while attacking, and its sessions keep working.
///
/// Bounded: at most every [`PRUNE_EVERY`], a failure first forgets every name whose state is
/// back to fresh (`governor`'s `retain_recent`, then `shrink_to_fit`) and every throttle that
/// has run out, so what is kept is the names that failed in the last minute or so — bounded by
/// how many password checks the checkers can run in that time, however many distinct names
/// an attacker tries.
pub(super) struct FailedLogins<C: Clock = DefaultClock> {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, C, StateInformationMiddleware>,
    clock: C,
    spent: Mutex<Spent<C::Instant>>,
}

/// The names whose cells are spent, when the next attempt of each is taken, and when the
/// state was last pruned.
struct Spent<I> {
    until: HashMap<String, I>,
    pruned: I,
}

impl FailedLogins {
    pub(super) fn new() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl<C: Clock + Clone> FailedLogins<C> {
    fn with_clock(clock: C) -> Self {
        let limiter = RateLimiter::<
            String,
            DefaultKeyedStateStore<String>,
            C,
            NoOpMiddleware<C::Instant>,
        >::new(
            Quota::per_minute(FAILURES_PER_MINUTE),
            DefaultKeyedStateStore::default(),
            clock.clone(),
        )
        .with_middleware::<StateInformationMiddleware>();
        let pruned = clock.now();
        Self {
            limiter,
            clock,
            spent: Mutex::new(Spent {
                until: HashMap::new(),
                pruned,
            }),
        }
    }

    /// How long `name` must wait, if its failures are used up.
    pub(super) fn throttled(&self, name: &str) -> Option<Duration> {
        let spent = self.spent.lock().ok()?;
        let until = *spent.until.get(name)?;
        let now = self.clock.now();
        // Whole seconds for `Retry-After`, rounded up.
        (until > now)
            .then(|| Duration::from_secs(Duration::from(until.duration_since(now)).as_secs() + 1))
    }

    /// Counts a failure of `name`. `Some(wait)` when it was one past the allowance (failures
    /// that raced past the check in [`throttled`](Self::throttled)): answer it `429` too.
    pub(super) fn failed(&self, name: &str) -> Option<Duration> {
        let key = name.to_owned();
        let (wait, over) = match self.limiter.check_key(&key) {
            Ok(state) if state.remaining_burst_capacity() > 0 => (None, false),
            // The last cell: this failure is answered as usual, the next attempt waits.
            Ok(_) => (Some(REPLENISHED_EVERY), false),
            Err(not_until) => (Some(not_until.wait_time_from(self.clock.now())), true),
        };
        let mut spent = self.spent.lock().ok()?;
        let now = self.clock.now();
        if now.duration_since(spent.pruned) >= Nanos::from(PRUNE_EVERY) {
            spent.until.retain(|_, until| *until > now);
            spent.until.shrink_to_fit();
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            spent.pruned = now;
        }
        match wait {
            Some(wait) => {
                spent.until.insert(key, now + Nanos::from(wait));
                // Whole seconds for `Retry-After`, rounded up.
                over.then(|| {
                    Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                })
            }
            None => {
                spent.until.remove(&key);
                None
            }
        }
    }

    /// How many names the throttle holds state for.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        let spent = self.spent.lock().map_or(0, |spent| spent.until.len());
        self.limiter.len().max(spent)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Many distinct names failing once each (no throttle ever reached) are forgotten once
    /// their failure no longer counts: the state stays bounded by the names of the last
    /// minute or so, not by every name ever tried.
    #[test]
    fn names_that_failed_once_are_forgotten() {
        let clock = governor::clock::FakeRelativeClock::default();
        let failures = FailedLogins::with_clock(clock.clone());
        for i in 0..5_000 {
            assert_eq!(failures.failed(&format!("name{i}")), None);
            if i % 1_000 == 999 {
                clock.advance(Duration::from_secs(1));
            }
        }
        assert_eq!(failures.tracked(), 5_000);
        // A name whose failures are used up is throttled, then forgotten too.
        for _ in 0..FAILURES_PER_MINUTE.get() {
            failures.failed("victim");
        }
        assert!(failures.throttled("victim").is_some());
        // Then 100 new names a second for a minute: once the burst has aged out, what is kept
        // is the names of the last 12 s (until each one's cell is back) and up to a prune
        // interval more, not every name ever tried.
        for second in 1..=60 {
            clock.advance(Duration::from_secs(1));
            for i in 0..100 {
                failures.failed(&format!("second{second}-{i}"));
            }
            if second > 30 {
                assert!(
                    failures.tracked() <= 2_500,
                    "{} names tracked after {second} s",
                    failures.tracked()
                );
            }
        }
        assert!(failures.tracked() >= 100);
        clock.advance(Duration::from_secs(120));
        failures.failed("last");
        assert_eq!(failures.tracked(), 1);
        assert!(failures.throttled("victim").is_none());
    }
}
