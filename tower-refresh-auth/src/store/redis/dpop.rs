//! The [`RedisStore`]'s [`DpopStore`]: binding by one script on the session's key, and the
//! memory of spent proofs, one sorted set per DPoP key.

use std::time::SystemTime;

use super::RedisStore;
use super::decode::decode;
use crate::clock::to_millis;
use crate::session::{Session, SessionId};
use crate::store::{DpopStore, ReplayKey, StoreError};

#[async_trait::async_trait]
impl DpopStore for RedisStore {
    async fn bind(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        let mut conn = self.conn.clone();
        let mut bind = self.scripts.bind.prepare_invoke();
        bind.key(self.session_key(id))
            .arg(jkt)
            .arg(seal)
            .arg(to_millis(now));
        let reply: Vec<Vec<u8>> = self.run(bind.invoke_async(&mut conn)).await?;
        if reply.is_empty() {
            return Ok(None);
        }
        decode(*id, reply.into_iter().map(Some).collect()).map(Some)
    }

    /// One script on the key's partition (`tra:pk:{<partition>}`, one slot): every proof of
    /// one DPoP key lives in one sorted set, bounded by
    /// [`with_proofs_per_key`](Self::with_proofs_per_key).
    async fn remember_proof(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut remember = self.scripts.remember_proof.prepare_invoke();
        remember
            .key(format!("{}:pk:{{{}}}", self.prefix, key.partition_text()))
            .arg(key.to_string())
            .arg(to_millis(expires_at))
            .arg(to_millis(now))
            .arg(self.proofs_per_key);
        let outcome: i64 = self.run(remember.invoke_async(&mut conn)).await?;
        Ok(outcome == 1)
    }
}
