//! [`Intercepted`]: a store that passes every call on to another, letting a test step in —
//! fail a call, change what comes back, count what changed, hide a capability — without
//! forwarding every method of every store trait by hand.
//!
//! ```
//! # #[cfg(feature = "memory-store")] {
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use tower_refresh_auth::store::intercept::{Call, Hooks, Intercepted};
//! use tower_refresh_auth::store::MemoryStore;
//!
//! /// Counts the rotations carried out.
//! #[derive(Debug, Default)]
//! struct Rotations(AtomicU64);
//!
//! impl Hooks for Rotations {
//!     fn changed(&self, call: Call) {
//!         if call == Call::Rotate {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! let store = Intercepted::with_hooks(MemoryStore::new(), Rotations::default());
//! assert_eq!(store.hooks.0.load(Ordering::Relaxed), 0);
//! # }
//! ```

use std::fmt;
use std::time::SystemTime;

use super::{
    DpopStore, FeedPage, FeedSubscription, KeyRingStore, PageCursor, ReauthStore, RefreshStore,
    ReplayKey, Revocation, RevocationFeed, Rotation, SessionPage, StoreError, StoredKeyRing,
    SubjectIndex,
};
use crate::session::{Session, SessionId};

/// One store operation, as an [`Intercepted`] store tells its [`Hooks`] about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Call {
    /// [`RefreshStore::create`].
    Create,
    /// [`RefreshStore::load`].
    Load,
    /// [`RefreshStore::rotate`].
    Rotate,
    /// [`RefreshStore::rotate_unbound`].
    RotateUnbound,
    /// [`RefreshStore::revoke`].
    Revoke,
    /// [`RefreshStore::reseal`].
    Reseal,
    /// [`SubjectIndex::revoke_subject`].
    RevokeSubject,
    /// [`SubjectIndex::list`].
    List,
    /// [`SubjectIndex::list_page`].
    ListPage,
    /// [`DpopStore::bind`].
    Bind,
    /// [`DpopStore::remember_proof`].
    RememberProof,
    /// [`ReauthStore::reauthenticate`].
    Reauthenticate,
    /// [`KeyRingStore::load_key_ring`].
    LoadKeyRing,
    /// [`KeyRingStore::swap_key_ring`].
    SwapKeyRing,
    /// [`RevocationFeed::publish`].
    Publish,
    /// [`RevocationFeed::since`].
    Since,
    /// [`RevocationFeed::subscribe`].
    Subscribe,
}

/// A capability an [`Intercepted`] store offers when its inner store does and its
/// [`Hooks::offers`] it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// [`SubjectIndex`].
    SubjectIndex,
    /// [`DpopStore`].
    Dpop,
    /// [`ReauthStore`].
    Reauth,
    /// [`KeyRingStore`].
    KeyRing,
    /// [`RevocationFeed`].
    RevocationFeed,
}

/// What an [`Intercepted`] store does around the calls it passes on. Every method has a
/// default that changes nothing.
#[async_trait::async_trait]
pub trait Hooks: fmt::Debug + Send + Sync + 'static {
    /// Runs before `call` reaches the inner store; an error fails the call, and the inner
    /// store is not asked.
    async fn before(&self, call: Call) -> Result<(), StoreError> {
        let _ = call;
        Ok(())
    }

    /// Each session the inner store hands back from `call` (a load, a rotation either way, a
    /// listing, a binding, a re-authentication), on its way out.
    async fn session(&self, call: Call, session: Session) -> Session {
        let _ = call;
        session
    }

    /// Runs after `call` changed what the inner store holds, as its answer tells: a create, a
    /// [`Rotation::Rotated`], a re-authentication, a revoke or reseal that found its session,
    /// a `revoke_subject` that revoked any, a proof remembered, a key ring swapped, a
    /// revocation published.
    fn changed(&self, call: Call) {
        let _ = call;
    }

    /// Whether to offer `capability` (when the inner store does). All of them by default.
    fn offers(&self, capability: Capability) -> bool {
        let _ = capability;
        true
    }
}

/// No hooks: a plain forwarding store.
impl Hooks for () {}

/// A store that passes every call on to `inner`, through its [`Hooks`]. It offers each
/// capability of the inner store that the hooks [offer](Hooks::offers), and routes its calls
/// through the hooks too.
///
/// It dereferences to its hooks, so that their own methods (a switch, a counter) can be
/// called on the store.
#[derive(Debug, Clone, Default)]
pub struct Intercepted<S, H = ()> {
    /// The store every call goes to, for a test to read or change behind the hooks' back.
    pub inner: S,
    /// What happens around each call.
    pub hooks: H,
}

