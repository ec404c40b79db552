//! The [`PostgresStore`]'s [`RevocationFeed`](crate::store::RevocationFeed): a table of
//! recorded revocations beside a one-row counter, written and announced (`pg_notify`) by one
//! statement, received with `LISTEN` ([`PgListener`]). Reading the table back is as on SQLite
//! (`store::sql::revocation_feed`).
//!
//! The statement's `UPDATE` of the counter row holds its lock until commit, so revocations
//! commit in the order of their numbers, and PostgreSQL delivers notifications in commit
//! order: a listener that receives `n + 2` after `n` has missed `n + 1`.

use std::time::{Duration, SystemTime};

use sqlx::postgres::PgListener;

use super::PostgresStore;
use crate::store::feed::encode_unnumbered;
use crate::store::sql::{millis, revocations_table, run};
use crate::store::{FeedSubscription, Recorded, Revocation, StoreError};

/// How often an idle subscription asks its connection a trivial query: a connection that
/// died without a word is found within this long (and the timeout).
const PING_EVERY: Duration = Duration::from_secs(1);

/// The feed's tables, created by [`PostgresStore::migrate`].
pub(super) fn migration(table: &str) -> String {
    revocations_table(table, "BIGINT PRIMARY KEY", "BIGINT")
        + &format!(
            r#"
CREATE TABLE IF NOT EXISTS "{table}_revocation_seq" (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq BIGINT  NOT NULL
);
INSERT INTO "{table}_revocation_seq" (one, seq) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;"#
        )
}

/// Numbers, records and announces a revocation in one statement: the counter row moved on,
/// the entry inserted with its number, the expired ones deleted, `pg_notify` sent.
pub(super) fn publish_statement(table: &str) -> String {
    format!(
        r#"WITH s AS (
    UPDATE "{table}_revocation_seq" SET seq = seq + 1 RETURNING seq
), i AS (
    INSERT INTO "{table}_revocations" (seq, entry, expires_at)
    SELECT s.seq, '{{"seq":' || s.seq || ',' || $1, $2 FROM s
    RETURNING seq, entry
), d AS (
    DELETE FROM "{table}_revocations" WHERE expires_at <= $3
)
SELECT i.seq, pg_notify($4, i.entry)::TEXT FROM i"#
    )
}

/// The feed read in one snapshot: the head from the counter row; each entry is stored
/// whole, its number included.
pub(super) fn since_statement(table: &str) -> String {
    let head = format!(r#""{table}_revocation_seq""#);
    crate::store::sql::since_statement(table, &head, "r.entry", '$')
}

/// The channel revocations are announced on.
fn channel(table: &str) -> String {
    format!("{table}_revocations")
}

impl PostgresStore {
    /// Records and announces `revocation`; its sequence number.
    async fn publish_numbered(
        &self,
        revocation: &Revocation,
        now: SystemTime,
    ) -> Result<i64, StoreError> {
        let row: Option<(i64, String)> = run(
            self.timeout,
            sqlx::query_as(&self.queries.feed_publish)
                .bind(encode_unnumbered(revocation))
                .bind(millis(revocation.expires_at))
                .bind(millis(now))
                .bind(channel(&self.table))
                .fetch_optional(&self.pool),
        )
        .await?;
        match row {
            Some((seq, _)) => Ok(seq),
            None => Err(StoreError::Corrupt(format!(
                "the revocation feed's counter row is missing: run `migrate` (table {:?})",
                self.table
            ))),
        }
    }

    /// A `LISTEN` on the feed's channel, on a connection of its own.
    async fn subscribe_feed(&self) -> Result<Box<dyn FeedSubscription>, StoreError> {
        let channel = channel(&self.table);
        let timeout = self.timeout;
        let listener = run(timeout, async {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(&channel).await?;
            Ok(listener)
        })
        .await?;
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        Ok(Box::new(PgSubscription {
            listener,
            // Named, so an operator can tell the feed's connections in `pg_stat_activity`.
            ping_sql: format!("SELECT 1 /* revocation feed: {channel} */"),
            ping,
            timeout,
        }))
    }
}

crate::store::sql::revocation_feed!(PostgresStore);

struct PgSubscription {
    listener: PgListener,
    ping_sql: String,
    ping: tokio::time::Interval,
    timeout: Duration,
}

#[async_trait::async_trait]
impl FeedSubscription for PgSubscription {
    async fn next(&mut self) -> Result<Recorded, StoreError> {
        loop {
            tokio::select! {
                received = self.listener.try_recv() => {
                    return match received {
                        Ok(Some(notification)) => Recorded::decode(notification.payload()),
                        // The listener reconnects by itself, but what was announced in the
                        // meantime is lost: the follower reads it back.
                        Ok(None) => Err(StoreError::unavailable("the LISTEN connection was lost")),
                        Err(err) => Err(StoreError::unavailable(err)),
                    };
                }
                _ = self.ping.tick() => {
                    // Notifications that arrive meanwhile are buffered by the listener.
                    let ping = sqlx::query(&self.ping_sql).execute(&mut self.listener);
                    run(self.timeout, ping).await?;
                }
            }
        }
    }
}
