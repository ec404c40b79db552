//! [`MemoryStore`]: sessions in a sharded in-process map.
//!
//! One file per capability: the record and its compare-and-swap here, the per-subject index
//! in `subject_index.rs`, binding and the memory of spent DPoP proofs in `dpop.rs`,
//! re-authentication in `reauth.rs`, the key ring in `key_ring.rs`, the revocation feed in
//! `feed.rs`.

mod dpop;
mod feed;
mod key_ring;
mod reauth;
mod subject_index;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use self::dpop::Proofs;
use self::feed::MemoryFeed;
use super::{
    DpopStore, KeyRingStore, PageCursor, ReauthStore, RefreshStore, RevocationFeed, Rotation,
    StoreError, StoredKeyRing, SubjectIndex,
};
use crate::clock::to_millis;
use crate::session::order_key;
use crate::session::{Session, SessionId};
use crate::store::DEFAULT_PROOFS_PER_KEY;

/// Sessions in memory, in a sharded concurrent map ([`dashmap`]).
///
/// No global lock: each operation locks one shard for a few instructions and never across an
/// `.await`. Expired sessions are swept at most once per
/// [interval](Self::with_sweep_interval) (default one minute), piggy-backed on
/// [`create`](RefreshStore::create), so memory stays bounded under churn without a background
/// task.
///
/// Each subject's sessions are also indexed by subject, in the order of a listing, so
/// [`list`](SubjectIndex::list), [`list_page`](SubjectIndex::list_page) and
/// [`revoke_subject`](SubjectIndex::revoke_subject) cost what that subject's sessions cost
/// (a page, for `list_page`), however many other users there are.
///
/// Sessions do not survive a restart and are not shared between processes: use a Redis,
/// PostgreSQL or SQLite store for that. Cloning a `MemoryStore` shares its sessions.
///
/// ```
/// use std::time::Duration;
/// use tower_refresh_auth::store::MemoryStore;
///
/// let store = MemoryStore::with_sweep_interval(Duration::from_secs(30));
/// assert!(store.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sessions: DashMap<SessionId, Session>,
    /// Each subject's sessions, sorted by [`order_key`] (a sorted `Vec`: a login appends, and
    /// a subject holds at most its limit of sessions, so it costs 24 bytes a session where a
    /// tree would cost a node): an entry is added after its session and dropped after it. A
    /// guard of this map is never held while `sessions` is touched (nor the other way round),
    /// so the two maps' shard locks cannot deadlock.
    subjects: DashMap<String, Vec<PageCursor>>,
    proofs: Proofs,
    /// The revocation feed: recorded and pushed in the process.
    feed: MemoryFeed,
    sweep_interval_ms: u64,
    last_sweep_ms: AtomicU64,
    /// The fleet's key ring ([`KeyRingStore`]).
    ring: std::sync::Mutex<Option<StoredKeyRing>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store that sweeps expired sessions at most once a minute.
    pub fn new() -> Self {
        Self::with_sweep_interval(Duration::from_secs(60))
    }

    /// An empty store that sweeps expired sessions at most once per `interval`.
    pub fn with_sweep_interval(interval: Duration) -> Self {
        let sweep_interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        let proofs = Proofs::new(Self::DEFAULT_PROOFS_CAPACITY, DEFAULT_PROOFS_PER_KEY);
        Self::empty(sweep_interval_ms, proofs)
    }

    /// How many spent DPoP proofs the store remembers at most, by default.
    pub const DEFAULT_PROOFS_CAPACITY: usize = 100_000;

    /// A new, empty store with this one's sweep interval, remembering at most `capacity`
    /// spent DPoP proofs in all (default
    /// [`DEFAULT_PROOFS_CAPACITY`](Self::DEFAULT_PROOFS_CAPACITY)), and this one's limit per
    /// DPoP key. When full after dropping the expired ones (at most once a second), a new
    /// proof is refused as if replayed (`invalid_dpop_proof`): the store fails closed rather
    /// than forget a proof that may still be replayed.
    ///
    /// Only requests that proved something are remembered (a genuine refresh token or
    /// access token, a login the application accepted), and one key holds at most
    /// [`with_proofs_per_key`](Self::with_proofs_per_key) of them, so filling the memory
    /// takes many keys, each with a credential of its own.
    ///
    /// ```
    /// use tower_refresh_auth::store::MemoryStore;
    ///
    /// let store = MemoryStore::new().with_proofs_capacity(10_000);
    /// # let _ = store;
    /// ```
    pub fn with_proofs_capacity(self, capacity: usize) -> Self {
        let per_key = self.inner.proofs.per_key;
        self.with_proofs(Proofs::new(capacity, per_key))
    }

    /// A new, empty store with this one's settings, remembering at most `per_key` spent DPoP
    /// proofs of one key (default [`DEFAULT_PROOFS_PER_KEY`]). A key past it has its further
    /// proofs refused as replays until its older ones expire; no other key is affected: the
    /// memory is partitioned by key
    /// ([`ReplayKey::partition`](crate::store::ReplayKey::partition)).
    ///
    /// ```
    /// use tower_refresh_auth::store::MemoryStore;
    ///
    /// let store = MemoryStore::new().with_proofs_per_key(256);
    /// # let _ = store;
    /// ```
    pub fn with_proofs_per_key(self, per_key: u32) -> Self {
        let capacity = self.inner.proofs.capacity;
        self.with_proofs(Proofs::new(capacity, per_key))
    }

    fn with_proofs(self, proofs: Proofs) -> Self {
        Self::empty(self.inner.sweep_interval_ms, proofs)
    }

    /// An empty store with these settings.
    fn empty(sweep_interval_ms: u64, proofs: Proofs) -> Self {
        let inner = Inner {
            sessions: DashMap::new(),
            subjects: DashMap::new(),
            proofs,
            feed: MemoryFeed::default(),
            sweep_interval_ms,
            last_sweep_ms: AtomicU64::new(0),
            ring: std::sync::Mutex::new(None),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Drops a session taken out of the map from its subject's index.
    fn unindex_session(&self, session: &Session) {
        self.unindex(&session.subject, &order_key(session.created_at, session.id));
    }

    /// How many spent DPoP proofs are remembered, expired or not yet swept.
    pub fn proofs_len(&self) -> usize {
        self.inner.proofs.len()
    }

    /// How many sessions are held, live or not yet swept.
    pub fn len(&self) -> usize {
        self.inner.sessions.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.inner.sessions.is_empty()
    }

    /// Drops every session that is not live at `now`, and every spent DPoP proof past its
    /// expiry. Returns how many sessions were dropped.
    pub fn purge_expired(&self, now: SystemTime) -> usize {
        let mut dead = Vec::new();
        self.inner.sessions.retain(|_, s| {
            let live = s.is_live(now);
            if !live {
                dead.push((s.subject.clone(), order_key(s.created_at, s.id)));
            }
            live
        });
        for (subject, key) in &dead {
            self.unindex(subject, key);
        }
        self.inner.proofs.purge(to_millis(now));
        dead.len()
    }

    /// The compare-and-swap of [`rotate`](RefreshStore::rotate), and of
    /// [`rotate_unbound`](RefreshStore::rotate_unbound) when `unbound_only`.
    fn swap(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
        unbound_only: bool,
    ) -> Rotation {
        // The entry holds the shard's write lock: the check and the swap are one step.
        let mut dead = None;
        let rotation = match self.inner.sessions.entry(*id) {
            Entry::Vacant(_) => Rotation::NotFound,
            Entry::Occupied(mut e) => {
                let s = e.get_mut();
                if !s.is_live(now) {
                    dead = Some(e.remove());
                    Rotation::NotFound
                } else if s.counter != expected
                    || next <= expected
                    || (unbound_only && s.jkt.is_some())
                {
                    // A counter only moves forward (and one at its largest not at all); a bound
                    // session is not swapped by a request without its key.
                    Rotation::Conflict(s.clone())
                } else {
                    s.counter = next;
                    s.rotated_at = now;
                    s.expires_at = expires_at;
                    Rotation::Rotated(s.clone())
                }
            }
        };
        // The index guard is taken only once the session's shard lock is released.
        if let Some(dead) = dead {
            self.unindex_session(&dead);
        }
        rotation
    }

    fn maybe_sweep(&self, now: SystemTime) {
        let now_ms = to_millis(now);
        let last = self.inner.last_sweep_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < self.inner.sweep_interval_ms {
            return;
        }
        // One caller wins the right to sweep; the others carry on.
        if self
            .inner
            .last_sweep_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let dropped = self.purge_expired(now);
            tracing::trace!(dropped, "memory store swept expired sessions");
        }
    }
}

