//! The rotation policy (RFC 9700 §4.14.2, `docs/protocol.md` §3, §5b), pure: what a presented
//! refresh token is, given the session as the store has it after a compare-and-swap that did
//! not match. [`lifecycle`](super::lifecycle) acts on the answer.

use std::time::{Duration, SystemTime};

use crate::session::Session;

/// What a presented refresh token is, given the session as the store has it after a
/// compare-and-swap that did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    /// The token was spent a moment ago by a concurrent refresh (another tab): it gets the
    /// very same successor, derived again.
    InsideGrace,
    /// A spent token after the grace window: someone holds a copy. The session is revoked.
    Reuse,
    /// A token newer than the store's counter: the store lost rotations it acknowledged
    /// (an asynchronous failover, a restored backup). Only the server mints a token that
    /// passes the MAC, so it is the newest one the client holds: the session rolls forward.
    Ahead,
    /// Not a token this session ever issued, as far as the store knows.
    Unknown,
}

/// The policy for a token of counter `presented` when the session's counter is already
/// `session.counter` (`docs/protocol.md` §3, §5b).
///
/// Only the token spent last (counter one behind) can be inside the grace window, and only
/// while the time since it was spent is known and within the window: a clock that reads
/// earlier than the rotation (another instance ahead of this one, an NTP step back) tells
/// nothing about how long ago the token was spent, so it counts as outside. A zero window
/// accepts no replay at all, not even in the same millisecond.
///
/// A token ahead of the session is [`Replay::Ahead`], unless it is at the largest counter,
/// which has no successor. So is a token *at* the session's counter: the swap that reported
/// the conflict saw another counter, and a concurrent roll-forward has since brought the
/// session to this token, which is now simply current.
pub(super) fn classify(
    session: &Session,
    presented: u64,
    now: SystemTime,
    grace: Duration,
) -> Replay {
    // `checked_add`: a token at `u64::MAX` has no successor, and must not wrap into `0`.
    let is_last_spent = presented.checked_add(1) == Some(session.counter);
    let inside_window = !grace.is_zero()
        && now
            .duration_since(session.rotated_at)
            .is_ok_and(|since| since <= grace);
    if is_last_spent && inside_window {
        Replay::InsideGrace
    } else if session.counter > presented {
        Replay::Reuse
    } else if session.counter <= presented && presented < u64::MAX {
        Replay::Ahead
    } else {
        Replay::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionId;

    const GRACE: Duration = Duration::from_secs(10);

    fn session(counter: u64, rotated_at: SystemTime) -> Session {
        Session {
            id: SessionId::from_bytes([7; 16]),
            subject: "u".into(),
            claims: "{}".into(),
            counter,
            created_at: rotated_at,
            rotated_at,
            expires_at: rotated_at + Duration::from_secs(3600),
            absolute_expires_at: None,
            seal: String::new(),
            jkt: None,
            metadata: crate::session::SessionMetadata::new(),
        }
    }

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    #[test]
    fn the_last_spent_token_is_inside_the_window_up_to_its_end() {
        let s = session(5, at(0));
        assert_eq!(classify(&s, 4, at(0), GRACE), Replay::InsideGrace);
        assert_eq!(classify(&s, 4, at(10_000), GRACE), Replay::InsideGrace);
        assert_eq!(classify(&s, 4, at(10_001), GRACE), Replay::Reuse);
        // Two generations old: its successor is spent too.
        assert_eq!(classify(&s, 3, at(1), GRACE), Replay::Reuse);
        // Ahead of the store: it lost rotations.
        assert_eq!(classify(&s, 6, at(1), GRACE), Replay::Ahead);
        assert_eq!(classify(&s, 60, at(1), GRACE), Replay::Ahead);
        // Current again after a concurrent roll-forward: swapped from there.
        assert_eq!(classify(&s, 5, at(1), GRACE), Replay::Ahead);
    }

    #[test]
    fn the_largest_counter_never_rolls_forward() {
        let s = session(5, at(0));
        assert_eq!(classify(&s, u64::MAX, at(0), GRACE), Replay::Unknown);
    }

    #[test]
    fn a_clock_behind_the_rotation_is_outside_the_window() {
        // This instance's clock reads 30 s earlier than the one that rotated.
        let s = session(5, at(30_000));
        assert_eq!(classify(&s, 4, at(5_000), GRACE), Replay::Reuse);
        assert_eq!(classify(&s, 4, at(29_999), GRACE), Replay::Reuse);
        assert_eq!(classify(&s, 4, at(30_000), GRACE), Replay::InsideGrace);
    }

    #[test]
    fn a_zero_window_accepts_no_replay_even_in_the_same_millisecond() {
        let s = session(5, at(0));
        assert_eq!(classify(&s, 4, at(0), Duration::ZERO), Replay::Reuse);
    }

    #[test]
    fn the_largest_counter_does_not_wrap_into_the_window() {
        let s = session(0, at(0));
        assert_eq!(classify(&s, u64::MAX, at(0), GRACE), Replay::Unknown);
        let s = session(u64::MAX, at(0));
        assert_eq!(
            classify(&s, u64::MAX - 1, at(0), GRACE),
            Replay::InsideGrace
        );
    }
}
