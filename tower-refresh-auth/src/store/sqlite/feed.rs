//! The [`SqliteStore`]'s [`RevocationFeed`](crate::store::RevocationFeed): a table numbered by
//! `AUTOINCREMENT` (numbers are never reused, and SQLite commits one writer at a time, so
//! they commit in order), and a subscription that polls it: SQLite has no way to push.
//! Reading the table back is as on PostgreSQL (`store::sql::revocation_feed`).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::SqliteStore;
use crate::store::feed::encode_unnumbered;
use crate::store::sql::{millis, revocations_table, run};
use crate::store::{FeedSubscription, Recorded, Revocation, RevocationFeed, StoreError};

/// How often a subscription reads the table.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// The feed's table, created by [`SqliteStore::migrate`].
pub(super) fn migration(table: &str) -> String {
    revocations_table(table, "INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER")
}

/// Records a revocation; SQLite numbers it.
pub(super) fn publish_statement(table: &str) -> String {
    format!(
        r#"INSERT INTO "{table}_revocations" (entry, expires_at) VALUES (?1, ?2) RETURNING seq"#
    )
}

/// Drops the revocations expired at `?1`.
pub(super) fn purge_statement(table: &str) -> String {
    format!(r#"DELETE FROM "{table}_revocations" WHERE expires_at <= ?1"#)
}

/// The feed read in one snapshot: the head from `sqlite_sequence` (the last number
/// `AUTOINCREMENT` gave, `0` before the first); each entry is stored without its number,
/// which is put back in front.
pub(super) fn since_statement(table: &str) -> String {
    // A validated table name: safe inside a string literal.
    let head = format!(
        r#"(SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}_revocations'), 0) AS seq)"#
    );
    let entry = r#"'{"seq":' || r.seq || ',' || r.entry"#;
    crate::store::sql::since_statement(table, &head, entry, '?')
}

impl SqliteStore {
    /// Records `revocation`, then drops the expired ones; its sequence number.
    async fn publish_numbered(
        &self,
        revocation: &Revocation,
        now: SystemTime,
    ) -> Result<i64, StoreError> {
        let (seq,): (i64,) = run(
            self.timeout,
            sqlx::query_as(&self.queries.feed_publish)
                .bind(encode_unnumbered(revocation))
                .bind(millis(revocation.expires_at))
                .fetch_one(&self.pool),
        )
        .await?;
        // Housekeeping: the revocation is recorded whether or not this succeeds.
        let purge = sqlx::query(&self.queries.feed_purge).bind(millis(now));
        if let Err(err) = run(self.timeout, purge.execute(&self.pool)).await {
            tracing::debug!(error = %err, "could not drop expired revocations");
        }
        Ok(seq)
    }

    /// A subscription that polls the table from its head now.
    async fn subscribe_feed(&self) -> Result<Box<dyn FeedSubscription>, StoreError> {
        let head = self.since(u64::MAX, SystemTime::now()).await?.head;
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Box::new(SqliteSubscription {
            store: self.clone(),
            cursor: head,
            ready: VecDeque::new(),
            poll,
        }))
    }
}

crate::store::sql::revocation_feed!(SqliteStore);

/// Polls the table from the head it had when subscribed.
struct SqliteSubscription {
    store: SqliteStore,
    cursor: u64,
    ready: VecDeque<Recorded>,
    poll: tokio::time::Interval,
}

#[async_trait::async_trait]
impl FeedSubscription for SqliteSubscription {
    async fn next(&mut self) -> Result<Recorded, StoreError> {
        loop {
            if let Some(recorded) = self.ready.pop_front() {
                return Ok(recorded);
            }
            self.poll.tick().await;
            // Expired entries too: a number left out would look like a gap.
            let page = self.store.since(self.cursor, UNIX_EPOCH).await?;
            self.cursor = self.cursor.max(page.head);
            self.ready.extend(page.revocations);
        }
    }
}
