//! [`MemoryStore`]: sessions in a sharded in-process map.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::feed::memory::MemoryFeed;
use super::{
    DpopStore, KeyRingStore, PageCursor, ReauthStore, RefreshStore, RevocationFeed, Rotation,
    SessionPage, StoreError, StoredKeyRing, SubjectIndex,
};
use crate::clock::Throttled;
use crate::clock::to_millis;
use crate::session::order_key;
use crate::session::{Session, SessionId};
use crate::store::{DEFAULT_PROOFS_PER_KEY, ReplayKey};

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
        Self {
            inner: Arc::new(Inner {
                sessions: DashMap::new(),
                subjects: DashMap::new(),
                proofs: Proofs::new(Self::DEFAULT_PROOFS_CAPACITY, DEFAULT_PROOFS_PER_KEY),
                feed: MemoryFeed::default(),
                sweep_interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
                last_sweep_ms: AtomicU64::new(0),
                ring: std::sync::Mutex::new(None),
            }),
        }
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
    /// memory is partitioned by key ([`ReplayKey::partition`]).
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
        let inner = Inner {
            sessions: DashMap::new(),
            subjects: DashMap::new(),
            proofs,
            feed: MemoryFeed::default(),
            sweep_interval_ms: self.inner.sweep_interval_ms,
            last_sweep_ms: AtomicU64::new(0),
            ring: std::sync::Mutex::new(None),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// How many spent DPoP proofs are remembered, expired or not yet swept.
    pub fn proofs_len(&self) -> usize {
        self.inner.proofs.total.load(Ordering::Relaxed)
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

    /// Adds a stored session to its subject's index.
    fn index(&self, session: &Session) {
        let key = order_key(session.created_at, session.id);
        let insert = |keys: &mut Vec<PageCursor>| {
            if let Err(at) = keys.binary_search(&key) {
                keys.insert(at, key);
            }
        };
        match self.inner.subjects.get_mut(session.subject.as_str()) {
            Some(mut keys) => insert(&mut keys),
            None => insert(
                &mut self
                    .inner
                    .subjects
                    .entry(session.subject.clone())
                    // Most users hold one session: room for one, grown on a second login.
                    .or_insert_with(|| Vec::with_capacity(1)),
            ),
        }
    }

    /// Drops a session from its subject's index, and the index once empty.
    fn unindex(&self, subject: &str, key: &PageCursor) {
        let empty = match self.inner.subjects.get_mut(subject) {
            Some(mut keys) => {
                if let Ok(at) = keys.binary_search(key) {
                    keys.remove(at);
                }
                keys.is_empty()
            }
            None => false,
        };
        if empty {
            self.inner
                .subjects
                .remove_if(subject, |_, keys| keys.is_empty());
        }
    }

    /// The live sessions of `subject` after `after`, newest first: `limit + 1` at most (the
    /// extra one tells that a next page exists). Reads the subject's index a chunk at a time,
    /// dropping the entries of sessions that are gone or dead on the way.
    fn page(
        &self,
        subject: &str,
        now: SystemTime,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Vec<Session> {
        let want = limit.saturating_add(1);
        let mut bound = after.copied();
        let mut live = Vec::new();
        let mut stale = Vec::new();
        while live.len() < want {
            let missing = want - live.len();
            // The index guard is dropped before `sessions` is read.
            let keys: Vec<PageCursor> = match self.inner.subjects.get(subject) {
                None => break,
                Some(all) => {
                    let end = bound.map_or(all.len(), |b| all.partition_point(|k| *k < b));
                    all[..end].iter().rev().take(missing).copied().collect()
                }
            };
            let Some(last) = keys.last() else {
                break;
            };
            bound = Some(*last);
            for key in keys {
                match self.inner.sessions.get(key.id()) {
                    Some(s) if s.subject == subject && s.is_live(now) => live.push(s.clone()),
                    _ => stale.push(key),
                }
            }
        }
        for key in &stale {
            self.inner
                .sessions
                .remove_if(key.id(), |_, s| s.subject == subject && !s.is_live(now));
            self.unindex(subject, key);
        }
        live
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
            self.unindex(&dead.subject, &order_key(dead.created_at, dead.id));
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
            self.unindex(&old.subject, &order_key(old.created_at, old.id));
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
                self.unindex(&s.subject, &order_key(s.created_at, s.id));
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

/// One mutex around one record: a compare-and-swap is a comparison and a write under it.
#[async_trait::async_trait]
impl KeyRingStore for MemoryStore {
    async fn load_key_ring(&self) -> Result<Option<StoredKeyRing>, StoreError> {
        Ok(self.ring().clone())
    }

    async fn swap_key_ring(
        &self,
        expected: Option<u64>,
        next: &StoredKeyRing,
    ) -> Result<bool, StoreError> {
        let mut ring = self.ring();
        if ring.as_ref().map(|r| r.version) != expected {
            return Ok(false);
        }
        *ring = Some(next.clone());
        Ok(true)
    }
}

impl MemoryStore {
    /// The key ring's slot; a panic elsewhere cannot leave it half-written (it is replaced
    /// whole), so a poisoned lock is taken as it is.
    fn ring(&self) -> std::sync::MutexGuard<'_, Option<StoredKeyRing>> {
        self.inner
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl ReauthStore for MemoryStore {
    async fn reauthenticate(
        &self,
        current: &Session,
        next: &Session,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        // The entry holds the shard's write lock: the check and the swap are one step.
        Ok(match self.inner.sessions.get_mut(&current.id) {
            Some(mut s)
                if s.is_live(now)
                    && s.counter == current.counter
                    && s.seal == current.seal
                    && next.counter > current.counter =>
            {
                s.counter = next.counter;
                s.rotated_at = next.rotated_at;
                s.expires_at = next.expires_at;
                s.claims.clone_from(&next.claims);
                s.seal.clone_from(&next.seal);
                Some(s.clone())
            }
            _ => None,
        })
    }
}

#[async_trait::async_trait]
impl SubjectIndex for MemoryStore {
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        let Some((_, keys)) = self.inner.subjects.remove(subject) else {
            return Ok(0);
        };
        let revoked = keys
            .iter()
            .filter(|key| {
                self.inner
                    .sessions
                    .remove_if(key.id(), |_, s| s.subject == subject)
                    .is_some()
            })
            .count();
        Ok(u64::try_from(revoked).unwrap_or(u64::MAX))
    }

    /// The subject's index, not a scan of every session; newest first.
    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError> {
        Ok(self.page(subject, now, usize::MAX, None))
    }

    /// The page's entries of the subject's index, and one more: O(page), plus the entries of
    /// dead sessions it drops on the way.
    async fn list_page(
        &self,
        subject: &str,
        now: SystemTime,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Result<SessionPage, StoreError> {
        let limit = limit.max(1);
        Ok(SessionPage::from_ordered(
            self.page(subject, now, limit, after),
            limit,
        ))
    }
}

#[async_trait::async_trait]
impl DpopStore for MemoryStore {
    async fn bind(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        // The entry holds the shard's write lock: the check and the binding are one step.
        let mut dead = None;
        let bound = match self.inner.sessions.entry(*id) {
            Entry::Vacant(_) => None,
            Entry::Occupied(mut e) => {
                let s = e.get_mut();
                if !s.is_live(now) {
                    dead = Some(e.remove());
                    None
                } else {
                    if s.jkt.is_none() {
                        s.jkt = Some(jkt.to_owned());
                        s.seal = seal.to_owned();
                    }
                    Some(s.clone())
                }
            }
        };
        if let Some(dead) = dead {
            self.unindex(&dead.subject, &order_key(dead.created_at, dead.id));
        }
        Ok(bound)
    }

    async fn remember_proof(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        Ok(self
            .inner
            .proofs
            .remember(key, to_millis(expires_at), to_millis(now)))
    }
}

/// Spent DPoP proofs, partitioned by key ([`ReplayKey::partition`]): each partition holds
/// at most `per_key` entries, all of them together at most `capacity`. An insert costs O(1)
/// amortised, full or not: expired entries leave a partition from its front as it is used,
/// and a full memory is swept at most once a second, not on every refused proof.
#[derive(Debug)]
struct Proofs {
    partitions: DashMap<[u8; 8], Partition>,
    /// How many entries all partitions hold (expired ones not yet dropped included).
    total: AtomicUsize,
    capacity: usize,
    per_key: u32,
    /// When the last sweep of a full memory ran, in ms.
    last_purge_ms: AtomicU64,
    /// The log line for refused proofs, at most one per interval.
    refused: Throttled,
}

/// The spent proofs of one key.
#[derive(Debug, Default)]
struct Partition {
    /// Each remembered key, to the millisecond it may be forgotten.
    until: HashMap<ReplayKey, u64>,
    /// The same entries in the order they were remembered. Expiries follow that order
    /// closely (each is the proof's `iat` plus a fixed lifetime, and `iat` is within the
    /// window of the time it was spent), so popping expired entries from the front frees
    /// nearly everything that has expired; what it misses waits for the next sweep, and
    /// counts meanwhile (erring towards refusing, never towards forgetting).
    order: VecDeque<(ReplayKey, u64)>,
}

impl Partition {
    /// Drops the entries at the front that have expired at `now_ms`; returns how many.
    fn pop_expired(&mut self, now_ms: u64) -> usize {
        let mut dropped = 0;
        while let Some(&(key, until)) = self.order.front() {
            if until > now_ms {
                break;
            }
            self.order.pop_front();
            // A key remembered again since keeps its newer entry.
            if self.until.get(&key) == Some(&until) {
                self.until.remove(&key);
            }
            dropped += 1;
        }
        dropped
    }

    /// Drops every expired entry; returns how many.
    fn purge(&mut self, now_ms: u64) -> usize {
        let before = self.order.len();
        self.order.retain(|(_, until)| *until > now_ms);
        self.until.retain(|_, until| *until > now_ms);
        before - self.order.len()
    }
}

impl Proofs {
    fn new(capacity: usize, per_key: u32) -> Self {
        Self {
            partitions: DashMap::new(),
            total: AtomicUsize::new(0),
            capacity,
            per_key,
            last_purge_ms: AtomicU64::new(0),
            refused: Throttled::new(Duration::from_secs(10)),
        }
    }

    fn remember(&self, key: &ReplayKey, until_ms: u64, now_ms: u64) -> bool {
        if self.total.load(Ordering::Relaxed) >= self.capacity {
            // A sweep of everything, at most once a second: never one per refused proof.
            let last = self.last_purge_ms.load(Ordering::Relaxed);
            if now_ms.saturating_sub(last) >= 1_000
                && self
                    .last_purge_ms
                    .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.purge(now_ms);
            }
            if self.total.load(Ordering::Relaxed) >= self.capacity {
                self.refuse(
                    "the memory store remembers as many DPoP proofs as it may",
                    now_ms,
                );
                return false;
            }
        }
        // The entry holds its shard's write lock: the check and the insert are one step.
        let mut partition = self.partitions.entry(*key.partition()).or_default();
        let dropped = partition.pop_expired(now_ms);
        self.total.fetch_sub(dropped, Ordering::Relaxed);
        if partition
            .until
            .get(key)
            .is_some_and(|until| *until > now_ms)
        {
            return false;
        }
        if partition.until.len() >= self.per_key as usize {
            drop(partition);
            self.refuse(
                "a DPoP key has spent as many proofs as the store remembers per key",
                now_ms,
            );
            return false;
        }
        partition.until.insert(*key, until_ms);
        partition.order.push_back((*key, until_ms));
        self.total.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Drops every expired entry, and every partition left empty.
    fn purge(&self, now_ms: u64) {
        self.partitions.retain(|_, partition| {
            let dropped = partition.purge(now_ms);
            self.total.fetch_sub(dropped, Ordering::Relaxed);
            !partition.order.is_empty()
        });
    }

    fn refuse(&self, why: &'static str, now_ms: u64) {
        if let Some(suppressed) = self.refused.allow(now_ms) {
            tracing::warn!(
                suppressed,
                "{why}; refused (at most one such line per 10 s)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn session(subject: &str, t0: SystemTime) -> Session {
        Session {
            id: SessionId::random(),
            subject: subject.into(),
            claims: "{}".into(),
            counter: 0,
            created_at: t0,
            rotated_at: t0,
            expires_at: t0 + Duration::from_secs(60),
            absolute_expires_at: None,
            seal: String::new(),
            jkt: None,
            metadata: crate::session::SessionMetadata::new(),
        }
    }

    #[tokio::test]
    async fn sweeps_expired_sessions_on_create() {
        let store = MemoryStore::with_sweep_interval(Duration::from_secs(10));
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for _ in 0..100 {
            store.create(&session("a", t0)).await.unwrap();
        }
        assert_eq!(store.len(), 100);
        // Two minutes later every earlier session has expired; the next create sweeps.
        store
            .create(&session("b", t0 + Duration::from_secs(120)))
            .await
            .unwrap();
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn revoke_subject_leaves_other_users_alone() {
        let store = MemoryStore::new();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for _ in 0..3 {
            store.create(&session("alice", t0)).await.unwrap();
        }
        let bob = session("bob", t0);
        store.create(&bob).await.unwrap();
        assert_eq!(store.revoke_subject("alice").await.unwrap(), 3);
        assert!(store.load(&bob.id, t0).await.unwrap().is_some());
    }

    /// How many subjects the index holds (a test of the index's housekeeping).
    fn indexed_subjects(store: &MemoryStore) -> usize {
        store.inner.subjects.len()
    }

    #[tokio::test]
    async fn the_subject_index_follows_every_removal() {
        let store = MemoryStore::with_sweep_interval(Duration::from_secs(10));
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let a = session("a", t0);
        let b = session("b", t0);
        let c = session("c", t0);
        for s in [&a, &b, &c] {
            store.create(s).await.unwrap();
        }
        assert_eq!(indexed_subjects(&store), 3);
        assert!(store.revoke(&a.id).await.unwrap());
        assert_eq!(store.revoke_subject("b").await.unwrap(), 1);
        assert_eq!(indexed_subjects(&store), 1);
        // A dead session found by a rotation, a listing or the sweep leaves the index too.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(
            store.rotate(&c.id, 0, 1, later, later).await.unwrap(),
            Rotation::NotFound
        );
        assert_eq!(indexed_subjects(&store), 0);
        let d = session("d", t0);
        store.create(&d).await.unwrap();
        assert!(store.list("d", later).await.unwrap().is_empty());
        assert_eq!((indexed_subjects(&store), store.len()), (0, 0));
        let e = session("e", t0);
        store.create(&e).await.unwrap();
        store
            .create(&session("f", later + Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!((indexed_subjects(&store), store.len()), (1, 1));
    }

    #[tokio::test]
    async fn listing_one_subject_reads_only_its_sessions() {
        let store = MemoryStore::new();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..200 {
            store.create(&session(&format!("u{i}"), t0)).await.unwrap();
        }
        let mine: Vec<_> = (0..5u64)
            .map(|i| session("me", t0 + Duration::from_millis(i)))
            .collect();
        for s in &mine {
            store.create(s).await.unwrap();
        }
        let page = store.list_page("me", t0, 3, None).await.unwrap();
        let ids: Vec<_> = page.sessions.iter().map(|s| s.id).collect();
        assert_eq!(ids, [mine[4].id, mine[3].id, mine[2].id]);
        let rest = store
            .list_page("me", t0, 3, page.next.as_ref())
            .await
            .unwrap();
        let ids: Vec<_> = rest.sessions.iter().map(|s| s.id).collect();
        assert_eq!(ids, [mine[1].id, mine[0].id]);
        assert_eq!(rest.next, None);
        assert_eq!(store.revoke_subject("me").await.unwrap(), 5);
        assert_eq!(store.len(), 200);
    }

    #[tokio::test]
    async fn a_full_proof_memory_refuses_rather_than_forgets() {
        let store = MemoryStore::new().with_proofs_capacity(2);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let until = t0 + Duration::from_secs(60);
        let key = |b| ReplayKey::from_bytes([b; 16]);
        assert!(store.remember_proof(&key(1), until, t0).await.unwrap());
        assert!(store.remember_proof(&key(2), until, t0).await.unwrap());
        // Full of live entries: a new proof is refused, as a replay would be.
        assert!(!store.remember_proof(&key(3), until, t0).await.unwrap());
        // Once they expire, they make room.
        let later = until + Duration::from_secs(1);
        assert!(
            store
                .remember_proof(&key(3), later + Duration::from_secs(60), later)
                .await
                .unwrap()
        );
        assert_eq!(store.proofs_len(), 1);
    }

    #[tokio::test]
    async fn expired_session_is_not_found() {
        let store = MemoryStore::new();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = session("a", t0);
        store.create(&s).await.unwrap();
        let later = t0 + Duration::from_secs(61);
        assert_eq!(
            store.rotate(&s.id, 0, 1, later, later).await.unwrap(),
            Rotation::NotFound
        );
        assert!(store.load(&s.id, later).await.unwrap().is_none());
    }
}
