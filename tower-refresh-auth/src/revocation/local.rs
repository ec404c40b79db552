//! The revocations an instance holds in memory: a snapshot swapped whole ([`arc_swap`]), so a
//! request reads it with one atomic load, no lock and no store call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::clock::to_millis;
use crate::session::SessionId;
use crate::store::{Recorded, Revocation, Revoked};

/// What the local set says of an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Local {
    /// Its session (or its subject, before the token was issued) was revoked.
    Revoked,
    /// Nothing known against it, and the set is certain: it missed no revocation.
    Live,
    /// Ask the store: the set may have missed revocations (a gap), or the token was issued
    /// too close to its subject's cut-off for the clocks to tell which came first.
    Unsure,
}

/// The set's maps: hashed by foldhash, seeded per process (the keys come from verified tokens
/// and the store, and a lookup is on every request's path).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One state of the set. Entries are dropped once they expired, so the set holds what was
/// revoked within the last access-token lifetime (plus leeway), whatever the total.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    /// Revoked sessions, with when each entry expires (ms).
    sessions: Map<SessionId, u64>,
    /// Per subject: the latest cut-off (ms) and when it expires (ms).
    subjects: Map<String, (u64, u64)>,
    /// Whether every revocation up to the follower's cursor is in the set.
    certain: bool,
}

/// The set, read lock-free by requests and written by the follower and by revocations made
/// on this instance.
#[derive(Debug)]
pub(crate) struct RevokedSet {
    snapshot: ArcSwap<Snapshot>,
    /// Serialises writers, so none loses another's change; never taken by a reader.
    writer: Mutex<()>,
    /// How far apart two instances' clocks may be (ms): an access token issued within it of
    /// its subject's cut-off is checked in the store.
    skew_ms: u64,
    /// Bumped after every change, for the [session watches](crate::watch::SessionWatch) to re-check
    /// their session against the new snapshot (no store call).
    changed: tokio::sync::watch::Sender<u64>,
}

impl RevokedSet {
    /// An empty set, uncertain until the follower has read the feed.
    pub(crate) fn new(skew_ms: u64) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            writer: Mutex::new(()),
            skew_ms,
            changed: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The hot path: what the set says of a token of session `sid` and `subject`, issued at
    /// `iat` (seconds).
    pub(crate) fn check(&self, sid: &SessionId, subject: &str, iat: u64) -> Local {
        let snapshot = self.snapshot.load();
        // No hashing at all while nothing is revoked.
        if !snapshot.sessions.is_empty() && snapshot.sessions.contains_key(sid) {
            return Local::Revoked;
        }
        if let Some(&(cutoff, _)) = (!snapshot.subjects.is_empty())
            .then(|| snapshot.subjects.get(subject))
            .flatten()
        {
            // The token was issued somewhere in [iat, iat + 1 s), by a clock that may be
            // `skew_ms` off the revoking instance's.
            let issued_from = iat.saturating_mul(1000);
            let issued_to = issued_from.saturating_add(1000);
            if issued_to.saturating_add(self.skew_ms) <= cutoff {
                return Local::Revoked;
            }
            if issued_from < cutoff.saturating_add(self.skew_ms) {
                return Local::Unsure;
            }
        }
        if snapshot.certain {
            Local::Live
        } else {
            Local::Unsure
        }
    }

    /// Whether the set is certain (no gap being repaired).
    pub(crate) fn is_certain(&self) -> bool {
        self.snapshot.load().certain
    }

    /// How many sessions and subjects the set holds.
    pub(crate) fn len(&self) -> (usize, usize) {
        let snapshot = self.snapshot.load();
        (snapshot.sessions.len(), snapshot.subjects.len())
    }

    /// A receiver woken after every change of the set.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Wakes the receivers (a counter, so no change is lost between two reads).
    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn write(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `revocations`, drops the entries expired at `now`, and marks the set certain or
    /// not (`None`: leaves it as it is).
    pub(crate) fn apply<'a>(
        &self,
        revocations: impl IntoIterator<Item = &'a Revocation>,
        now: SystemTime,
        certain: Option<bool>,
    ) {
        let _writer = self.write();
        let mut next = Snapshot::clone(&self.snapshot.load());
        for revocation in revocations {
            let expires = to_millis(revocation.expires_at);
            match &revocation.revoked {
                Revoked::Session(id) => {
                    let entry = next.sessions.entry(*id).or_insert(expires);
                    *entry = (*entry).max(expires);
                }
                Revoked::Subject(subject) => {
                    let at = to_millis(revocation.at);
                    let entry = next
                        .subjects
                        .entry(subject.clone())
                        .or_insert((at, expires));
                    *entry = (entry.0.max(at), entry.1.max(expires));
                }
            }
        }
        let now = to_millis(now);
        next.sessions.retain(|_, expires| *expires > now);
        next.subjects.retain(|_, (_, expires)| *expires > now);
        if let Some(certain) = certain {
            next.certain = certain;
        }
        self.snapshot.store(Arc::new(next));
        self.bump();
    }

