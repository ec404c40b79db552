//! The opt-in verified-token cache: skips signature verification for a token seen before.
//!
//! Modelled on Envoy's `jwt_authn` cache. An entry is made only for a token that verified,
//! holds the whole token, and never outlives the token's `exp` (plus leeway). A lookup finds
//! an entry by a 128-bit keyed hash of the token's length and last 32 bytes (SipHash-1-3 under
//! a random key: a token's tail is its signature, which no two tokens share, and no one can
//! aim tokens at one bucket), then compares the whole token with the entry's: a token that
//! copies a cached token's signature onto another payload finds the entry and misses.
//! Hashing the tail instead of the whole token makes a hit cheaper (about 0.7k instructions
//! fewer for a 270-byte token) at the cost of the token's bytes in each entry. Revoking a
//! session in this process drops its entries. The map is sharded ([`dashmap`]): lookups from
//! many worker threads do not contend on one lock.
//!
//! The bound is a capacity: when it is reached, expired entries are swept (at most once a
//! second); if the cache is still full of live tokens, new tokens are verified normally and
//! not cached until room frees up — with access tokens living a minute, that is soon.

use std::any::Any;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use siphasher::sip128::{Hasher128 as _, SipHasher13};

use crate::session::SessionId;
use crate::token::Claims;

/// How many of a token's last bytes its key hashes: inside the signature of any JWT (an
/// HS256 signature is 43 characters), so no two valid tokens share them.
const TAIL: usize = 32;

pub(crate) struct TokenCache {
    entries: DashMap<u128, Entry, BuildHasherDefault<KeyIsHash>>,
    /// The keys cached for each session, so revoking one costs its own entries, not a scan.
    by_session: DashMap<SessionId, Vec<u128>>,
    /// The sessions cached for each subject, for "log out everywhere".
    by_subject: DashMap<String, Vec<SessionId>>,
    capacity: usize,
    key: [u8; 16],
    last_sweep_ms: AtomicU64,
}

