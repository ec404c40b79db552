//! [`PostgresStore`]: sessions in a PostgreSQL table, one statement per operation.
//!
//! # Configuration
//!
//! ```no_run
//! use std::time::Duration;
//! use tower_refresh_auth::store::PostgresStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::connect("postgres://app@localhost/app")
//!     .await?
//!     .with_table_name("auth_sessions")?
//!     .with_timeout(Duration::from_secs(1));
//! store.migrate().await?; // creates the table and its indexes if missing
//! let _purge = store.spawn_purge_task(Duration::from_secs(600));
//! # Ok(()) }
//! ```
//!
//! [`PostgresStore::new`] takes a [`PgPool`] you built yourself instead. Build it with
//! `test_before_acquire(false)` to keep every operation at one round trip: sqlx already
//! checks each connection when it goes back to the pool.
//!
//! # Schema
//!
//! [`migrate`](PostgresStore::migrate) creates, under a transaction-scoped advisory lock so
//! that several instances may start at once:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "refresh_sessions" (
//!     id                  BYTEA  PRIMARY KEY,  -- the 16 bytes of the SessionId
//!     subject             TEXT   NOT NULL,
//!     claims              TEXT   NOT NULL,
//!     counter             BIGINT NOT NULL,
//!     created_at          BIGINT NOT NULL,     -- milliseconds since the Unix epoch
//!     rotated_at          BIGINT NOT NULL,
//!     expires_at          BIGINT NOT NULL,
//!     absolute_expires_at BIGINT,
//!     seal                TEXT   NOT NULL DEFAULT '', -- see Session::seal
//!     user_agent          TEXT,                      -- SessionMetadata, for listings
//!     label               TEXT,
//!     jkt                 TEXT                       -- the DPoP key's thumbprint, if bound
//! );
//! -- A table made before sessions were sealed gets the column; its rows hold '', which
//! -- never verifies, so those sessions are refused and their users log in again.
//! ALTER TABLE "refresh_sessions" ADD COLUMN IF NOT EXISTS seal TEXT NOT NULL DEFAULT '';
//! -- A table made before sessions were listed gets the metadata columns.
//! ALTER TABLE "refresh_sessions" ADD COLUMN IF NOT EXISTS user_agent TEXT;
//! ALTER TABLE "refresh_sessions" ADD COLUMN IF NOT EXISTS label TEXT;
//! -- A table made before DPoP gets the binding column; its rows are unbound sessions.
//! ALTER TABLE "refresh_sessions" ADD COLUMN IF NOT EXISTS jkt TEXT;
//! -- Spent DPoP proofs (RFC 9449 §11.1), remembered until they expire.
//! CREATE TABLE IF NOT EXISTS "refresh_sessions_dpop_proofs" (
//!     key        TEXT   PRIMARY KEY,  -- ReplayKey: a hash of the thumbprint and the jti
//!     expires_at BIGINT NOT NULL
//! );
//! CREATE INDEX IF NOT EXISTS "refresh_sessions_subject_idx" ON "refresh_sessions" (subject);
//! CREATE INDEX IF NOT EXISTS "refresh_sessions_expires_at_idx" ON "refresh_sessions" (expires_at);
//! -- The fleet's sealed key ring (KeyRingStore): one row, swapped on its version.
//! CREATE TABLE IF NOT EXISTS "refresh_sessions_key_ring" (
//!     id      BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
//!     version BIGINT NOT NULL,
//!     data    TEXT   NOT NULL
//! );
//! -- The revocation feed (RevocationFeed): each revocation's JSON under its sequence number,
//! -- until it expires; announced with NOTIFY on the channel "refresh_sessions_revocations".
//! CREATE TABLE IF NOT EXISTS "refresh_sessions_revocations" (
//!     seq        BIGINT PRIMARY KEY,
//!     entry      TEXT   NOT NULL,
//!     expires_at BIGINT NOT NULL
//! );
//! CREATE INDEX IF NOT EXISTS "refresh_sessions_rv_exp_idx"
//!     ON "refresh_sessions_revocations" (expires_at);
//! -- The latest sequence number: one row, locked by each publish until it commits.
//! CREATE TABLE IF NOT EXISTS "refresh_sessions_revocation_seq" (
//!     one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
//!     seq BIGINT  NOT NULL
//! );
//! INSERT INTO "refresh_sessions_revocation_seq" (one, seq) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
//! ```
//!
//! # Round trips
//!
//! Every operation is one statement, sent as one round trip on a connection that has
//! prepared it before (sqlx prepares a statement once per connection, in one more round
//! trip, and caches it). `rotate` is a single `WITH … FOR UPDATE … UPDATE … RETURNING`
//! statement: it locks the row, swaps the counter if it matches, and returns either the new
//! state or the current one, so two instances racing on one session get exactly one
//! `Rotated`, and the loser sees the winner's counter. `list` is one statement too: it deletes
//! the subject's dead rows and selects its live ones (through the subject index); so is
//! `list_page`, which sorts them and stops after the page (`ORDER BY created_at DESC, id DESC
//! LIMIT`, after the cursor). (sqlx also checks each connection
//! with a `Sync` as it goes back to the pool, after the caller has its answer.)
//!
//! # Expiry
//!
//! Every query checks liveness against the `now` it is given; rows past their deadline are
//! ignored, and deleted by [`purge_expired`](PostgresStore::purge_expired), which
//! [`spawn_purge_task`](PostgresStore::spawn_purge_task) runs periodically.
//!
//! # Outages
//!
//! Each operation gives up after the [timeout](PostgresStore::with_timeout) (default 2 s)
//! with [`StoreError::Timeout`]; a refused or broken connection is
//! [`StoreError::Unavailable`]. The layer answers both with `503` and `Retry-After`. The
//! pool drops broken connections and opens new ones when the server is back; nothing needs
//! rebuilding. A statement cut off by the timeout may still have run: a refresh retried
//! after that finds the counter moved and, inside the grace window, gets the same
//! successor.

