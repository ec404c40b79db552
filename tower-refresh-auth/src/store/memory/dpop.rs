//! The [`MemoryStore`]'s [`DpopStore`]: binding under the session's shard lock, and the
//! memory of spent proofs, partitioned by DPoP key.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::MemoryStore;
use crate::clock::{Throttled, to_millis};
use crate::session::{Session, SessionId};
use crate::store::{DpopStore, ReplayKey, StoreError};

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
            self.unindex_session(&dead);
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
pub(super) struct Proofs {
    partitions: DashMap<[u8; 8], Partition>,
    /// How many entries all partitions hold (expired ones not yet dropped included).
    total: AtomicUsize,
    pub(super) capacity: usize,
    pub(super) per_key: u32,
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
    pub(super) fn new(capacity: usize, per_key: u32) -> Self {
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

    /// How many entries all partitions hold, expired or not yet dropped.
    pub(super) fn len(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Drops every expired entry, and every partition left empty.
    pub(super) fn purge(&self, now_ms: u64) {
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
