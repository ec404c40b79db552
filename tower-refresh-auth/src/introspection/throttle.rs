//! The bound on failed client authentications: `governor`'s GCRA over the layer's clock,
//! with the moment the allowance is spent until remembered, so the requests that come in
//! the meantime are refused *before* their credentials are compared.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::clock::{Clock, to_millis};

/// The layer's clock as `governor` reads time, so tests drive both with one
/// [`ManualClock`](crate::clock::ManualClock).
#[derive(Debug, Clone)]
struct LayerClock(Arc<dyn Clock>);

impl governor::clock::Clock for LayerClock {
    type Instant = SystemTime;

    fn now(&self) -> SystemTime {
        self.0.now()
    }
}

/// Failed client authentications: a quota a minute, then none until one comes back.
pub(crate) struct Throttle {
    limiter: RateLimiter<NotKeyed, InMemoryState, LayerClock, StateInformationMiddleware>,
    clock: Arc<dyn Clock>,
    /// One cell's time: how long after the last allowed failure the next one is.
    replenish: Duration,
    /// Until when (milliseconds since the epoch) no credentials are compared; 0: none spent.
    until_ms: AtomicU64,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("replenish", &self.replenish)
            .field("until_ms", &self.until_ms)
            .finish_non_exhaustive()
    }
}

impl Throttle {
    pub(crate) fn new(per_minute: NonZeroU32, clock: Arc<dyn Clock>) -> Self {
        let quota = Quota::per_minute(per_minute);
        let limiter = RateLimiter::<NotKeyed, InMemoryState, LayerClock, NoOpMiddleware<SystemTime>>::direct_with_clock(
            quota,
            LayerClock(Arc::clone(&clock)),
        )
        .with_middleware::<StateInformationMiddleware>();
        Self {
            limiter,
            clock,
            replenish: quota.replenish_interval(),
            until_ms: AtomicU64::new(0),
        }
    }

    /// How long to wait, in whole seconds rounded up, while the allowance is spent.
    pub(crate) fn throttled(&self) -> Option<u64> {
        let until = self.until_ms.load(Ordering::Acquire);
        let now = to_millis(self.clock.now());
        (until > now).then(|| (until - now).div_ceil(1000))
    }

    /// Counts a failure. `Some(wait)` when it was one past the allowance (failures that raced
    /// past [`throttled`](Self::throttled)): answer it `429` too.
    pub(crate) fn failed(&self) -> Option<u64> {
        let now = self.clock.now();
        let (until, over) = match self.limiter.check() {
            Ok(state) if state.remaining_burst_capacity() > 0 => return None,
            // The last cell: this failure is answered as usual, the next attempt waits.
            Ok(_) => (now + self.replenish, false),
            Err(not_until) => (not_until.earliest_possible().max(now), true),
        };
        let until_ms = to_millis(until);
        self.until_ms.fetch_max(until_ms, Ordering::AcqRel);
        over.then(|| {
            until_ms
                .saturating_sub(to_millis(now))
                .div_ceil(1000)
                .max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn failures_past_the_quota_wait_until_one_comes_back() {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        let throttle = Throttle::new(NonZeroU32::new(3).unwrap(), Arc::new(clock.clone()));
        assert_eq!(throttle.throttled(), None);
        assert_eq!(throttle.failed(), None);
        assert_eq!(throttle.failed(), None);
        assert_eq!(throttle.throttled(), None);
        // The third uses the last cell: answered as usual, the next request waits.
        assert_eq!(throttle.failed(), None);
        assert_eq!(throttle.throttled(), Some(20), "one cell every 20 s");
        // A failure that raced past the check is over the allowance.
        assert_eq!(throttle.failed(), Some(20));
        clock.advance(Duration::from_secs(19));
        assert_eq!(throttle.throttled(), Some(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(throttle.throttled(), None);
        // One cell came back: one more failure is checked, then the wait again.
        assert_eq!(throttle.failed(), None);
        assert_eq!(throttle.throttled(), Some(20));
    }
}