use std::time::{Duration, SystemTime};

use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::task::JoinHandle;

pub use super::sql::InvalidTableName;
use super::sql::{
    COLUMNS, Columns, DEFAULT_TABLE, DEFAULT_TIMEOUT, ListRow, T_COLUMNS, counter_column,
    from_list_row, millis, run, session_from_row, validate_table_name,
};
mod key_ring;

use super::{
    DpopStore, KeyRingStore, PageCursor, ReauthStore, RefreshStore, RevocationFeed, Rotation,
    SessionPage, StoreError, SubjectIndex,
};
use crate::session::{Session, SessionId};
use crate::store::ReplayKey;

/// Sessions in a PostgreSQL table; see the [module docs](self) for the schema, round trips
/// and outage behaviour.
///
/// Cloning is cheap and shares the pool.
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    table: String,
    timeout: Duration,
    queries: Queries,
}

/// The statements, built once per table name.
#[derive(Debug, Clone)]
struct Queries {
    migrate: String,
    create: String,
    load: String,
    rotate: String,
    revoke: String,
    reseal: String,
    revoke_subject: String,
    list: String,
    list_page: String,
    purge: String,
    bind: String,
    reauthenticate: String,
    remember_proof: String,
    purge_proofs: String,
}

impl Queries {
    /// The statements for `table`, which must have passed [`validate_table_name`].
    fn new(table: &str) -> Self {
        let live = |now: &str| {
            format!(
                "{now} < expires_at AND (absolute_expires_at IS NULL OR {now} < absolute_expires_at)"
            )
        };
        Self {
            migrate: format!(
                r#"CREATE TABLE IF NOT EXISTS "{table}" (
    id                  BYTEA  PRIMARY KEY,
    subject             TEXT   NOT NULL,
    claims              TEXT   NOT NULL,
    counter             BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    rotated_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    absolute_expires_at BIGINT,
    seal                TEXT   NOT NULL DEFAULT '',
    user_agent          TEXT,
    label               TEXT,
    jkt                 TEXT
);
ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS seal TEXT NOT NULL DEFAULT '';
ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS user_agent TEXT;
ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS label TEXT;
ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS jkt TEXT;
CREATE TABLE IF NOT EXISTS "{table}_dpop_proofs" (
    key        TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS "{table}_subject_idx" ON "{table}" (subject);
CREATE INDEX IF NOT EXISTS "{table}_expires_at_idx" ON "{table}" (expires_at);{feed}"#,
                feed = super::feed::postgres::migration(table),
            ) + &key_ring::migrate(table),
            create: format!(
                r#"INSERT INTO "{table}" (id, {COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO UPDATE SET subject = EXCLUDED.subject, claims = EXCLUDED.claims,
    counter = EXCLUDED.counter, created_at = EXCLUDED.created_at,
    rotated_at = EXCLUDED.rotated_at, expires_at = EXCLUDED.expires_at,
    absolute_expires_at = EXCLUDED.absolute_expires_at, seal = EXCLUDED.seal,
    user_agent = EXCLUDED.user_agent, label = EXCLUDED.label, jkt = EXCLUDED.jkt"#
            ),
            load: format!(
                r#"SELECT {COLUMNS} FROM "{table}" WHERE id = $1 AND {}"#,
                live("$2")
            ),
            // `cur` locks the live row; under READ COMMITTED a locking read waits for a
            // concurrent rotation to commit and then sees its result, so the UPDATE compares
            // against the newest counter and a loser reports the winner's state.
            rotate: format!(
                r#"WITH cur AS (
    SELECT id, {COLUMNS} FROM "{table}" WHERE id = $1 AND {live} FOR UPDATE
), upd AS (
    UPDATE "{table}" AS t SET counter = $5, rotated_at = $3, expires_at = $4
    FROM cur WHERE t.id = cur.id AND cur.counter = $2 AND (NOT $6::BOOLEAN OR cur.jkt IS NULL)
    RETURNING {T_COLUMNS}
)
SELECT TRUE, {COLUMNS} FROM upd
UNION ALL
SELECT FALSE, {COLUMNS} FROM cur WHERE NOT EXISTS (SELECT 1 FROM upd)"#,
                live = live("$3")
            ),
            revoke: format!(r#"DELETE FROM "{table}" WHERE id = $1"#),
            reseal: format!(r#"UPDATE "{table}" SET seal = $2 WHERE id = $1"#),
            // The row is locked by the UPDATE, or (already bound) read as it is.
            bind: format!(
                r#"WITH upd AS (
    UPDATE "{table}" SET jkt = $2, seal = $3 WHERE id = $1 AND jkt IS NULL AND {live}
    RETURNING {COLUMNS}
)
SELECT {COLUMNS} FROM upd
UNION ALL
SELECT {COLUMNS} FROM "{table}" WHERE id = $1 AND {live} AND NOT EXISTS (SELECT 1 FROM upd)"#,
                live = live("$4")
            ),
            // One statement: the row is updated only while its counter and seal are the
            // ones the layer read, so a concurrent rotation, bind or reseal wins instead.
            reauthenticate: format!(
                r#"UPDATE "{table}" SET counter = $4, rotated_at = $5, expires_at = $6,
    claims = $7, seal = $8
WHERE id = $1 AND counter = $2 AND seal = $3 AND $4 > $2 AND {live}
RETURNING {COLUMNS}"#,
                live = live("$9")
            ),
            // Inserted, or an expired entry replaced: a row comes back. Remembered: none.
            remember_proof: format!(
                r#"INSERT INTO "{table}_dpop_proofs" AS p (key, expires_at) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE p.expires_at <= $3
RETURNING 1"#
            ),
            purge_proofs: format!(r#"DELETE FROM "{table}_dpop_proofs" WHERE expires_at <= $1"#),
            revoke_subject: format!(r#"DELETE FROM "{table}" WHERE subject = $1"#),
            // The DELETE and the SELECT see the same snapshot; the SELECT's own liveness
            // test keeps out what the DELETE removes.
            list: format!(
                r#"WITH dead AS (
    DELETE FROM "{table}" WHERE subject = $1 AND NOT ({live})
)
SELECT id, {COLUMNS} FROM "{table}" WHERE subject = $1 AND {live}"#,
                live = live("$2")
            ),
            // As `list`, one page of it: newest first, after the cursor ($4, $5) if any.
            list_page: format!(
                r#"WITH dead AS (
    DELETE FROM "{table}" WHERE subject = $1 AND NOT ({live})
)
SELECT id, {COLUMNS} FROM "{table}" WHERE subject = $1 AND {live}
    AND ($4::BIGINT IS NULL OR (created_at, id) < ($4::BIGINT, $5::BYTEA))
ORDER BY created_at DESC, id DESC
LIMIT $3"#,
                live = live("$2")
            ),
            purge: format!(
                r#"DELETE FROM "{table}" WHERE expires_at <= $1 OR absolute_expires_at <= $1"#
            ),
        }
    }
}

