//! Where the layer reads the time from.
//!
//! Every expiry decision — access-token `exp`, the refresh grace window, sliding and absolute
//! session expiry — reads the time from one [`Clock`]. Production code uses [`SystemClock`]
//! (the default); tests swap in a [`ManualClock`] and move time forward instead of sleeping.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use tower_refresh_auth::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let before = clock.now();
//! clock.advance(Duration::from_secs(61));
//! assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(61));
//! ```

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest duration any setting takes: ten years (of 365.25 days), so that no setting
/// overflows a clock, now or in ten years' time (docs/protocol.md §5b).
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(10 * 36_525 * 24 * 3_600 / 100);

/// A source of the current time.
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's wall clock. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to; for tests.
///
/// Clones share the same time, so a test can keep one handle and give another to the layer.
/// Precision is one millisecond.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            millis: Arc::new(AtomicU64::new(to_millis(start))),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_add(by, Ordering::SeqCst);
    }

    /// Sets the clock to `to` (which may be earlier than now).
    pub fn set(&self, to: SystemTime) {
        self.millis.store(to_millis(to), Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    /// A clock stopped at the current wall-clock time.
    fn default() -> Self {
        Self::new(SystemTime::now())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.millis.load(Ordering::SeqCst))
    }
}

impl<T: Clock> Clock for Arc<T> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// Milliseconds since the Unix epoch; `0` before it.
pub(crate) fn to_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Whole seconds since the Unix epoch (a JWT `NumericDate`); `0` before it.
pub(crate) fn to_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A log line that may be written at most once per interval, whatever the rate of what it
/// reports: a flood of refused requests costs the log one line per interval, with the
/// count of those it left out.
#[derive(Debug)]
pub(crate) struct Throttled {
    interval_ms: u64,
    /// When the line was last allowed, in ms since the epoch (`u64::MAX`: never).
    last_ms: std::sync::atomic::AtomicU64,
    /// How many were left out since.
    suppressed: std::sync::atomic::AtomicU64,
}

impl Throttled {
    pub(crate) const fn new(interval: std::time::Duration) -> Self {
        Self {
            // `as`: a const fn cannot call `try_from`; an interval past u64 ms is no interval.
            interval_ms: interval.as_millis() as u64,
            last_ms: std::sync::atomic::AtomicU64::new(u64::MAX),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `Some(how many were left out since the last one)` when the line may be written at
    /// `now_ms`, else `None` (and this one is counted as left out).
    pub(crate) fn allow(&self, now_ms: u64) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let last = self.last_ms.load(Relaxed);
        let due = last == u64::MAX || now_ms.saturating_sub(last) >= self.interval_ms;
        if due
            && self
                .last_ms
                .compare_exchange(last, now_ms, Relaxed, Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_line_is_allowed_once_per_interval() {
        let line = Throttled::new(std::time::Duration::from_secs(10));
        assert_eq!(line.allow(1_000), Some(0));
        for t in 1_001..1_100 {
            assert_eq!(line.allow(t), None);
        }
        assert_eq!(line.allow(11_000), Some(99));
        assert_eq!(line.allow(11_001), None);
    }
}
