//! The [`SqliteStore`]'s [`RevocationFeed`]: a table numbered by `AUTOINCREMENT` (numbers
//! are never reused, and SQLite commits one writer at a time, so they commit in order), and
//! a subscription that polls it: SQLite has no way to push.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;

use super::{FeedPage, FeedSubscription, Recorded, Revocation, RevocationFeed};
use crate::store::sql::{millis, run};
use crate::store::{SqliteStore, StoreError};

/// How often a subscription reads the table.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(50);

/// The feed's table, created by [`SqliteStore::migrate`].
pub(crate) fn migration(table: &str) -> String {
    format!(
        r#"
CREATE TABLE IF NOT EXISTS "{table}_revocations" (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    entry      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "{table}_rv_exp_idx" ON "{table}_revocations" (expires_at);"#
    )
}

/// The head and the entries after `after` live at `now`, in one statement (one snapshot).
async fn read(
    pool: &SqlitePool,
    table: &str,
    timeout: Duration,
    after: u64,
    now: SystemTime,
) -> Result<FeedPage, StoreError> {
    let sql = format!(
        r#"SELECT s.seq, r.seq, r.entry
FROM (SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0) AS seq) AS s
LEFT JOIN "{table}_revocations" AS r ON r.seq > ?2 AND r.expires_at > ?3
ORDER BY r.seq"#
    );
    let rows: Vec<(i64, Option<i64>, Option<String>)> = run(
        timeout,
        sqlx::query_as(&sql)
            .bind(format!("{table}_revocations"))
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(millis(now))
            .fetch_all(pool),
    )
    .await?;
    let mut page = FeedPage::default();
    for (head, seq, entry) in rows {
        page.head = u64::try_from(head).unwrap_or_default();
        if let (Some(seq), Some(entry)) = (seq, entry) {
            page.revocations
                .push(Recorded::decode(&format!(r#"{{"seq":{seq},{entry}"#))?);
        }
    }
    Ok(page)
}

#[async_trait::async_trait]
impl RevocationFeed for SqliteStore {
    async fn publish(&self, revocation: &Revocation, now: SystemTime) -> Result<u64, StoreError> {
        let table = self.table_name();
        let insert = format!(
            r#"INSERT INTO "{table}_revocations" (entry, expires_at) VALUES (?1, ?2) RETURNING seq"#
        );
        let (seq,): (i64,) = run(
            self.timeout(),
            sqlx::query_as(&insert)
                .bind(super::encode_unnumbered(revocation))
                .bind(millis(revocation.expires_at))
                .fetch_one(self.pool()),
        )
        .await?;
        // Housekeeping: the revocation is recorded whether or not this succeeds.
        let purge = format!(r#"DELETE FROM "{table}_revocations" WHERE expires_at <= ?1"#);
        if let Err(err) = run(
            self.timeout(),
            sqlx::query(&purge).bind(millis(now)).execute(self.pool()),
        )
        .await
        {
            tracing::debug!(error = %err, "could not drop expired revocations");
        }
        u64::try_from(seq).map_err(|_| StoreError::Corrupt("a negative sequence number".into()))
    }

    async fn since(&self, after: u64, now: SystemTime) -> Result<FeedPage, StoreError> {
        read(self.pool(), self.table_name(), self.timeout(), after, now).await
    }

    async fn subscribe(&self) -> Result<Box<dyn FeedSubscription>, StoreError> {
        let head = self.since(u64::MAX, SystemTime::now()).await?.head;
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Box::new(SqliteSubscription {
            pool: self.pool().clone(),
            table: self.table_name().to_owned(),
            timeout: self.timeout(),
            cursor: head,
            ready: VecDeque::new(),
            poll,
        }))
    }
}

/// Polls the table from the head it had when subscribed.
struct SqliteSubscription {
    pool: SqlitePool,
    table: String,
    timeout: Duration,
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
            let page = read(
                &self.pool,
                &self.table,
                self.timeout,
                self.cursor,
                UNIX_EPOCH,
            )
            .await?;
            self.cursor = self.cursor.max(page.head);
            self.ready.extend(page.revocations);
        }
    }
}