impl PostgresStore {
    /// Connects a pool to the database at `url` (`postgres://user[:password]@host[:port]/db`).
    ///
    /// One connection is opened before this returns, so a wrong address fails here, at
    /// start. Run [`migrate`](Self::migrate) once before use.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .acquire_timeout(DEFAULT_TIMEOUT)
            // sqlx pings every connection as it returns to the pool; a second ping before
            // each use would double the round trips.
            .test_before_acquire(false)
            .connect(url);
        let pool = run(DEFAULT_TIMEOUT, pool).await?;
        Ok(Self::new(pool))
    }

    /// A store on a pool you built, with the default table name and timeout.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            table: DEFAULT_TABLE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            queries: Queries::new(DEFAULT_TABLE),
        }
    }

    /// Sets the table (default `refresh_sessions`).
    ///
    /// The name is spliced into SQL, so it must be a plain identifier: 1 to 48 ASCII
    /// letters, digits and underscores, not starting with a digit. Anything else is refused.
    pub fn with_table_name(mut self, table: impl Into<String>) -> Result<Self, InvalidTableName> {
        let table = table.into();
        validate_table_name(&table)?;
        self.queries = Queries::new(&table);
        self.table = table;
        Ok(self)
    }

    /// Sets how long one operation may take before it fails with [`StoreError::Timeout`]
    /// (default 2 s). This bounds the wait the store adds to a request while the database
    /// is unreachable.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The sessions' table name.
    pub(crate) fn table_name(&self) -> &str {
        &self.table
    }

    /// How long one operation may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Creates the table and its indexes if they do not exist, and adds the `seal` column to
    /// a table made by an earlier version. Safe to run from several instances at once, and
    /// on every start.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        run(self.timeout, async {
            let mut tx = self.pool.begin().await?;
            // Serialises concurrent migrations: CREATE … IF NOT EXISTS alone can still race
            // on the catalog. The key is this store's table name.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("tower-refresh-auth:{}", self.table))
                .execute(&mut *tx)
                .await?;
            sqlx::raw_sql(&self.queries.migrate)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
        .await
    }

    /// The compare-and-swap of `rotate`, and of `rotate_unbound` when `unbound_only`.
    async fn swap(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
        unbound_only: bool,
    ) -> Result<Rotation, StoreError> {
        // A counter past i64::MAX cannot be stored, and a counter only moves forward: such a
        // swap matches nothing, as an expected counter of -1 never does.
        let (expected, next) = match (i64::try_from(expected), i64::try_from(next)) {
            (Ok(expected), Ok(next)) if next > expected => (expected, next),
            _ => (-1, 0),
        };
        type Row = (
            bool,
            String,
            String,
            i64,
            i64,
            i64,
            i64,
            Option<i64>,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let query = sqlx::query_as::<_, Row>(&self.queries.rotate)
            .bind(&id.as_bytes()[..])
            .bind(expected)
            .bind(millis(now))
            .bind(millis(expires_at))
            .bind(next)
            .bind(unbound_only);
        let row = run(self.timeout, query.fetch_optional(&self.pool)).await?;
        let Some((
            rotated,
            subject,
            claims,
            counter,
            created,
            rotated_at,
            expires,
            absolute,
            seal,
            ua,
            label,
            jkt,
        )) = row
        else {
            return Ok(Rotation::NotFound);
        };
        let columns = (
            subject, claims, counter, created, rotated_at, expires, absolute, seal, ua, label, jkt,
        );
        let session = session_from_row(*id, columns)?;
        Ok(if rotated {
            Rotation::Rotated(session)
        } else {
            Rotation::Conflict(session)
        })
    }

    /// Deletes every session that is not live at `now`, and every spent DPoP proof past
    /// its expiry. Returns how many sessions.
    pub async fn purge_expired(&self, now: SystemTime) -> Result<u64, StoreError> {
        let query = sqlx::query(&self.queries.purge).bind(millis(now));
        let done = run(self.timeout, query.execute(&self.pool)).await?;
        let proofs = sqlx::query(&self.queries.purge_proofs).bind(millis(now));
        run(self.timeout, proofs.execute(&self.pool)).await?;
        Ok(done.rows_affected())
    }

    /// Runs [`purge_expired`](Self::purge_expired) with the system clock every `interval`,
    /// starting now, until the returned task is aborted. A failed purge is logged and
    /// retried at the next tick.
    ///
    /// Must be called within a Tokio runtime.
    pub fn spawn_purge_task(&self, interval: Duration) -> JoinHandle<()> {
        let store = self.clone();
        super::sql::spawn_purge_task("postgres", interval, move |now| {
            let store = store.clone();
            async move { store.purge_expired(now).await }
        })
    }
}

