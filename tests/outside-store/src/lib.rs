//! A session store as a crate outside `tower-refresh-auth` writes one, against its public
//! API only: a map behind a mutex, with both capabilities. Its tests run the published
//! conformance suite (`tests/conformance.rs`) and put it behind a layer (`tests/layer.rs`).
//!
//! [`CoreOnly`] wraps it without its capabilities, to show what the builder says about a
//! configuration that needs one.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tower_refresh_auth::session::{Session, SessionId};
use tower_refresh_auth::store::{
    DpopStore, RefreshStore, ReplayKey, Rotation, StoreError, SubjectIndex,
};

/// Sessions and spent DPoP proofs in maps behind one mutex, never held across an await.
#[derive(Debug, Clone, Default)]
pub struct MapStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<SessionId, Session>,
    proofs: HashMap<ReplayKey, SystemTime>,
}

impl MapStore {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave a half-made record: every change is one insert.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// The live session `id` at `now`, mutably.
    fn live(&mut self, id: &SessionId, now: SystemTime) -> Option<&mut Session> {
        self.sessions.get_mut(id).filter(|s| s.is_live(now))
    }
}

// ANCHOR: core
#[async_trait::async_trait]
impl RefreshStore for MapStore {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        self.state().sessions.insert(session.id, session.clone());
        Ok(())
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        Ok(self.state().live(id, now).cloned())
    }

    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        let mut state = self.state();
        let Some(session) = state.live(id, now) else {
            return Ok(Rotation::NotFound);
        };
        if session.counter != expected || next <= expected {
            return Ok(Rotation::Conflict(session.clone()));
        }
        session.counter = next;
        session.rotated_at = now;
        session.expires_at = expires_at;
        Ok(Rotation::Rotated(session.clone()))
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.state().sessions.remove(id).is_some())
    }

    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
        Ok(match self.state().sessions.get_mut(id) {
            Some(session) => {
                seal.clone_into(&mut session.seal);
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
}
// ANCHOR_END: core

#[async_trait::async_trait]
impl SubjectIndex for MapStore {
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        let mut state = self.state();
        let before = state.sessions.len();
        state.sessions.retain(|_, s| s.subject != subject);
        Ok((before - state.sessions.len()) as u64)
    }

    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError> {
        let state = self.state();
        let sessions = state.sessions.values();
        Ok(sessions
            .filter(|s| s.subject == subject && s.is_live(now))
            .cloned()
            .collect())
    }
}

#[async_trait::async_trait]
impl DpopStore for MapStore {
    async fn bind(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        let mut state = self.state();
        let Some(session) = state.live(id, now) else {
            return Ok(None);
        };
        if session.jkt.is_none() {
            session.jkt = Some(jkt.to_owned());
            seal.clone_into(&mut session.seal);
        }
        Ok(Some(session.clone()))
    }

    async fn remember_proof(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        // Forget what has expired, so a replay is judged against live entries only.
        state.proofs.retain(|_, until| *until > now);
        match state.proofs.entry(*key) {
            Entry::Occupied(_) => Ok(false),
            Entry::Vacant(entry) => {
                entry.insert(expires_at);
                Ok(true)
            }
        }
    }
}

/// [`MapStore`] without its capabilities: the five core operations only.
#[derive(Debug, Clone, Default)]
pub struct CoreOnly(pub MapStore);

#[async_trait::async_trait]
impl RefreshStore for CoreOnly {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        self.0.create(session).await
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        self.0.load(id, now).await
    }

    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.0.rotate(id, expected, next, now, expires_at).await
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.0.revoke(id).await
    }

    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
        self.0.reseal(id, seal).await
    }
}
