//! [`KeyRingStore`] on Redis: the ring is one hash, `<prefix>:ring` (`v` its version, `d`
//! the sealed data), swapped by one script. One key is one slot, so it runs on a Redis
//! Cluster as on one server.

use std::sync::LazyLock;

use redis::Script;

use super::RedisStore;
use crate::store::{KeyRingStore, StoreError, StoredKeyRing};

/// The compare-and-swap: stores ARGV[2] (version) and ARGV[3] (data) when the stored
/// version is ARGV[1] ("" for none stored); returns 1 when it did, 0 otherwise.
static SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local stored = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if stored then return 0 end
elseif stored ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
return 1
",
    )
});

impl RedisStore {
    fn ring_key(&self) -> String {
        format!("{}:ring", self.prefix)
    }
}

#[async_trait::async_trait]
impl KeyRingStore for RedisStore {
    async fn load_key_ring(&self) -> Result<Option<StoredKeyRing>, StoreError> {
        let mut conn = self.conn.clone();
        let mut get = redis::cmd("HMGET");
        get.arg(self.ring_key()).arg("v").arg("d");
        let (version, data): (Option<String>, Option<String>) =
            self.run(get.query_async(&mut conn)).await?;
        match (version, data) {
            (None, None) => Ok(None),
            (Some(version), Some(data)) => {
                let version = version.parse().map_err(|_| {
                    StoreError::Corrupt("a key ring version that is not a number".into())
                })?;
                Ok(Some(StoredKeyRing { version, data }))
            }
            _ => Err(StoreError::Corrupt(
                "a key ring record missing a field".into(),
            )),
        }
    }

    async fn swap_key_ring(
        &self,
        expected: Option<u64>,
        next: &StoredKeyRing,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut swap = SWAP.prepare_invoke();
        swap.key(self.ring_key())
            .arg(expected.map_or_else(String::new, |v| v.to_string()))
            .arg(next.version.to_string())
            .arg(&next.data);
        let swapped: i64 = self.run(swap.invoke_async(&mut conn)).await?;
        Ok(swapped == 1)
    }
}
