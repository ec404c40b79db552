//! The [`RedisStore`]'s record: `create`, `load`, the compare-and-swap of `rotate`, `revoke`
//! and `reseal`, each one script or command on the session's key.

use std::time::SystemTime;

use super::decode::{FIELDS, decode};
use super::{PRUNE_FROM, RedisStore};
use crate::clock::to_millis;
use crate::session::{Session, SessionId};
use crate::store::{
    DpopStore, KeyRingStore, ReauthStore, RefreshStore, RevocationFeed, Rotation, StoreError,
    SubjectIndex,
};

impl RedisStore {
    /// The compare-and-swap of `rotate`, and of `rotate_unbound` when `unbound_only`.
    async fn swap(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
        unbound_only: bool,
    ) -> Result<Rotation, StoreError> {
        let mut rotate = self.scripts.rotate.prepare_invoke();
        // A counter only moves forward: a swap that would not is sent with an expected
        // counter of "", which no stored counter equals, so it reports a conflict.
        let expected = if next > expected {
            expected.to_string()
        } else {
            String::new()
        };
        rotate
            .key(self.session_key(id))
            .arg(expected)
            .arg(to_millis(now))
            .arg(to_millis(expires_at))
            .arg(next)
            .arg(if unbound_only { "1" } else { "" });
        let reply = self.invoke_write(&self.scripts.rotate, rotate).await?;
        let mut reply: Vec<Vec<u8>> =
            redis::from_redis_value(reply).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        if reply.is_empty() {
            return Ok(Rotation::NotFound);
        }
        let status = reply.remove(0);
        let session = decode(*id, reply.into_iter().map(Some).collect())?;
        match status.as_slice() {
            b"rotated" => Ok(Rotation::Rotated(session)),
            b"conflict" => Ok(Rotation::Conflict(session)),
            _ => Err(StoreError::Corrupt(format!(
                "session {id}: unexpected rotate status"
            ))),
        }
    }
}

#[async_trait::async_trait]
impl RefreshStore for RedisStore {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        let absolute = session
            .absolute_expires_at
            .map(|t| to_millis(t).to_string())
            .unwrap_or_default();
        let mut index = self.scripts.index_add.prepare_invoke();
        index
            .key(self.subject_key(&session.subject))
            .arg(session.id.to_string())
            .arg(&absolute);
        let mut write = self.scripts.create.prepare_invoke();
        write
            .key(self.session_key(&session.id))
            .arg(&session.subject)
            .arg(&session.claims)
            .arg(session.counter)
            .arg(to_millis(session.created_at))
            .arg(to_millis(session.rotated_at))
            .arg(to_millis(session.expires_at))
            .arg(&absolute)
            .arg(&session.seal)
            .arg(to_millis(session.deadline()))
            .arg(session.metadata.user_agent().unwrap_or(""))
            .arg(session.metadata.label().unwrap_or(""))
            .arg(session.jkt.as_deref().unwrap_or(""));
        // The index first: if the session write is lost, a stale id in the index is
        // harmless; a session missing from its index would survive "log out everywhere".
        let calls = [
            (&self.scripts.index_add, index),
            (&self.scripts.create, write),
        ];
        let durable = self.durability.is_some();
        let replies = self.run(self.invoke_in_turn(&calls, 1, durable)).await?;
        if let (Some(durability), Some(acked)) = (&self.durability, replies.get(2)) {
            durability.check(acked)?;
        }
        let size = match replies.first() {
            Some(reply) => redis::from_redis_value_ref::<u64>(reply)
                .map_err(|err| StoreError::Corrupt(err.to_string()))?,
            None => return Err(StoreError::Corrupt("no reply to create".into())),
        };

        if size >= PRUNE_FROM && size.is_power_of_two() {
            // Housekeeping only: the session is stored, so a failure here is not the
            // caller's failure.
            if let Err(err) = self.run(self.prune_subject(&session.subject)).await {
                tracing::warn!(error = %err, "redis store could not prune a subject's index");
            }
        }
        Ok(())
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.session_key(id)).arg(&FIELDS[..]);
        let fields: Vec<Option<Vec<u8>>> = self.run(cmd.query_async(&mut conn)).await?;
        // A missing key reads as all-nil fields.
        if fields.iter().all(Option::is_none) {
            return Ok(None);
        }
        let session = decode(*id, fields)?;
        Ok(session.is_live(now).then_some(session))
    }

    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.swap(id, expected, next, now, expires_at, false).await
    }

    /// The same script with the binding in its condition: one round trip.
    async fn rotate_unbound(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.swap(id, expected, next, now, expires_at, true).await
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.session_key(id));
        let deleted = self.query_write(&cmd).await?;
        let deleted: u64 =
            redis::from_redis_value(deleted).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        Ok(deleted > 0)
    }

    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut reseal = self.scripts.reseal.prepare_invoke();
        reseal.key(self.session_key(id)).arg(seal);
        let done: u64 = self.run(reseal.invoke_async(&mut conn)).await?;
        Ok(done > 0)
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

    fn key_ring(&self) -> Option<&dyn KeyRingStore> {
        Some(self)
    }

    fn revocation_feed(&self) -> Option<&dyn RevocationFeed> {
        (!self.feed.is_empty()).then_some(self)
    }
}