#[async_trait::async_trait]
impl RefreshStore for PostgresStore {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        let query = sqlx::query(&self.queries.create)
            .bind(&session.id.as_bytes()[..])
            .bind(&session.subject)
            .bind(&session.claims)
            .bind(counter_column(session.counter)?)
            .bind(millis(session.created_at))
            .bind(millis(session.rotated_at))
            .bind(millis(session.expires_at))
            .bind(session.absolute_expires_at.map(millis))
            .bind(&session.seal)
            .bind(session.metadata.user_agent())
            .bind(session.metadata.label())
            .bind(session.jkt.as_deref());
        run(self.timeout, query.execute(&self.pool)).await?;
        Ok(())
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        let query = sqlx::query_as::<_, Columns>(&self.queries.load)
            .bind(&id.as_bytes()[..])
            .bind(millis(now));
        run(self.timeout, query.fetch_optional(&self.pool))
            .await?
            .map(|row| session_from_row(*id, row))
            .transpose()
    }

    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.swap(id, expected, next, now, expires_at, false).await
    }

    /// The same statement with the binding in its condition: one round trip.
    async fn rotate_unbound(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.swap(id, expected, next, now, expires_at, true).await
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        let query = sqlx::query(&self.queries.revoke).bind(&id.as_bytes()[..]);
        let done = run(self.timeout, query.execute(&self.pool)).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
        let query = sqlx::query(&self.queries.reseal)
            .bind(&id.as_bytes()[..])
            .bind(seal);
        let done = run(self.timeout, query.execute(&self.pool)).await?;
        Ok(done.rows_affected() > 0)
    }

    fn subject_index(&self) -> Option<&dyn SubjectIndex> {
        Some(self)
    }

    fn dpop(&self) -> Option<&dyn DpopStore> {
        Some(self)
    }

    fn reauth(&self) -> Option<&dyn ReauthStore> {
        Some(self)
    }

    fn key_ring(&self) -> Option<&dyn KeyRingStore> {
        Some(self)
    }

    fn revocation_feed(&self) -> Option<&dyn RevocationFeed> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl ReauthStore for PostgresStore {
    async fn reauthenticate(
        &self,
        current: &Session,
        next: &Session,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        let query = sqlx::query_as::<_, Columns>(&self.queries.reauthenticate)
            .bind(&current.id.as_bytes()[..])
            .bind(counter_column(current.counter)?)
            .bind(&current.seal)
            .bind(counter_column(next.counter)?)
            .bind(millis(next.rotated_at))
            .bind(millis(next.expires_at))
            .bind(&next.claims)
            .bind(&next.seal)
            .bind(millis(now));
        run(self.timeout, query.fetch_optional(&self.pool))
            .await?
            .map(|row| session_from_row(current.id, row))
            .transpose()
    }
}

