//! The task that follows a store's [`RevocationFeed`] into an instance's [`RevokedSet`].
//!
//! It subscribes first, then reads what was recorded since its cursor (so nothing published
//! in between is missed), marks the set certain, and applies every push. Whenever it may have
//! missed one — the subscription ended or failed, a sequence number skipped, the store's
//! sequence went back (a store that lost its data), a periodic catch-up read failed — it
//! marks the set uncertain first (requests then ask the store), and starts over.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::local::RevokedSet;
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::store::{FeedPage, Recorded, RefreshStore, StoreError};
use crate::telemetry::{self, FeedReceipt};

/// How often the follower reads the record even though pushes arrive: a push lost without
/// its connection failing is found within this long.
pub(crate) const CATCH_UP_EVERY: Duration = Duration::from_secs(1);

/// The wait before subscribing again after a failure: doubled up to the maximum.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How many pushed revocations wait between the subscription and the set.
const QUEUE: usize = 1024;

/// A running follower; dropping it stops the task.
#[derive(Debug)]
pub(crate) struct Follower {
    pub(crate) set: Arc<RevokedSet>,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

/// What the follower reports: its cursor, and how often it fell back and caught up.
#[derive(Debug, Default)]
struct Counts {
    cursor: AtomicU64,
    gaps: AtomicU64,
    resyncs: AtomicU64,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Follower {
    /// Starts following `store`'s feed on the current tokio runtime.
    pub(crate) fn spawn(
        store: Arc<dyn RefreshStore>,
        clock: Arc<dyn Clock>,
        skew_ms: u64,
    ) -> Result<Self, ConfigError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ConfigError::FeedNeedsRuntime)?;
        let set = Arc::new(RevokedSet::new(skew_ms));
        let counts = Arc::new(Counts::default());
        let task = runtime.spawn(follow(store, clock, Arc::clone(&set), Arc::clone(&counts)));
        Ok(Self { set, counts, task })
    }

    /// The sequence number up to which the set is known to hold every revocation.
    pub(crate) fn cursor(&self) -> u64 {
        self.counts.cursor.load(Ordering::Relaxed)
    }

    /// How many times the follower fell back to the store, and caught up.
    pub(crate) fn gaps_and_resyncs(&self) -> (u64, u64) {
        (
            self.counts.gaps.load(Ordering::Relaxed),
            self.counts.resyncs.load(Ordering::Relaxed),
        )
    }
}

async fn follow(
    store: Arc<dyn RefreshStore>,
    clock: Arc<dyn Clock>,
    set: Arc<RevokedSet>,
    counts: Arc<Counts>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let mut run = Run {
            store: &*store,
            clock: &*clock,
            set: &set,
            cursor: counts.cursor.load(Ordering::Relaxed),
            counts: &counts,
            resynced: false,
        };
        let err = run.follow().await;
        // Requests ask the store from here until the next resync.
        set.distrust();
        if run.resynced {
            backoff = BACKOFF_MIN;
            counts.gaps.fetch_add(1, Ordering::Relaxed);
            telemetry::feed_gap();
            tracing::warn!(
                error = %err,
                "the revocation feed may have missed revocations; checking sessions in the store until it has caught up"
            );
        } else {
            tracing::debug!(error = %err, retry_in = ?backoff, "could not follow the revocation feed");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One subscription's life.
struct Run<'a> {
    store: &'a dyn RefreshStore,
    clock: &'a dyn Clock,
    set: &'a RevokedSet,
    cursor: u64,
    /// Where [`Follower`] reads the cursor and counts resyncs.
    counts: &'a Counts,
    resynced: bool,
}

impl Run<'_> {
    /// Follows until it may have missed a revocation; returns why.
    async fn follow(&mut self) -> StoreError {
        let Some(feed) = self.store.revocation_feed() else {
            return StoreError::unavailable("the store no longer offers a revocation feed");
        };
        let mut subscription = match feed.subscribe().await {
            Ok(subscription) => subscription,
            Err(err) => return err,
        };
        // The subscription is driven by a task of its own, never cancelled mid-message.
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let forward = AbortOnDrop(tokio::spawn(async move {
            loop {
                let item = subscription.next().await;
                let ended = item.is_err();
                if tx.send(item).await.is_err() || ended {
                    return;
                }
            }
        }));
        match feed.since(self.cursor, self.clock.now()).await {
            Ok(page) => self.caught_up(page, Some(true)),
            Err(err) => return err,
        }
        self.resynced = true;
        self.counts.resyncs.fetch_add(1, Ordering::Relaxed);
        telemetry::feed_resynced();
        tracing::debug!(cursor = self.cursor, "revocation feed followed");
        let mut catch_up = tokio::time::interval(CATCH_UP_EVERY);
        catch_up.tick().await;
        loop {
            tokio::select! {
                item = rx.recv() => {
                    if let Err(err) = self.received(item, &mut rx) {
                        drop(forward);
                        return err;
                    }
                }
                _ = catch_up.tick() => {
                    match feed.since(self.cursor, self.clock.now()).await {
                        Ok(page) if page.head < self.cursor => {
                            return StoreError::Corrupt(
                                "the revocation feed's sequence went back".into(),
                            );
                        }
                        Ok(page) => self.caught_up(page, None),
                        Err(err) => return err,
                    }
                }
            }
        }
    }

    /// Applies what a read of the record found, and moves the cursor to its head.
    fn caught_up(&mut self, page: FeedPage, certain: Option<bool>) {
        if !page.revocations.is_empty() {
            telemetry::feed_received(FeedReceipt::Read, page.revocations.len());
        }
        self.set
            .apply_recorded(&page.revocations, self.clock.now(), certain);
        // A head behind the cursor is a store that lost its record: everything it holds
        // was just read, so following goes on from its head.
        self.cursor = page.head;
        self.counts.cursor.store(self.cursor, Ordering::Relaxed);
    }

    /// Applies `item` and every push already waiting, at once; an error once one may have
    /// been missed.
    fn received(
        &mut self,
        item: Option<Result<Recorded, StoreError>>,
        rx: &mut mpsc::Receiver<Result<Recorded, StoreError>>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut batch = Vec::new();
        let mut gap = None;
        let mut next = Some(item);
        while let Some(item) = next.take() {
            match item {
                Some(Ok(recorded)) => {
                    if recorded.seq > self.cursor.saturating_add(1) {
                        gap = Some(StoreError::unavailable(format!(
                            "the revocation feed skipped from {} to {}",
                            self.cursor, recorded.seq
                        )));
                    }
                    self.cursor = self.cursor.max(recorded.seq);
                    telemetry::feed_lag(
                        now.duration_since(recorded.revocation.at)
                            .unwrap_or_default(),
                    );
                    batch.push(recorded);
                }
                Some(Err(err)) => gap = Some(err),
                None => {
                    gap = Some(StoreError::unavailable(
                        "the revocation feed's subscription ended",
                    ));
                }
            }
            if gap.is_none() {
                next = rx.try_recv().ok().map(Some);
            }
        }
        if !batch.is_empty() {
            telemetry::feed_received(FeedReceipt::Push, batch.len());
        }
        // Whatever arrived is applied, also when a gap follows.
        self.set.apply_recorded(&batch, now, None);
        self.counts.cursor.store(self.cursor, Ordering::Relaxed);
        gap.map_or(Ok(()), Err)
    }
}

/// Aborts the subscription's task when the run ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