impl<S: RefreshStore + Default, H: Hooks + Default> Intercepted<S, H> {
    /// A default `S` (an empty store) with default hooks.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S, H> std::ops::Deref for Intercepted<S, H> {
    type Target = H;

    fn deref(&self) -> &H {
        &self.hooks
    }
}

impl<S: RefreshStore, H: Hooks> Intercepted<S, H> {
    /// `inner`, with `hooks` around each of its calls.
    pub fn with_hooks(inner: S, hooks: H) -> Self {
        Self { inner, hooks }
    }

    /// The inner store's `capability`, if it has it and the hooks offer it.
    fn capability<'a, T: ?Sized>(
        &'a self,
        capability: Capability,
        get: impl FnOnce(&'a S) -> Option<&'a T>,
    ) -> Result<&'a T, StoreError> {
        self.hooks
            .offers(capability)
            .then(|| get(&self.inner))
            .flatten()
            .ok_or_else(|| StoreError::unavailable(format!("no {capability:?} to pass calls to")))
    }

    /// Whether to offer `capability`: the inner store has it (`present`) and the hooks offer
    /// it.
    fn offering(&self, capability: Capability, present: bool) -> bool {
        present && self.hooks.offers(capability)
    }

    /// `session` through [`Hooks::session`].
    async fn out(&self, call: Call, session: Session) -> Session {
        self.hooks.session(call, session).await
    }

    /// `rotation` through [`Hooks::session`] and, when rotated, [`Hooks::changed`].
    async fn rotation(&self, call: Call, rotation: Rotation) -> Rotation {
        match rotation {
            Rotation::Rotated(s) => {
                self.hooks.changed(call);
                Rotation::Rotated(self.out(call, s).await)
            }
            Rotation::Conflict(s) => Rotation::Conflict(self.out(call, s).await),
            Rotation::NotFound => Rotation::NotFound,
        }
    }

    /// `session`, if any, through [`Hooks::session`].
    async fn maybe(&self, call: Call, session: Option<Session>) -> Option<Session> {
        match session {
            Some(s) => Some(self.out(call, s).await),
            None => None,
        }
    }

    /// Reports `call` to [`Hooks::changed`] when `changed`.
    fn report(&self, call: Call, changed: bool) {
        if changed {
            self.hooks.changed(call);
        }
    }
}

#[async_trait::async_trait]
impl<S: RefreshStore, H: Hooks> RefreshStore for Intercepted<S, H> {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        self.hooks.before(Call::Create).await?;
        self.inner.create(session).await?;
        self.report(Call::Create, true);
        Ok(())
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        self.hooks.before(Call::Load).await?;
        let session = self.inner.load(id, now).await?;
        Ok(self.maybe(Call::Load, session).await)
    }

    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.hooks.before(Call::Rotate).await?;
        let rotation = self.inner.rotate(id, expected, next, now, expires_at);
        Ok(self.rotation(Call::Rotate, rotation.await?).await)
    }

    async fn rotate_unbound(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.hooks.before(Call::RotateUnbound).await?;
        let rotation = self
            .inner
            .rotate_unbound(id, expected, next, now, expires_at);
        Ok(self.rotation(Call::RotateUnbound, rotation.await?).await)
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.hooks.before(Call::Revoke).await?;
        let revoked = self.inner.revoke(id).await?;
        self.report(Call::Revoke, revoked);
        Ok(revoked)
    }

    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
        self.hooks.before(Call::Reseal).await?;
        let resealed = self.inner.reseal(id, seal).await?;
        self.report(Call::Reseal, resealed);
        Ok(resealed)
    }

    fn subject_index(&self) -> Option<&dyn SubjectIndex> {
        let present = self.inner.subject_index().is_some();
        let this: &dyn SubjectIndex = self;
        self.offering(Capability::SubjectIndex, present)
            .then_some(this)
    }

    fn dpop(&self) -> Option<&dyn DpopStore> {
        let this: &dyn DpopStore = self;
        self.offering(Capability::Dpop, self.inner.dpop().is_some())
            .then_some(this)
    }

    fn reauth(&self) -> Option<&dyn ReauthStore> {
        let this: &dyn ReauthStore = self;
        self.offering(Capability::Reauth, self.inner.reauth().is_some())
            .then_some(this)
    }

    fn key_ring(&self) -> Option<&dyn KeyRingStore> {
        let this: &dyn KeyRingStore = self;
        self.offering(Capability::KeyRing, self.inner.key_ring().is_some())
            .then_some(this)
    }

    fn revocation_feed(&self) -> Option<&dyn RevocationFeed> {
        let present = self.inner.revocation_feed().is_some();
        let this: &dyn RevocationFeed = self;
        self.offering(Capability::RevocationFeed, present)
            .then_some(this)
    }
}

