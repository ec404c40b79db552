//! The one failure-injecting store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use tower_refresh_auth::dpop::ReplayKey;
use tower_refresh_auth::session::{Session, SessionId};
use tower_refresh_auth::store::{
    DpopStore, MemoryStore, PageCursor, ReauthStore, RefreshStore, Rotation, SessionPage,
    StoreError, SubjectIndex,
};

/// A [`MemoryStore`] that can be taken down and that counts what it is asked.
///
/// While down (see [`set_down`](Self::set_down)) every call fails with
/// [`StoreError::Unavailable`] and changes nothing, as when the backend is unreachable. It
/// counts every call (to show what is refused before any round trip), the rotations it
/// carried out (one per successful refresh) and the sessions it revoked (one per logout that
/// ended a live session). Clones share the sessions, the switch and the counters.
#[derive(Debug, Clone, Default)]
pub struct TestStore {
    /// The sessions, for a test to read or change behind the layer's back.
    pub inner: MemoryStore,
    down: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    rotations: Arc<AtomicU64>,
    revocations: Arc<AtomicU64>,
}

impl TestStore {
    /// An empty store, up.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the store down (every call fails) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Calls of any kind since the store was made or [`reset_calls`](Self::reset_calls).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Starts counting calls from zero again.
    pub fn reset_calls(&self) {
        self.calls.store(0, Ordering::SeqCst);
    }

    /// Rotations carried out (the compare-and-swap won).
    pub fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::SeqCst)
    }

    /// Sessions revoked one by one (a logout or a detected reuse that ended a live session).
    pub fn revocations(&self) -> u64 {
        self.revocations.load(Ordering::SeqCst)
    }

    fn enter(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("simulated outage"))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl RefreshStore for TestStore {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        self.enter()?;
        self.inner.create(session).await
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        self.enter()?;
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
        self.enter()?;
        let rotation = self
            .inner
            .rotate(id, expected, next, now, expires_at)
            .await?;
        if matches!(rotation, Rotation::Rotated(_)) {
            self.rotations.fetch_add(1, Ordering::SeqCst);
        }
        Ok(rotation)
    }

    async fn rotate_unbound(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.enter()?;
        let rotation = self
            .inner
            .rotate_unbound(id, expected, next, now, expires_at)
            .await?;
        if matches!(rotation, Rotation::Rotated(_)) {
            self.rotations.fetch_add(1, Ordering::SeqCst);
        }
        Ok(rotation)
    }

    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
        self.enter()?;
        self.inner.reseal(id, seal).await
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.enter()?;
        let revoked = self.inner.revoke(id).await?;
        if revoked {
            self.revocations.fetch_add(1, Ordering::SeqCst);
        }
        Ok(revoked)
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
}

#[async_trait::async_trait]
impl ReauthStore for TestStore {
    async fn reauthenticate(
        &self,
        current: &Session,
        next: &Session,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        self.enter()?;
        let after = self.inner.reauthenticate(current, next, now).await?;
        if after.is_some() {
            self.rotations.fetch_add(1, Ordering::SeqCst);
        }
        Ok(after)
    }
}

#[async_trait::async_trait]
impl SubjectIndex for TestStore {
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        self.enter()?;
        self.inner.revoke_subject(subject).await
    }

    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError> {
        self.enter()?;
        self.inner.list(subject, now).await
    }

    async fn list_page(
        &self,
        subject: &str,
        now: SystemTime,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Result<SessionPage, StoreError> {
        self.enter()?;
        self.inner.list_page(subject, now, limit, after).await
    }
}

#[async_trait::async_trait]
impl DpopStore for TestStore {
    async fn bind(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        self.enter()?;
        self.inner.bind(id, jkt, seal, now).await
    }

    async fn remember_proof(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        self.enter()?;
        self.inner.remember_proof(key, expires_at, now).await
    }
}
