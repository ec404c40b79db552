//! The [`MemoryStore`]'s [`ReauthStore`]: the check and the swap under one shard lock.

use std::time::SystemTime;

use super::MemoryStore;
use crate::session::Session;
use crate::store::{ReauthStore, StoreError};

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