#[async_trait::async_trait]
impl<S: RefreshStore, H: Hooks> SubjectIndex for Intercepted<S, H> {
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        let index = self.capability(Capability::SubjectIndex, S::subject_index)?;
        self.hooks.before(Call::RevokeSubject).await?;
        let revoked = index.revoke_subject(subject).await?;
        self.report(Call::RevokeSubject, revoked > 0);
        Ok(revoked)
    }

    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError> {
        let index = self.capability(Capability::SubjectIndex, S::subject_index)?;
        self.hooks.before(Call::List).await?;
        let mut listed = Vec::new();
        for session in index.list(subject, now).await? {
            listed.push(self.out(Call::List, session).await);
        }
        Ok(listed)
    }

    async fn list_page(
        &self,
        subject: &str,
        now: SystemTime,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Result<SessionPage, StoreError> {
        let index = self.capability(Capability::SubjectIndex, S::subject_index)?;
        self.hooks.before(Call::ListPage).await?;
        let page = index.list_page(subject, now, limit, after).await?;
        let mut sessions = Vec::with_capacity(page.sessions.len());
        for session in page.sessions {
            sessions.push(self.out(Call::ListPage, session).await);
        }
        Ok(SessionPage {
            sessions,
            next: page.next,
        })
    }
}

#[async_trait::async_trait]
impl<S: RefreshStore, H: Hooks> DpopStore for Intercepted<S, H> {
    async fn bind(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        let dpop = self.capability(Capability::Dpop, S::dpop)?;
        self.hooks.before(Call::Bind).await?;
        let bound = dpop.bind(id, jkt, seal, now).await?;
        Ok(self.maybe(Call::Bind, bound).await)
    }

    async fn remember_proof(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let dpop = self.capability(Capability::Dpop, S::dpop)?;
        self.hooks.before(Call::RememberProof).await?;
        let remembered = dpop.remember_proof(key, expires_at, now).await?;
        self.report(Call::RememberProof, remembered);
        Ok(remembered)
    }
}

#[async_trait::async_trait]
impl<S: RefreshStore, H: Hooks> ReauthStore for Intercepted<S, H> {
    async fn reauthenticate(
        &self,
        current: &Session,
        next: &Session,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        let reauth = self.capability(Capability::Reauth, S::reauth)?;
        self.hooks.before(Call::Reauthenticate).await?;
        let after = reauth.reauthenticate(current, next, now).await?;
        self.report(Call::Reauthenticate, after.is_some());
        Ok(self.maybe(Call::Reauthenticate, after).await)
    }
}

#[async_trait::async_trait]
impl<S: RefreshStore, H: Hooks> KeyRingStore for Intercepted<S, H> {
    async fn load_key_ring(&self) -> Result<Option<StoredKeyRing>, StoreError> {
        let ring = self.capability(Capability::KeyRing, S::key_ring)?;
        self.hooks.before(Call::LoadKeyRing).await?;
        ring.load_key_ring().await
    }

    async fn swap_key_ring(
        &self,
        expected: Option<u64>,
        next: &StoredKeyRing,
    ) -> Result<bool, StoreError> {
        let ring = self.capability(Capability::KeyRing, S::key_ring)?;
        self.hooks.before(Call::SwapKeyRing).await?;
        let swapped = ring.swap_key_ring(expected, next).await?;
        self.report(Call::SwapKeyRing, swapped);
        Ok(swapped)
    }
}

#[async_trait::async_trait]
impl<S: RefreshStore, H: Hooks> RevocationFeed for Intercepted<S, H> {
    async fn publish(&self, revocation: &Revocation, now: SystemTime) -> Result<u64, StoreError> {
        let feed = self.capability(Capability::RevocationFeed, S::revocation_feed)?;
        self.hooks.before(Call::Publish).await?;
        let seq = feed.publish(revocation, now).await?;
        self.report(Call::Publish, true);
        Ok(seq)
    }

    async fn since(&self, after: u64, now: SystemTime) -> Result<FeedPage, StoreError> {
        let feed = self.capability(Capability::RevocationFeed, S::revocation_feed)?;
        self.hooks.before(Call::Since).await?;
        feed.since(after, now).await
    }

    async fn subscribe(&self) -> Result<Box<dyn FeedSubscription>, StoreError> {
        let feed = self.capability(Capability::RevocationFeed, S::revocation_feed)?;
        self.hooks.before(Call::Subscribe).await?;
        feed.subscribe().await
    }
}