#[async_trait::async_trait]
impl SubjectIndex for PostgresStore {
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        let query = sqlx::query(&self.queries.revoke_subject).bind(subject);
        let done = run(self.timeout, query.execute(&self.pool)).await?;
        Ok(done.rows_affected())
    }

    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError> {
        let query = sqlx::query_as::<_, ListRow>(&self.queries.list)
            .bind(subject)
            .bind(millis(now));
        let rows = run(self.timeout, query.fetch_all(&self.pool)).await?;
        rows.into_iter().map(from_list_row).collect()
    }

    /// One statement: `ORDER BY created_at DESC, id DESC LIMIT limit + 1` on the subject
    /// index, after the cursor.
    async fn list_page(
        &self,
        subject: &str,
        now: SystemTime,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Result<SessionPage, StoreError> {
        let limit = limit.max(1);
        let query = sqlx::query_as::<_, ListRow>(&self.queries.list_page)
            .bind(subject)
            .bind(millis(now))
            .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
            .bind(after.map(|c| i64::try_from(c.created_at_ms()).unwrap_or(i64::MAX)))
            .bind(after.map(|c| c.id().as_bytes().to_vec()));
        let rows = run(self.timeout, query.fetch_all(&self.pool)).await?;
        let sessions = rows
            .into_iter()
            .map(from_list_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SessionPage::from_ordered(sessions, limit))
    }
}

#[async_trait::async_trait]
impl DpopStore for PostgresStore {
    async fn bind(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        let query = sqlx::query_as::<_, Columns>(&self.queries.bind)
            .bind(&id.as_bytes()[..])
            .bind(jkt)
            .bind(seal)
            .bind(millis(now));
        run(self.timeout, query.fetch_optional(&self.pool))
            .await?
            .map(|row| session_from_row(*id, row))
            .transpose()
    }

    async fn remember_proof(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(&self.queries.remember_proof)
            .bind(key.to_string())
            .bind(millis(expires_at))
            .bind(millis(now));
        let row = run(self.timeout, query.fetch_optional(&self.pool)).await?;
        // Lazy purge: one proof in 256 (by its hash) sweeps the expired ones.
        if key.as_bytes()[0] == 0 {
            let purge = sqlx::query(&self.queries.purge_proofs).bind(millis(now));
            if let Err(err) = run(self.timeout, purge.execute(&self.pool)).await {
                tracing::warn!(error = %err, "could not purge expired DPoP proofs");
            }
        }
        Ok(row.is_some())
    }
}