    /// Adds recorded revocations (see [`apply`](Self::apply)).
    pub(crate) fn apply_recorded(
        &self,
        recorded: &[Recorded],
        now: SystemTime,
        certain: Option<bool>,
    ) {
        self.apply(recorded.iter().map(|r| &r.revocation), now, certain);
    }

    /// Marks the set uncertain: requests ask the store until the follower has caught up.
    pub(crate) fn distrust(&self) {
        let _writer = self.write();
        let mut next = Snapshot::clone(&self.snapshot.load());
        next.certain = false;
        self.snapshot.store(Arc::new(next));
        self.bump();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn a_revoked_session_is_refused_and_others_pass_once_certain() {
        let set = RevokedSet::new(1000);
        let gone = SessionId::random();
        let kept = SessionId::random();
        assert_eq!(set.check(&kept, "alice", 100), Local::Unsure);
        let revocation =
            Revocation::new(Revoked::Session(gone), at(100_000), Duration::from_secs(60));
        set.apply([&revocation], at(100_000), Some(true));
        assert_eq!(set.check(&gone, "alice", 100), Local::Revoked);
        assert_eq!(set.check(&kept, "alice", 100), Local::Live);
        set.distrust();
        assert_eq!(set.check(&kept, "alice", 100), Local::Unsure);
        assert_eq!(set.check(&gone, "alice", 100), Local::Revoked);
    }

    #[test]
    fn a_subject_cut_off_refuses_older_tokens_and_asks_the_store_near_it() {
        let set = RevokedSet::new(1000);
        let sid = SessionId::random();
        let revocation = Revocation::new(
            Revoked::Subject("alice".into()),
            at(100_500),
            Duration::from_secs(60),
        );
        set.apply([&revocation], at(100_500), Some(true));
        assert_eq!(set.check(&sid, "alice", 98), Local::Revoked);
        assert_eq!(set.check(&sid, "alice", 99), Local::Unsure);
        assert_eq!(set.check(&sid, "alice", 100), Local::Unsure);
        assert_eq!(set.check(&sid, "alice", 101), Local::Unsure);
        assert_eq!(set.check(&sid, "alice", 102), Local::Live);
        assert_eq!(set.check(&sid, "bob", 50), Local::Live);
    }

    proptest::proptest! {
        /// Whatever the clocks: a token surely issued before its subject's cut-off (by more
        /// than the skew) is never let through, one surely issued after it (by more than the
        /// skew) is never refused, and anything between is asked of the store.
        #[test]
        fn a_cut_off_refuses_only_earlier_tokens_and_asks_near_it(
            cutoff in 1_000_000u64..4_000_000_000_000,
            iat in 0u64..4_000_000_000,
            skew in 0u64..10_000,
        ) {
            let set = RevokedSet::new(skew);
            let revocation = Revocation::new(
                Revoked::Subject("alice".into()),
                at(cutoff),
                Duration::from_secs(60),
            );
            set.apply([&revocation], at(cutoff), Some(true));
            let verdict = set.check(&SessionId::random(), "alice", iat);
            // Issued somewhere in [iat s, iat s + 1 s), by a clock up to `skew` off.
            let earliest = (iat * 1000).saturating_sub(skew);
            let latest = iat * 1000 + 999 + skew;
            if latest < cutoff {
                proptest::prop_assert_eq!(verdict, Local::Revoked);
            } else if earliest >= cutoff {
                proptest::prop_assert_eq!(verdict, Local::Live);
            } else {
                proptest::prop_assert_ne!(verdict, Local::Live, "issued near the cut-off");
            }
        }
    }

    #[test]
    fn entries_leave_the_set_when_they_expire() {
        let set = RevokedSet::new(0);
        let revocations: Vec<_> = (0..1000)
            .map(|i| {
                Revocation::new(
                    Revoked::Session(SessionId::random()),
                    at(i),
                    Duration::from_secs(60),
                )
            })
            .collect();
        set.apply(&revocations, at(1000), Some(true));
        assert_eq!(set.len(), (1000, 0));
        set.apply([], at(60_500), None);
        assert_eq!(set.len(), (499, 0));
        set.apply([], at(61_000), None);
        assert_eq!(set.len(), (0, 0));
        assert!(set.is_certain());
    }
}
