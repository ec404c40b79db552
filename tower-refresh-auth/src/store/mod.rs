//! Where sessions live: the [`RefreshStore`] trait and its backends.
//!
//! The store keeps **one small record per login session**, never a token. A refresh token is
//! `session id + counter + MAC` (see [`crate::token::refresh_token`]); the record holds the
//! session's current counter, so a leaked database yields nothing that can be presented.
//!
//! Each method is one atomic operation that a backend can do in one round trip — a Lua
//! script in Redis, a single SQL statement — and carries no policy: the grace window and reuse
//! detection are decided once, in the layer, from what [`RefreshStore::rotate`] returns.
//!
//! A session is *live* at `now` when `now < expires_at` and, if it has one,
//! `now < absolute_expires_at`. Backends treat a session that is not live exactly as a
//! missing one, and may delete it whenever they like.
//!
//! # Writing a backend
//!
//! Implement the five methods of [`RefreshStore`] with `#[async_trait]`, converting the
//! backend's errors into [`StoreError`]; then, if the store can, the capabilities
//! [`SubjectIndex`] (session lists, "log out everywhere"), [`DpopStore`] (DPoP),
//! [`ReauthStore`] (re-authentication) and [`RevocationFeed`] (the revocation feed), each
//! announced by returning `Some(…)` from [`RefreshStore::subject_index`],
//! [`RefreshStore::dpop`], [`RefreshStore::reauth`] or [`RefreshStore::revocation_feed`].
//! Run the conformance suite (the `conformance` feature:
//! [`conformance_suite!`](crate::conformance_suite)) against it, one group per capability.
//! The [`MemoryStore`] is the reference implementation.
//!
//! Keep every field of a [`Session`] as it was given, [`seal`](Session::seal) included:
//! the layer refuses a record whose seal does not match its id, subject, claims and fixed
//! times, like an unknown session. A backend never computes or checks a seal itself.
//!
//! ```
//! use tower_refresh_auth::store::{MemoryStore, RefreshStore};
//! # fn assert_dyn(_: &dyn RefreshStore) {}
//! let store = MemoryStore::default();
//! assert_dyn(&store); // every store is usable as `dyn RefreshStore`
//! ```

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
pub mod feed;
#[cfg(any(test, feature = "conformance"))]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod intercept;
mod key_ring;
#[cfg(feature = "memory-store")]
mod memory;
mod page;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod replay;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::session::{Session, SessionId};

pub use self::feed::{FeedPage, FeedSubscription, Recorded, Revocation, RevocationFeed, Revoked};
pub use self::key_ring::{KeyRingStore, StoredKeyRing};
#[cfg(feature = "memory-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory-store")))]
pub use self::memory::MemoryStore;
pub use self::page::SessionPage;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::postgres::PostgresStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisStore;
pub use self::replay::{DEFAULT_PROOFS_PER_KEY, ReplayKey};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use self::sqlite::SqliteStore;
pub use crate::session::{PageCursor, ParsePageCursorError};

/// The boxed error type a backend wraps its own errors in.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What [`RefreshStore::rotate`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The counter matched and moved forward to the one asked for; the session as it is now.
    Rotated(Session),
    /// The session is live but its counter did not match; the session as it is, unchanged.
    Conflict(Session),
    /// No live session has that id.
    NotFound,
}

/// A store operation failed: the database is down, timed out, or answered nonsense.
///
/// The layer answers every `StoreError` with `503 Service Unavailable` and `Retry-After`
/// (never as `invalid_grant`), so the client keeps its tokens and retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or failed.
    #[error("session store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The operation did not finish within the configured timeout.
    #[error("session store operation timed out after {0:?}")]
    Timeout(Duration),
    /// The backend answered with data it could not have written.
    #[error("session store returned malformed data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Wraps a backend error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }
}

