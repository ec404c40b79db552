//! The [`RedisStore`]'s [`RevocationFeed`]: a counter and a sorted set under one hash tag,
//! written and published by one script, and a `SUBSCRIBE` connection of its own.
//!
//! `PUBLISH` on a Redis Cluster reaches the subscribers of every node, so the subscription
//! may be made on any node; the store subscribes on its seed nodes in turn (the next one
//! after a failure).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use redis::{Client, Script};

use super::RedisStore;
use crate::clock::to_millis;
use crate::store::feed::encode_unnumbered;
use crate::store::{FeedPage, FeedSubscription, Recorded, Revocation, RevocationFeed, StoreError};

/// How often an idle subscription pings its server: a connection that died without a word
/// is found within this long (and the timeout).
const PING_EVERY: Duration = Duration::from_secs(1);

/// The feed's scripts and where it subscribes.
pub(super) struct Feed {
    publish: Script,
    since: Script,
    /// The servers to subscribe on: the one server, or a cluster's seed nodes.
    subscribers: Vec<Client>,
    /// The subscriber the next subscription tries first.
    next: AtomicUsize,
}

impl Feed {
    pub(super) fn new(subscribers: Vec<Client>) -> Self {
        Self {
            publish: Script::new(include_str!("scripts/feed_publish.lua")),
            since: Script::new(include_str!("scripts/feed_since.lua")),
            subscribers,
            next: AtomicUsize::new(0),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("subscribers", &self.subscribers.len())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// The counter and the record: one hash tag (the prefix), so one slot on a cluster.
    fn feed_keys(&self) -> (String, String) {
        let prefix = &self.prefix;
        (
            format!("{prefix}:rf:{{{prefix}}}:seq"),
            format!("{prefix}:rf:{{{prefix}}}:log"),
        )
    }

    fn feed_channel(&self) -> String {
        format!("{}:revocations", self.prefix)
    }
}

#[async_trait::async_trait]
impl RevocationFeed for RedisStore {
    async fn publish(&self, revocation: &Revocation, now: SystemTime) -> Result<u64, StoreError> {
        let (seq, log) = self.feed_keys();
        let mut conn = self.conn.clone();
        let mut call = self.feed.publish.prepare_invoke();
        call.key(seq)
            .key(log)
            .arg(encode_unnumbered(revocation))
            .arg(to_millis(now))
            .arg(to_millis(revocation.expires_at))
            .arg(self.feed_channel());
        self.run(call.invoke_async::<u64>(&mut conn)).await
    }

    async fn since(&self, after: u64, now: SystemTime) -> Result<FeedPage, StoreError> {
        let (seq, log) = self.feed_keys();
        let mut conn = self.conn.clone();
        let mut call = self.feed.since.prepare_invoke();
        call.key(seq).key(log).arg(after);
        let (head, entries): (u64, Vec<String>) = self.run(call.invoke_async(&mut conn)).await?;
        let mut revocations = Vec::with_capacity(entries.len());
        for entry in entries {
            let recorded = Recorded::decode(&entry)?;
            if recorded.seq > after && recorded.revocation.expires_at > now {
                revocations.push(recorded);
            }
        }
        Ok(FeedPage { revocations, head })
    }

    async fn subscribe(&self) -> Result<Box<dyn FeedSubscription>, StoreError> {
        let n = self.feed.subscribers.len();
        if n == 0 {
            return Err(StoreError::unavailable(
                "the redis store has no server to subscribe on",
            ));
        }
        let start = self.feed.next.fetch_add(1, Ordering::Relaxed);
        let client = &self.feed.subscribers[start % n];
        let channel = self.feed_channel();
        let pubsub = self
            .run(async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok(pubsub)
            })
            .await?;
        let (sink, stream) = pubsub.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        Ok(Box::new(RedisSubscription {
            sink,
            stream,
            ping,
            timeout: self.timeout,
        }))
    }
}

struct RedisSubscription {
    sink: PubSubSink,
    stream: PubSubStream,
    ping: tokio::time::Interval,
    timeout: Duration,
}

#[async_trait::async_trait]
impl FeedSubscription for RedisSubscription {
    async fn next(&mut self) -> Result<Recorded, StoreError> {
        loop {
            tokio::select! {
                message = self.stream.next() => {
                    let Some(message) = message else {
                        return Err(StoreError::unavailable("the redis subscription closed"));
                    };
                    let payload: String = message.get_payload().map_err(|_| {
                        StoreError::Corrupt("a pushed revocation is not text".into())
                    })?;
                    return Recorded::decode(&payload);
                }
                _ = self.ping.tick() => {
                    // A reply proves the connection alive, and every message published before
                    // it has been delivered: Redis answers in order.
                    match tokio::time::timeout(self.timeout, self.sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(err)) => return Err(StoreError::unavailable(err)),
                        Err(_) => return Err(StoreError::Timeout(self.timeout)),
                    }
                }
            }
        }
    }
}
