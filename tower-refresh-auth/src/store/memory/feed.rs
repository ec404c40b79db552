//! The [`MemoryStore`](crate::store::MemoryStore)'s revocation feed: a queue and a tokio
//! broadcast channel in the process.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::broadcast;

use crate::store::StoreError;
use crate::store::feed::{FeedPage, FeedSubscription, Recorded, Revocation, RevocationFeed};

/// How many pushed revocations a subscriber may fall behind before it is told it missed some.
const CHANNEL_CAPACITY: usize = 1024;

/// The recorded revocations, in sequence order, and the channel that pushes them.
#[derive(Debug)]
pub(crate) struct MemoryFeed {
    log: Mutex<Log>,
    push: broadcast::Sender<Recorded>,
}

#[derive(Debug, Default)]
struct Log {
    head: u64,
    recorded: VecDeque<Recorded>,
}

impl Default for MemoryFeed {
    fn default() -> Self {
        Self {
            log: Mutex::default(),
            push: broadcast::channel(CHANNEL_CAPACITY).0,
        }
    }
}

impl MemoryFeed {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        // The lock guards plain data and no code under it panics: a poisoned lock still holds
        // a consistent log.
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl RevocationFeed for MemoryFeed {
    async fn publish(&self, revocation: &Revocation, now: SystemTime) -> Result<u64, StoreError> {
        let mut log = self.log();
        while log
            .recorded
            .front()
            .is_some_and(|r| r.revocation.expires_at <= now)
        {
            log.recorded.pop_front();
        }
        log.head += 1;
        let recorded = Recorded {
            seq: log.head,
            revocation: revocation.clone(),
        };
        log.recorded.push_back(recorded.clone());
        // Sent under the lock, so the channel carries revocations in sequence order. No
        // subscriber is not an error: the revocation is recorded.
        let _ = self.push.send(recorded);
        Ok(log.head)
    }

    async fn since(&self, after: u64, now: SystemTime) -> Result<FeedPage, StoreError> {
        let log = self.log();
        Ok(FeedPage {
            revocations: log
                .recorded
                .iter()
                .filter(|r| r.seq > after && r.revocation.expires_at > now)
                .cloned()
                .collect(),
            head: log.head,
        })
    }

    async fn subscribe(&self) -> Result<Box<dyn FeedSubscription>, StoreError> {
        Ok(Box::new(MemorySubscription(self.push.subscribe())))
    }
}

struct MemorySubscription(broadcast::Receiver<Recorded>);

#[async_trait::async_trait]
impl FeedSubscription for MemorySubscription {
    async fn next(&mut self) -> Result<Recorded, StoreError> {
        self.0.recv().await.map_err(|err| match err {
            broadcast::error::RecvError::Lagged(n) => StoreError::unavailable(format!(
                "the revocation feed's subscriber fell {n} revocations behind"
            )),
            broadcast::error::RecvError::Closed => {
                StoreError::unavailable("the revocation feed closed")
            }
        })
    }
}
