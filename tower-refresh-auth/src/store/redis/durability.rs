//! Durable writes, opt-in ([`RedisStore::with_durability`](super::RedisStore::with_durability)):
//! a write is acknowledged only once `WAIT` reports that enough replicas have it.

use std::time::Duration;

use redis::{Pipeline, Value};

use crate::store::StoreError;

/// How many replicas must have a write, and how long to wait for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Durability {
    pub(super) replicas: u32,
    pub(super) timeout: Duration,
}

/// Too few replicas acknowledged a write within the timeout: the write is on the primary,
/// but a failover now could lose it. Reported as
/// [`StoreError::Unavailable`](crate::store::StoreError::Unavailable).
#[derive(Debug, thiserror::Error)]
#[error("write acknowledged by {acked} of {wanted} replicas within {timeout:?}")]
pub(super) struct NotReplicated {
    acked: u64,
    wanted: u32,
    timeout: Duration,
}

impl Durability {
    /// Adds `WAIT replicas timeout` to `pipe`.
    pub(super) fn add_wait(&self, pipe: &mut Pipeline) {
        let millis = u64::try_from(self.timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        pipe.cmd("WAIT").arg(self.replicas).arg(millis);
    }

    /// The reply of `WAIT`: enough replicas, or [`NotReplicated`].
    pub(super) fn check(&self, reply: &Value) -> Result<(), StoreError> {
        let acked = match reply {
            Value::ServerError(err) => return Err(StoreError::unavailable(err.to_string())),
            reply => redis::from_redis_value_ref::<u64>(reply)
                .map_err(|err| StoreError::Corrupt(err.to_string()))?,
        };
        if acked >= u64::from(self.replicas) {
            return Ok(());
        }
        Err(StoreError::unavailable(NotReplicated {
            acked,
            wanted: self.replicas,
            timeout: self.timeout,
        }))
    }
}