#[async_trait::async_trait]
impl RefreshStore for MemoryStore {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        self.maybe_sweep(session.created_at);
        // The session first, then its index entry: an indexed id always names a stored
        // session (or one being revoked), so none escapes `revoke_subject` for good.
        if let Some(old) = self.inner.sessions.insert(session.id, session.clone()) {
            self.unindex_session(&old);
        }
        self.index(session);
        Ok(())
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        Ok(self
            .inner
            .sessions
            .get(id)
            .filter(|s| s.is_live(now))
            .map(|s| s.clone()))
    }

    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        Ok(self.swap(id, expected, next, now, expires_at, false))
    }

    /// The binding is checked under the same lock as the counter: one step.
    async fn rotate_unbound(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        Ok(self.swap(id, expected, next, now, expires_at, true))
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(match self.inner.sessions.remove(id) {
            Some((_, s)) => {
                self.unindex_session(&s);
                true
            }
            None => false,
        })
    }

    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
        Ok(match self.inner.sessions.get_mut(id) {
            Some(mut session) => {
                session.seal = seal.to_owned();
                true
            }
            None => false,
        })
    }

    fn subject_index(&self) -> Option<&dyn SubjectIndex> {
        Some(self)
    }

    fn dpop(&self) -> Option<&dyn DpopStore> {
        Some(self)
    }

    fn reauth(&self) -> Option<&dyn ReauthStore> {
        Some(self)
    }

    fn revocation_feed(&self) -> Option<&dyn RevocationFeed> {
        Some(&self.inner.feed)
    }

    fn key_ring(&self) -> Option<&dyn KeyRingStore> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
