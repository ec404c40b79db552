//! [`RingSwitch`]: a store whose key-ring operations can be taken down, for the fleet-key
//! tests (`docs/protocol.md` §13).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use tower_refresh_auth::session::{Session, SessionId};
use tower_refresh_auth::store::{
    DpopStore, KeyRingStore, ReauthStore, RefreshStore, Rotation, StoreError, StoredKeyRing,
    SubjectIndex,
};

/// A store whose key-ring operations can be taken down; everything else passes through.
#[derive(Debug, Clone)]
pub struct RingSwitch<S> {
    /// The store every call goes to.
    pub inner: S,
    /// While `true`, the key-ring operations fail with [`StoreError::Unavailable`].
    pub down: Arc<AtomicBool>,
}

impl<S: RefreshStore> RingSwitch<S> {
    /// The inner store's key ring.
    fn ring(&self) -> Result<&dyn KeyRingStore, StoreError> {
        self.inner
            .key_ring()
            .ok_or_else(|| StoreError::unavailable("the inner store keeps no key ring"))
    }

    /// `Err` while down.
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("the key ring's store is down"))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl<S: RefreshStore> RefreshStore for RingSwitch<S> {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        self.inner.create(session).await
    }
    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        self.inner.load(id, now).await
    }
    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.inner.rotate(id, expected, next, now, expires_at).await
    }
    async fn rotate_unbound(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.inner
            .rotate_unbound(id, expected, next, now, expires_at)
            .await
    }
    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.inner.revoke(id).await
    }
    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
        self.inner.reseal(id, seal).await
    }
    fn subject_index(&self) -> Option<&dyn SubjectIndex> {
        self.inner.subject_index()
    }
    fn dpop(&self) -> Option<&dyn DpopStore> {
        self.inner.dpop()
    }
    fn reauth(&self) -> Option<&dyn ReauthStore> {
        self.inner.reauth()
    }
    fn key_ring(&self) -> Option<&dyn KeyRingStore> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl<S: RefreshStore> KeyRingStore for RingSwitch<S> {
    async fn load_key_ring(&self) -> Result<Option<StoredKeyRing>, StoreError> {
        self.check()?;
        self.ring()?.load_key_ring().await
    }
    async fn swap_key_ring(
        &self,
        expected: Option<u64>,
        next: &StoredKeyRing,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.ring()?.swap_key_ring(expected, next).await
    }
}