/// A refresh-session store: the five operations every store does atomically. See the
/// [module docs](self) for the contract.
///
/// All times are passed in by the caller (from the layer's [`Clock`](crate::clock::Clock)),
/// so a store never reads a clock of its own to decide liveness.
///
/// What some configurations need beyond these five is a capability of its own, which a store
/// offers by implementing the capability trait and returning itself from the matching
/// method here (both default to `None`):
///
/// - [`SubjectIndex`] ([`subject_index`](Self::subject_index)): a user's session list and
///   "log out everywhere", for the sessions routes and
///   [`RefreshAuth::revoke_subject`](crate::RefreshAuth::revoke_subject);
/// - [`DpopStore`] ([`dpop`](Self::dpop)): binding a session to a DPoP key and the memory of
///   spent proofs, for DPoP;
/// - [`ReauthStore`] ([`reauth`](Self::reauth)): re-authentication without a new session,
///   for [`RefreshAuth::reauthenticate`](crate::RefreshAuth::reauthenticate);
/// - [`KeyRingStore`] ([`key_ring`](Self::key_ring)): the fleet's sealed key ring, for key
///   rotation (`docs/protocol.md` §13).
/// - [`RevocationFeed`] ([`revocation_feed`](Self::revocation_feed)): every revocation
///   recorded and pushed to every instance, for
///   [`SessionChecking::Feed`](crate::SessionChecking::Feed).
///
/// [`RefreshAuthBuilder::build`](crate::RefreshAuthBuilder::build) refuses a configuration
/// that needs a capability its store does not offer, naming the trait.
#[async_trait::async_trait]
pub trait RefreshStore: fmt::Debug + Send + Sync + 'static {
    /// Stores a new session. Its id is fresh and random, so it never collides in practice;
    /// a backend may overwrite on collision.
    async fn create(&self, session: &Session) -> Result<(), StoreError>;

    /// The live session with this id, if any.
    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError>;

    /// The compare-and-swap at the heart of rotation, atomically:
    ///
    /// - no live session `id` at `now` → [`Rotation::NotFound`];
    /// - its counter is not `expected`, or `next` is not larger than `expected` →
    ///   [`Rotation::Conflict`] with the session unchanged;
    /// - otherwise set `counter = next`, `rotated_at = now`, `expires_at = expires_at` and
    ///   return [`Rotation::Rotated`] with the new state.
    ///
    /// The layer asks for `next = expected + 1` on an ordinary refresh, and for a larger jump
    /// when it rolls a session forward to a token the store lost track of (`docs/protocol.md`
    /// §11). A counter only ever moves forward, so a counter once minted is never minted again.
    /// A backend that cannot store `next` (past its integer range) reports a conflict.
    ///
    /// N concurrent calls with the same `expected` must yield exactly one `Rotated`.
    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError>;

    /// [`rotate`](Self::rotate), except that a session bound to a DPoP key
    /// ([`Session::jkt`]) is never swapped: it is reported as [`Rotation::Conflict`],
    /// unchanged, whatever its counter. The layer uses it for every refresh that carries no
    /// proof, so that a copied refresh token of a bound session moves nothing — also on an
    /// instance with DPoP off, and also when the session was bound a moment ago by a
    /// concurrent refresh (`docs/protocol.md` §10).
    ///
    /// The default loads the session and then rotates it: two round trips, and a bind that
    /// lands between them goes unseen. Every backend of this crate overrides it with one
    /// atomic step (the condition joins the compare-and-swap); a backend of your own should
    /// too.
    async fn rotate_unbound(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        match self.load(id, now).await? {
            None => Ok(Rotation::NotFound),
            Some(session) if session.jkt.is_some() => Ok(Rotation::Conflict(session)),
            Some(_) => self.rotate(id, expected, next, now, expires_at).await,
        }
    }

    /// Deletes a session. Returns whether one was there.
    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError>;

    /// Replaces the [`seal`](Session::seal) of session `id`, if it exists, with `seal`, and
    /// touches nothing else. The layer calls it after a refresh that found the seal made under
    /// an older secret. Returns whether the session was there.
    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError>;

    /// This store's per-subject index, if it keeps one: `Some(self)` in a store that
    /// implements [`SubjectIndex`].
    fn subject_index(&self) -> Option<&dyn SubjectIndex> {
        None
    }

    /// What DPoP needs of this store, if it offers it: `Some(self)` in a store that
    /// implements [`DpopStore`].
    fn dpop(&self) -> Option<&dyn DpopStore> {
        None
    }

    /// Re-authentication, if this store offers it: `Some(self)` in a store that implements
    /// [`ReauthStore`].
    fn reauth(&self) -> Option<&dyn ReauthStore> {
        None
    }

    /// The shared key ring of a fleet, if this store keeps one: `Some(self)` in a store that
    /// implements [`KeyRingStore`].
    fn key_ring(&self) -> Option<&dyn KeyRingStore> {
        None
    }

    /// The revocation feed, if this store keeps one: `Some(…)` in a store that implements
    /// [`RevocationFeed`] (itself, or a part of it). When it does, the layer records and
    /// pushes every revocation it performs, whatever its own
    /// [session checking](crate::RefreshAuthBuilder::check_sessions), so that the instances
    /// that follow the feed learn of it.
    fn revocation_feed(&self) -> Option<&dyn RevocationFeed> {
        None
    }
}

/// A store capability: the sessions of one subject, for a user's session list (`GET
/// /sessions`) and "log out everywhere" (`DELETE /sessions`,
/// [`RefreshAuth::revoke_subject`](crate::RefreshAuth::revoke_subject)).
///
/// A store offers it by implementing this trait and
/// [`RefreshStore::subject_index`] as `Some(self)`.
#[async_trait::async_trait]
pub trait SubjectIndex: Send + Sync {
    /// Deletes every session of `subject` ("log out everywhere"). Returns how many.
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError>;

    /// The live sessions of `subject` at `now`, in any order: what a user's session list
    /// shows. Sessions of `subject` that are not live may be deleted on the way, so that a
    /// subject with many dead sessions costs no more, the next time, than its live ones.
    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError>;