// The hash key never appears in Debug output; neither do the cached claims.
impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// The map's hasher: an entry key is already a keyed hash of the token (SipHash-1-3 under
/// the cache's random key, so no one can aim tokens at one bucket), so the map takes its
/// low 64 bits as they are instead of hashing it a second time.
#[derive(Debug, Default, Clone, Copy)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, key: u128) {
        // Truncation intended: the low half of a keyed 128-bit hash.
        self.0 = key as u64;
    }

    /// Not used by `u128` keys; mixes anything else in rather than ignoring it.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// The token, compared in full on every lookup: the key hashes only its tail.
    token: Box<[u8]>,
    /// A `Claims<C>` of the `RefreshAuth<C>` that verified the token.
    claims: Arc<dyn Any + Send + Sync>,
    /// The first millisecond the token is valid (`nbf` or `iat`, less leeway): a clock that
    /// steps back before it must not find the token valid here when it is not elsewhere.
    valid_from_ms: u64,
    /// The first millisecond the token is no longer valid (`exp` plus leeway).
    deadline_ms: u64,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: DashMap::with_capacity_and_hasher(capacity.min(1 << 16), Default::default()),
            by_session: DashMap::new(),
            by_subject: DashMap::new(),
            capacity,
            key: rand::random(),
            last_sweep_ms: AtomicU64::new(0),
        }
    }

    /// The cache key of a token: a keyed hash of its length and its last [`TAIL`] bytes.
    fn entry_key(&self, token: &[u8]) -> u128 {
        let mut hasher = SipHasher13::new_with_key(&self.key);
        hasher.write_usize(token.len());
        hasher.write(&token[token.len().saturating_sub(TAIL)..]);
        hasher.finish128().as_u128()
    }

    /// The cached claims of a still-valid `token`: shared, so a hit costs a reference count,
    /// not a copy of the claims.
    #[cfg(test)]
    pub(crate) fn get<T: Send + Sync + 'static>(
        &self,
        token: &[u8],
        now_ms: u64,
    ) -> Option<Arc<T>> {
        self.get_keyed(self.entry_key(token), token, now_ms)
    }

    fn get_keyed<T: Send + Sync + 'static>(
        &self,
        key: u128,
        token: &[u8],
        now_ms: u64,
    ) -> Option<Arc<T>> {
        let entry = self.entries.get(&key)?;
        // Not constant-time, and need not be: the key says which entry, and this only tells a
        // cached token from another token with the same tail, which the signature check then
        // refuses.
        if *entry.token != *token {
            return None;
        }
        if now_ms < entry.valid_from_ms {
            return None;
        }
        if now_ms >= entry.deadline_ms {
            drop(entry);
            self.entries.remove(&key);
            return None;
        }
        Arc::clone(&entry.claims).downcast::<T>().ok()
    }

    #[cfg(test)]
    pub(crate) fn insert<T: Send + Sync + 'static>(
        &self,
        token: &[u8],
        claims: Arc<T>,
        valid: (u64, u64),
        session: Option<SessionId>,
        subject: &str,
        now_ms: u64,
    ) {
        let key = self.entry_key(token);
        self.insert_keyed(key, token, claims, valid, session, subject, now_ms);
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_keyed<T: Send + Sync + 'static>(
        &self,
        key: u128,
        token: &[u8],
        claims: Arc<T>,
        (valid_from_ms, deadline_ms): (u64, u64),
        session: Option<SessionId>,
        subject: &str,
        now_ms: u64,
    ) {
        // The indexes may hold keys of entries that expired; they are pruned with the entries.
        if self.entries.len() >= self.capacity || self.by_session.len() >= self.capacity {
            self.sweep(now_ms);
            if self.entries.len() >= self.capacity {
                return;
            }
        }
        self.entries.insert(
            key,
            Entry {
                token: token.into(),
                claims,
                valid_from_ms,
                deadline_ms,
            },
        );
        // A token without a session (another issuer's, on a resource server, which revokes
        // nothing) is found by its key only.
        let Some(session) = session else {
            return;
        };
        let mut keys = self.by_session.entry(session).or_default();
        if keys.is_empty() {
            self.by_subject
                .entry(subject.to_owned())
                .or_default()
                .push(session);
        }
        keys.push(key);
    }

    /// The claims of `token`: from the cache when it verified before and is still valid,
    /// else from `verify`, cached on success for the `[from, until)` milliseconds `validity`
    /// gives. The one place both the issuing layer and a resource server go through the
    /// cache. The claims are shared between the entry and every request that finds them: a
    /// hit copies nothing.
    ///
    /// `token` is the token's bytes as presented: a hit needs no grammar check (only a token
    /// that verified, and so is base64url, is ever cached), so `verify` makes it.
    pub(crate) fn verify_through<C, E>(
        &self,
        token: &[u8],
        now_ms: u64,
        verify: impl FnOnce() -> Result<Claims<C>, E>,
        validity: impl FnOnce(&Claims<C>) -> (u64, u64),
    ) -> Result<Arc<Claims<C>>, E>
    where
        C: Send + Sync + 'static,
    {
        let key = self.entry_key(token);
        if let Some(claims) = self.get_keyed::<Claims<C>>(key, token, now_ms) {
            return Ok(claims);
        }
        let claims = Arc::new(verify()?);
        let valid = validity(&claims);
        self.insert_keyed(
            key,
            token,
            Arc::clone(&claims),
            valid,
            claims.sid,
            &claims.sub,
            now_ms,
        );
        Ok(claims)
    }

    fn sweep(&self, now_ms: u64) {
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < 1000
            || self
                .last_sweep_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.entries.retain(|_, e| now_ms < e.deadline_ms);
        self.by_session.retain(|_, keys| {
            keys.retain(|k| self.entries.contains_key(k));
            !keys.is_empty()
        });
        self.by_subject.retain(|_, sessions| {
            sessions.retain(|s| self.by_session.contains_key(s));
            !sessions.is_empty()
        });
    }

    /// Drops every entry of a revoked session: as many map operations as it has entries.
    pub(crate) fn forget_session(&self, session: &SessionId) {
        if let Some((_, keys)) = self.by_session.remove(session) {
            for key in keys {
                self.entries.remove(&key);
            }
        }
    }

    /// Drops every entry of a subject logged out everywhere.
    pub(crate) fn forget_subject(&self, subject: &str) {
        if let Some((_, sessions)) = self.by_subject.remove(subject) {
            for session in sessions {
                self.forget_session(&session);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_at_their_deadline() {
        let cache = TokenCache::new(10);
        let k: &[u8] = b"token";
        cache.insert(
            k,
            Arc::new(7u32),
            (0, 1_000),
            Some(SessionId::random()),
            "u",
            0,
        );
        assert_eq!(cache.get::<u32>(k, 999).as_deref(), Some(&7));
        assert_eq!(cache.get::<u32>(k, 1_000), None);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_clock_before_the_tokens_start_misses() {
        let cache = TokenCache::new(10);
        let k: &[u8] = b"token";
        cache.insert(
            k,
            Arc::new(7u32),
            (5_000, 10_000),
            Some(SessionId::random()),
            "u",
            6_000,
        );
        assert_eq!(cache.get::<u32>(k, 6_000).as_deref(), Some(&7));
        assert_eq!(cache.get::<u32>(k, 4_999), None);
        // Still there for when the clock is right again.
        assert_eq!(cache.get::<u32>(k, 5_000).as_deref(), Some(&7));
    }

    #[test]
    fn keys_differ_per_token_and_per_cache() {
        let a = TokenCache::new(1);
        let b = TokenCache::new(1);
        assert_ne!(a.entry_key(b"x"), a.entry_key(b"y"));
        assert_eq!(a.entry_key(b"x"), a.entry_key(b"x"));
        assert_ne!(a.entry_key(b"x"), b.entry_key(b"x"));
    }

    #[test]
    fn a_token_with_a_cached_tokens_tail_misses() {
        let cache = TokenCache::new(10);
        let tail = "s".repeat(TAIL);
        let (cached, forged) = (
            format!("header.claims.{tail}"),
            format!("header.CLAIMS.{tail}"),
        );
        assert_eq!(
            cache.entry_key(cached.as_bytes()),
            cache.entry_key(forged.as_bytes())
        );
        cache.insert(cached.as_bytes(), Arc::new(1u8), (0, 10_000), None, "u", 0);
        assert_eq!(cache.get::<u8>(forged.as_bytes(), 1), None);
        assert_eq!(cache.get::<u8>(cached.as_bytes(), 1).as_deref(), Some(&1));
        // Any difference counts: a token one byte longer or shorter has another key.
        assert_ne!(
            cache.entry_key(cached.as_bytes()),
            cache.entry_key(format!("x{cached}").as_bytes())
        );
    }

    #[test]
    fn the_capacity_is_a_bound() {
        let cache = TokenCache::new(3);
        for i in 0..10u64 {
            cache.insert(
                i.to_string().as_bytes(),
                Arc::new(i),
                (0, 10_000),
                Some(SessionId::random()),
                "u",
                0,
            );
        }
        assert_eq!(cache.len(), 3);
        // Once the first ones expire, a sweep makes room.
        cache.insert(
            b"late",
            Arc::new(99u64),
            (0, 20_000),
            Some(SessionId::random()),
            "u",
            10_000,
        );
        assert_eq!(cache.get::<u64>(b"late", 10_001).as_deref(), Some(&99));
    }

    #[test]
    fn revocation_drops_a_sessions_entries() {
        let cache = TokenCache::new(10);
        let (s1, s2) = (SessionId::random(), SessionId::random());
        cache.insert(b"a", Arc::new(1u8), (0, 10_000), Some(s1), "alice", 0);
        cache.insert(b"b", Arc::new(2u8), (0, 10_000), Some(s2), "bob", 0);
        cache.forget_session(&s1);
        assert_eq!(cache.get::<u8>(b"a", 1), None);
        assert_eq!(cache.get::<u8>(b"b", 1).as_deref(), Some(&2));
        cache.forget_subject("bob");
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn revocation_touches_only_the_sessions_own_entries() {
        let cache = TokenCache::new(1000);
        let target = SessionId::random();
        for i in 0..500u32 {
            cache.insert(
                format!("other{i}").as_bytes(),
                Arc::new(i),
                (0, 10_000),
                Some(SessionId::random()),
                "o",
                0,
            );
        }
        for i in 0..3u32 {
            cache.insert(
                format!("mine{i}").as_bytes(),
                Arc::new(i),
                (0, 10_000),
                Some(target),
                "me",
                0,
            );
        }
        assert_eq!(cache.by_session.get(&target).map(|k| k.len()), Some(3));
        cache.forget_session(&target);
        assert_eq!(cache.len(), 500);
        assert!(cache.by_session.get(&target).is_none());
        assert_eq!(cache.by_subject.get("me").map(|s| s.len()), Some(1));
        // The subject's index still names the session; forgetting it again is harmless.
        cache.forget_subject("me");
        assert!(cache.by_subject.get("me").is_none());
        assert_eq!(cache.len(), 500);
    }

    #[test]
    fn the_indexes_are_pruned_with_expired_entries() {
        let cache = TokenCache::new(4);
        for i in 0..4u32 {
            cache.insert(
                i.to_string().as_bytes(),
                Arc::new(i),
                (0, 1_000),
                Some(SessionId::random()),
                "u",
                0,
            );
        }
        // Past their deadline the next insert sweeps them and their index entries.
        cache.insert(
            b"new",
            Arc::new(9u32),
            (0, 5_000),
            Some(SessionId::random()),
            "v",
            2_000,
        );
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.by_session.len(), 1);
        assert_eq!(cache.by_subject.len(), 1);
    }
}
