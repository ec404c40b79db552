//! What the [`RevocationFeed`](crate::store::RevocationFeed)s of both SQL stores share: the
//! table of recorded revocations, reading it back ([`since`](crate::store::RevocationFeed::since)),
//! and the trait's implementation ([`revocation_feed!`]). How a revocation is numbered and
//! pushed is each backend's own (`publish_numbered` and `subscribe_feed` in its `feed.rs`):
//! PostgreSQL numbers from a counter row and announces with `NOTIFY` (received with
//! `LISTEN`); SQLite numbers with `AUTOINCREMENT` and cannot push, so a subscription polls.

use super::StoreError;
use crate::store::feed::{FeedPage, Recorded};

/// A row of [`since_statement`]: the feed's head, then a recorded revocation's JSON (with its
/// sequence number), or `NULL` when none is after the cursor.
pub(crate) type FeedRow = (i64, Option<String>);

/// The table of recorded revocations and its index on expiry, for a store's migration:
/// `seq` declared as `seq` (the dialect's integer key), `int` the dialect's integer type.
pub(crate) fn revocations_table(table: &str, seq: &str, int: &str) -> String {
    format!(
        r#"
CREATE TABLE IF NOT EXISTS "{table}_revocations" (
    seq        {seq},
    entry      TEXT    NOT NULL,
    expires_at {int} NOT NULL
);
CREATE INDEX IF NOT EXISTS "{table}_rv_exp_idx" ON "{table}_revocations" (expires_at);"#
    )
}

/// The statement that reads the feed in one snapshot: the head from `head` (a row source
/// with a column `seq`), joined with the revocations after `{p}1` that are live at `{p}2`,
/// in order; `entry` is the recorded revocation's JSON as an expression over `r`.
pub(crate) fn since_statement(table: &str, head: &str, entry: &str, p: char) -> String {
    format!(
        r#"SELECT s.seq, {entry} FROM {head} AS s
LEFT JOIN "{table}_revocations" AS r ON r.seq > {p}1 AND r.expires_at > {p}2
ORDER BY r.seq"#
    )
}

/// The page the rows of [`since_statement`] describe.
pub(crate) fn feed_page(rows: Vec<FeedRow>) -> Result<FeedPage, StoreError> {
    let mut page = FeedPage::default();
    for (head, entry) in rows {
        page.head = u64::try_from(head).unwrap_or_default();
        if let Some(entry) = entry {
            page.revocations.push(Recorded::decode(&entry)?);
        }
    }
    Ok(page)
}

/// A sequence number as the table holds it, refused when negative.
pub(crate) fn sequence_number(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::Corrupt("a negative sequence number".into()))
}

/// [`RevocationFeed`](crate::store::RevocationFeed) on an SQL store: `publish` is the
/// backend's `self.publish_numbered(revocation, now)` (the new sequence number), `since` runs
/// the store's `queries.feed_since` (a [`since_statement`]) with the cursor and `now`, and
/// `subscribe` is the backend's `self.subscribe_feed()`.
macro_rules! revocation_feed {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::RevocationFeed for $store {
            async fn publish(
                &self,
                revocation: &$crate::store::Revocation,
                now: std::time::SystemTime,
            ) -> Result<u64, $crate::store::StoreError> {
                let seq = self.publish_numbered(revocation, now).await?;
                $crate::store::sql::sequence_number(seq)
            }

            async fn since(
                &self,
                after: u64,
                now: std::time::SystemTime,
            ) -> Result<$crate::store::FeedPage, $crate::store::StoreError> {
                use $crate::store::sql::{FeedRow, feed_page, millis, run};
                let query = sqlx::query_as::<_, FeedRow>(&self.queries.feed_since)
                    .bind(i64::try_from(after).unwrap_or(i64::MAX))
                    .bind(millis(now));
                feed_page(run(self.timeout, query.fetch_all(&self.pool)).await?)
            }

            async fn subscribe(
                &self,
            ) -> Result<Box<dyn $crate::store::FeedSubscription>, $crate::store::StoreError> {
                self.subscribe_feed().await
            }
        }
    };
}
pub(crate) use revocation_feed;
