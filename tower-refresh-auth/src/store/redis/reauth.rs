//! The [`RedisStore`]'s [`ReauthStore`]: one script on the session's key.

use std::time::SystemTime;

use super::RedisStore;
use super::decode::decode;
use crate::clock::to_millis;
use crate::session::Session;
use crate::store::{ReauthStore, StoreError};

/// One script on the session's key, written like a rotation (with the configured
/// durability).
#[async_trait::async_trait]
impl ReauthStore for RedisStore {
    async fn reauthenticate(
        &self,
        current: &Session,
        next: &Session,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        // A counter only moves forward: otherwise the expected counter is sent as "", which
        // no stored counter equals, and nothing changes.
        let expected = if next.counter > current.counter {
            current.counter.to_string()
        } else {
            String::new()
        };
        let mut swap = self.scripts.reauthenticate.prepare_invoke();
        swap.key(self.session_key(&current.id))
            .arg(expected)
            .arg(&current.seal)
            .arg(next.counter)
            .arg(to_millis(now))
            .arg(to_millis(next.expires_at))
            .arg(&next.claims)
            .arg(&next.seal)
            .arg(to_millis(next.rotated_at));
        let reply = self
            .invoke_write(&self.scripts.reauthenticate, swap)
            .await?;
        let reply: Vec<Vec<u8>> =
            redis::from_redis_value(reply).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        if reply.is_empty() {
            return Ok(None);
        }
        decode(current.id, reply.into_iter().map(Some).collect()).map(Some)
    }
}