    /// One page of the live sessions of `subject` at `now`: at most `limit` (at least 1) of
    /// them, newest first in the order of [`PageCursor`] (creation time in milliseconds, then
    /// id), those strictly after `after` when it is given; and the cursor of the next page
    /// when a live session of `subject` follows the last one returned. What `GET /sessions`
    /// shows, and how the layer finds the sessions past a subject's
    /// [limit](crate::RefreshAuthBuilder::max_sessions_per_subject).
    ///
    /// The provided method reads every session with [`list`](Self::list) and cuts the page
    /// out of them: correct for any store, but as costly as the whole listing. Every backend
    /// of this crate reads only what the page needs (see each one's docs).
    async fn list_page(
        &self,
        subject: &str,
        now: SystemTime,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Result<SessionPage, StoreError> {
        let all = self.list(subject, now).await?;
        Ok(SessionPage::from_unordered(all, limit, after))
    }
}

/// A store capability: what DPoP (`docs/protocol.md` §10) needs of a store — binding a
/// session to a key, and the memory of spent proofs that makes each proof good once across
/// every instance sharing the store.
///
/// A store offers it by implementing this trait and [`RefreshStore::dpop`] as `Some(self)`.
#[async_trait::async_trait]
pub trait DpopStore: Send + Sync {
    /// Binds the live session `id` to the DPoP key of thumbprint `jkt` (`docs/protocol.md`
    /// §10), atomically and only if it is not bound yet: sets
    /// [`jkt`](Session::jkt) and replaces the [`seal`](Session::seal) with `seal` (the seal
    /// of the bound session), touching nothing else. A session already bound keeps its key.
    ///
    /// Returns the session as it is afterwards — bound to `jkt`, or to the key it was bound
    /// to before — or `None` when no live session has that id at `now`.
    async fn bind(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError>;

    /// Remembers a spent DPoP proof until `expires_at`, atomically (one set-if-absent with
    /// an expiry): `true` when `key` was not remembered (or its memory had expired at `now`),
    /// `false` when it was — the proof is a replay. Instances sharing the store share the
    /// memory, so a proof is good once across all of them.
    ///
    /// A backend bounds what it keeps: entries past `expires_at` may be dropped at any time,
    /// and must not count as remembered. It bounds them **per partition**
    /// ([`ReplayKey::partition`], one per DPoP key): when a partition already holds its
    /// share of live entries ([`DEFAULT_PROOFS_PER_KEY`] unless the backend is configured
    /// otherwise), the new proof is refused (`false`) — never another partition's entry
    /// forgotten — so the proofs of one key can neither fill the memory nor push out
    /// another key's. The layer calls this only for a request that showed it is worth
    /// remembering (a verified refresh token, access token, or a login the application
    /// accepted), never for an anonymous one (`docs/protocol.md` §10).
    async fn remember_proof(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError>;
}

/// A store capability: re-authentication (`docs/protocol.md` §15) — a rotation that also
/// replaces the session's claims and seal, in one atomic step, so that a raised `auth_time`
/// and the new counter land together or not at all.
///
/// A store offers it by implementing this trait and [`RefreshStore::reauth`] as `Some(self)`;
/// [`RefreshAuth::reauthenticate`](crate::RefreshAuth::reauthenticate) on a store without it
/// answers [`AuthError::MissingCapability`](crate::AuthError::MissingCapability).
#[async_trait::async_trait]
pub trait ReauthStore: Send + Sync {
    /// Atomically: if a live session `current.id` exists at `now` and still has
    /// `current.counter` and `current.seal` (nothing rotated, bound or resealed it since it
    /// was read), and `next.counter` is larger than `current.counter`, sets its `counter`,
    /// `rotated_at`, `expires_at`, `claims` and `seal` to those of `next`, touches nothing
    /// else, and returns the session as it is now. Otherwise changes nothing and returns
    /// `None`: the layer reads the session again and decides.
    async fn reauthenticate(
        &self,
        current: &Session,
        next: &Session,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError>;
}

#[async_trait::async_trait]
impl<T: RefreshStore + ?Sized> RefreshStore for std::sync::Arc<T> {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        (**self).create(session).await
    }
    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        (**self).load(id, now).await
    }
    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        (**self).rotate(id, expected, next, now, expires_at).await
    }
    async fn rotate_unbound(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        (**self)
            .rotate_unbound(id, expected, next, now, expires_at)
            .await
    }
    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        (**self).revoke(id).await
    }
    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
        (**self).reseal(id, seal).await
    }
    fn subject_index(&self) -> Option<&dyn SubjectIndex> {
        (**self).subject_index()
    }
    fn dpop(&self) -> Option<&dyn DpopStore> {
        (**self).dpop()
    }
    fn reauth(&self) -> Option<&dyn ReauthStore> {
        (**self).reauth()
    }
    fn key_ring(&self) -> Option<&dyn KeyRingStore> {
        (**self).key_ring()
    }
    fn revocation_feed(&self) -> Option<&dyn RevocationFeed> {
        (**self).revocation_feed()
    }
}
