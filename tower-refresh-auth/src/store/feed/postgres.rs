//! The [`PostgresStore`]'s [`RevocationFeed`]: a table of recorded revocations beside a
//! one-row counter, written and announced (`pg_notify`) by one statement, received with
//! `LISTEN` ([`PgListener`]).
//!
//! The statement's `UPDATE` of the counter row holds its lock until commit, so revocations
//! commit in the order of their numbers, and PostgreSQL delivers notifications in commit
//! order: a listener that receives `n + 2` after `n` has missed `n + 1`.

use std::time::{Duration, SystemTime};

use sqlx::postgres::PgListener;

use super::{FeedPage, FeedSubscription, Recorded, Revocation, RevocationFeed};
use crate::store::sql::{millis, run};
use crate::store::{PostgresStore, StoreError};

/// How often an idle subscription asks its connection a trivial query: a connection that
/// died without a word is found within this long (and the timeout).
const PING_EVERY: Duration = Duration::from_secs(1);

/// The feed's tables, created by [`PostgresStore::migrate`].
pub(crate) fn migration(table: &str) -> String {
    format!(
        r#"
CREATE TABLE IF NOT EXISTS "{table}_revocations" (
    seq        BIGINT PRIMARY KEY,
    entry      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS "{table}_rv_exp_idx" ON "{table}_revocations" (expires_at);
CREATE TABLE IF NOT EXISTS "{table}_revocation_seq" (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq BIGINT  NOT NULL
);
INSERT INTO "{table}_revocation_seq" (one, seq) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;"#
    )
}

/// The channel revocations are announced on.
fn channel(table: &str) -> String {
    format!("{table}_revocations")
}

#[async_trait::async_trait]
impl RevocationFeed for PostgresStore {
    async fn publish(&self, revocation: &Revocation, now: SystemTime) -> Result<u64, StoreError> {
        let table = self.table_name();
        let sql = format!(
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
        );
        let row: Option<(i64, String)> = run(
            self.timeout(),
            sqlx::query_as(&sql)
                .bind(super::encode_unnumbered(revocation))
                .bind(millis(revocation.expires_at))
                .bind(millis(now))
                .bind(channel(table))
                .fetch_optional(self.pool()),
        )
        .await?;
        let Some((seq, _)) = row else {
            return Err(StoreError::Corrupt(format!(
                "the revocation feed's counter row is missing: run `migrate` (table {table:?})"
            )));
        };
        u64::try_from(seq).map_err(|_| StoreError::Corrupt("a negative sequence number".into()))
    }

    async fn since(&self, after: u64, now: SystemTime) -> Result<FeedPage, StoreError> {
        let table = self.table_name();
        // One statement: the head and the entries come from one snapshot.
        let sql = format!(
            r#"SELECT s.seq, r.entry FROM "{table}_revocation_seq" AS s
LEFT JOIN "{table}_revocations" AS r ON r.seq > $1 AND r.expires_at > $2
ORDER BY r.seq"#
        );
        let after_i64 = i64::try_from(after).unwrap_or(i64::MAX);
        let rows: Vec<(i64, Option<String>)> = run(
            self.timeout(),
            sqlx::query_as(&sql)
                .bind(after_i64)
                .bind(millis(now))
                .fetch_all(self.pool()),
        )
        .await?;
        let mut page = FeedPage::default();
        for (head, entry) in rows {
            page.head = u64::try_from(head).unwrap_or_default();
            if let Some(entry) = entry {
                page.revocations.push(Recorded::decode(&entry)?);
            }
        }
        Ok(page)
    }

    async fn subscribe(&self) -> Result<Box<dyn FeedSubscription>, StoreError> {
        let channel = channel(self.table_name());
        let timeout = self.timeout();
        let listener = run(timeout, async {
            let mut listener = PgListener::connect_with(self.pool()).await?;
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
