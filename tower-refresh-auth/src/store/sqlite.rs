//! [`SqliteStore`]: sessions in an SQLite database file.
//!
//! For a single server that wants sessions to survive a restart without running a database
//! server. Several processes may share the file, on one machine.
//!
//! # Configuration
//!
//! ```no_run
//! use std::time::Duration;
//! use tower_refresh_auth::store::SqliteStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::connect("sqlite://sessions.db")   // created if missing
//!     .await?
//!     .with_table_name("auth_sessions")?
//!     .with_timeout(Duration::from_secs(1));
//! store.migrate().await?; // creates the table and its indexes if missing
//! let _purge = store.spawn_purge_task(Duration::from_secs(600));
//! # Ok(()) }
//! ```
//!
//! [`connect`](SqliteStore::connect) creates the file when it is missing and opens it in WAL
//! mode (readers do not block the writer) with `synchronous = NORMAL` and a busy timeout
//! equal to the operation timeout. [`SqliteStore::new`] takes a [`SqlitePool`] you built
//! yourself instead. `sqlite::memory:` works too (sqlx shares it between the pool's
//! connections), but its sessions vanish when the pool's last connection closes: for
//! sessions that need not survive, the [`MemoryStore`](super::MemoryStore) is simpler.
//!
//! # Schema
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "refresh_sessions" (
//!     id                  BLOB    PRIMARY KEY NOT NULL,  -- the 16 bytes of the SessionId
//!     subject             TEXT    NOT NULL,
//!     claims              TEXT    NOT NULL,
//!     counter             INTEGER NOT NULL,
//!     created_at          INTEGER NOT NULL,   -- milliseconds since the Unix epoch
//!     rotated_at          INTEGER NOT NULL,
//!     expires_at          INTEGER NOT NULL,
//!     absolute_expires_at INTEGER,
//!     seal                TEXT    NOT NULL DEFAULT '', -- see Session::seal
//!     user_agent          TEXT,                       -- SessionMetadata, for listings
//!     label               TEXT,
//!     jkt                 TEXT                        -- the DPoP key's thumbprint, if bound
//! );
//! -- Spent DPoP proofs (RFC 9449 §11.1), remembered until they expire.
//! CREATE TABLE IF NOT EXISTS "refresh_sessions_dpop_proofs" (
//!     key        TEXT    PRIMARY KEY NOT NULL,  -- ReplayKey: a hash of the thumbprint and jti
//!     expires_at INTEGER NOT NULL
//! );
//! CREATE INDEX IF NOT EXISTS "refresh_sessions_subject_idx" ON "refresh_sessions" (subject);
//! CREATE INDEX IF NOT EXISTS "refresh_sessions_expires_at_idx" ON "refresh_sessions" (expires_at);
//! -- The fleet's sealed key ring (KeyRingStore): one row, swapped on its version.
//! CREATE TABLE IF NOT EXISTS "refresh_sessions_key_ring" (
//!     id      INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
//!     version INTEGER NOT NULL,
//!     data    TEXT   NOT NULL
//! );
//! -- The revocation feed (RevocationFeed): each revocation's JSON under its sequence number,
//! -- until it expires. Subscribers poll it (every 50 ms).
//! CREATE TABLE IF NOT EXISTS "refresh_sessions_revocations" (
//!     seq        INTEGER PRIMARY KEY AUTOINCREMENT,
//!     entry      TEXT    NOT NULL,
//!     expires_at INTEGER NOT NULL
//! );
//! CREATE INDEX IF NOT EXISTS "refresh_sessions_rv_exp_idx" ON "refresh_sessions_revocations" (expires_at);
//! ```
//!
//! A table made before sessions were sealed gets the column, in the same transaction, when
//! `pragma_table_info` shows it missing (SQLite has no `ADD COLUMN IF NOT EXISTS`):
//!
//! ```sql
//! ALTER TABLE "refresh_sessions" ADD COLUMN seal TEXT NOT NULL DEFAULT '';
//! ```
//!
//! Its rows then hold `''`, which never verifies: those sessions are refused and their users
//! log in again. A table made before sessions were listed gets `user_agent` and `label` the
//! same way, and one made before DPoP gets `jkt` (its rows are unbound sessions).
//!
//! # Atomicity
//!
//! Every operation is one statement, except `rotate`: SQLite's `RETURNING` cannot show the
//! row as it was before an `UPDATE`, so `rotate` is a transaction of an
//! `UPDATE … RETURNING` and, when that changed nothing, a `SELECT` of the current state.
//! The transaction is `BEGIN IMMEDIATE`: it holds the database's write lock from the start,
//! so the two statements see the same state and concurrent rotations serialise. `list` is a
//! transaction too: it deletes the subject's dead rows, then selects its live ones
//! (`list_page` only a page of them, sorted and cut by the `SELECT`). There is no network: a "round trip" is a call
//! into the library on the pool's worker thread.
//!
//! # Expiry
//!
//! Every query checks liveness against the `now` it is given; rows past their deadline are
//! ignored, and deleted by [`purge_expired`](SqliteStore::purge_expired), which
//! [`spawn_purge_task`](SqliteStore::spawn_purge_task) runs periodically.
//!
//! # Failures
//!
//! An operation that waits for a lock or a connection longer than the
//! [timeout](SqliteStore::with_timeout) (default 2 s) fails with [`StoreError::Timeout`];
//! I/O and database errors are [`StoreError::Unavailable`]. The layer answers both with
//! `503` and `Retry-After`.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tokio::task::JoinHandle;

pub use super::sql::InvalidTableName;
use super::sql::{
    COLUMNS, Columns, DEFAULT_TABLE, DEFAULT_TIMEOUT, ListRow, METADATA_COLUMNS, counter_column,
    from_list_row, millis, run, session_from_row, validate_table_name,
};
mod key_ring;

use super::{
    DpopStore, KeyRingStore, PageCursor, ReauthStore, RefreshStore, RevocationFeed, Rotation,
    SessionPage, StoreError, SubjectIndex,
};
use crate::session::{Session, SessionId};
use crate::store::ReplayKey;

/// Sessions in an SQLite database; see the [module docs](self) for the schema, atomicity
/// and failure behaviour.
///
/// Cloning is cheap and shares the pool.
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    table: String,
    timeout: Duration,
    queries: Queries,
}

/// Whether table `?1` has the `seal` column (added after the first release).
const HAS_SEAL: &str = "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = 'seal'";

/// Whether the table has the column `?2`.
const HAS_COLUMN: &str = "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2";

/// The statements, built once per table name.
#[derive(Debug, Clone)]
struct Queries {
    migrate: String,
    add_seal: String,
    create: String,
    load: String,
    rotate: String,
    reauthenticate: String,
    revoke: String,
    reseal: String,
    revoke_subject: String,
    list_dead: String,
    list: String,
    list_page: String,
    purge: String,
    bind: String,
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
    id                  BLOB    PRIMARY KEY NOT NULL,
    subject             TEXT    NOT NULL,
    claims              TEXT    NOT NULL,
    counter             INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    rotated_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    absolute_expires_at INTEGER,
    seal                TEXT    NOT NULL DEFAULT '',
    user_agent          TEXT,
    label               TEXT,
    jkt                 TEXT
);
CREATE TABLE IF NOT EXISTS "{table}_dpop_proofs" (
    key        TEXT    PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "{table}_subject_idx" ON "{table}" (subject);
CREATE INDEX IF NOT EXISTS "{table}_expires_at_idx" ON "{table}" (expires_at);{feed}"#,
                feed = super::feed::sqlite::migration(table),
            ) + &key_ring::migrate(table),
            add_seal: format!(r#"ALTER TABLE "{table}" ADD COLUMN seal TEXT NOT NULL DEFAULT ''"#),
            create: format!(
                r#"INSERT OR REPLACE INTO "{table}" (id, {COLUMNS})
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"#
            ),
            load: format!(
                r#"SELECT {COLUMNS} FROM "{table}" WHERE id = ?1 AND {}"#,
                live("?2")
            ),
            rotate: format!(
                r#"UPDATE "{table}" SET counter = ?5, rotated_at = ?3, expires_at = ?4
WHERE id = ?1 AND counter = ?2 AND (?6 = 0 OR jkt IS NULL) AND {}
RETURNING {COLUMNS}"#,
                live("?3")
            ),
            // Updated only while its counter and seal are the ones the layer read.
            reauthenticate: format!(
                r#"UPDATE "{table}" SET counter = ?4, rotated_at = ?5, expires_at = ?6,
    claims = ?7, seal = ?8
WHERE id = ?1 AND counter = ?2 AND seal = ?3 AND ?4 > ?2 AND {}
RETURNING {COLUMNS}"#,
                live("?9")
            ),
            revoke: format!(r#"DELETE FROM "{table}" WHERE id = ?1"#),
            reseal: format!(r#"UPDATE "{table}" SET seal = ?2 WHERE id = ?1"#),
            bind: format!(
                r#"UPDATE "{table}" SET jkt = ?2, seal = ?3 WHERE id = ?1 AND jkt IS NULL AND {}"#,
                live("?4")
            ),
            // Inserted, or an expired entry replaced: a row comes back. Remembered: none.
            remember_proof: format!(
                r#"INSERT INTO "{table}_dpop_proofs" AS p (key, expires_at) VALUES (?1, ?2)
ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE p.expires_at <= ?3
RETURNING 1"#
            ),
            purge_proofs: format!(r#"DELETE FROM "{table}_dpop_proofs" WHERE expires_at <= ?1"#),
            revoke_subject: format!(r#"DELETE FROM "{table}" WHERE subject = ?1"#),
            list_dead: format!(
                r#"DELETE FROM "{table}" WHERE subject = ?1 AND NOT ({})"#,
                live("?2")
            ),
            list: format!(
                r#"SELECT id, {COLUMNS} FROM "{table}" WHERE subject = ?1 AND {}"#,
                live("?2")
            ),
            // As `list`, one page of it: newest first, after the cursor (?4, ?5) if any.
            list_page: format!(
                r#"SELECT id, {COLUMNS} FROM "{table}" WHERE subject = ?1 AND {}
    AND (?4 IS NULL OR (created_at, id) < (?4, ?5))
ORDER BY created_at DESC, id DESC
LIMIT ?3"#,
                live("?2")
            ),
            purge: format!(
                r#"DELETE FROM "{table}" WHERE expires_at <= ?1 OR absolute_expires_at <= ?1"#
            ),
        }
    }
}

impl SqliteStore {
    /// Opens the database at `url` (`sqlite://path/to/file.db`), creating the file when it
    /// is missing, in WAL mode. Run [`migrate`](Self::migrate) once before use.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::unavailable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL loses no committed data on an application crash, only
            // possibly the last transactions on a power loss.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(DEFAULT_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .acquire_timeout(DEFAULT_TIMEOUT)
            .connect_with(options);
        let pool = run(DEFAULT_TIMEOUT, pool).await?;
        Ok(Self::new(pool))
    }

    /// A store on a pool you built, with the default table name and timeout.
    pub fn new(pool: SqlitePool) -> Self {
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
    /// (default 2 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &SqlitePool {
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
    /// a table made by an earlier version. Safe to run on every start, from several
    /// processes at once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        run(self.timeout, async {
            // IMMEDIATE: two processes migrating at once must not both find the column
            // missing and both add it.
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::raw_sql(&self.queries.migrate)
                .execute(&mut *tx)
                .await?;
            let (has_seal,): (i64,) = sqlx::query_as(HAS_SEAL)
                .bind(&self.table)
                .fetch_one(&mut *tx)
                .await?;
            if has_seal == 0 {
                sqlx::query(&self.queries.add_seal)
                    .execute(&mut *tx)
                    .await?;
            }
            for column in METADATA_COLUMNS {
                let (has,): (i64,) = sqlx::query_as(HAS_COLUMN)
                    .bind(&self.table)
                    .bind(column)
                    .fetch_one(&mut *tx)
                    .await?;
                if has == 0 {
                    // A validated table name and a constant column name: nothing to bind.
                    let add = format!(r#"ALTER TABLE "{}" ADD COLUMN {column} TEXT"#, self.table);
                    sqlx::query(&add).execute(&mut *tx).await?;
                }
            }
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
        let now = millis(now);
        let (rotated, row) = run(self.timeout, async {
            // IMMEDIATE takes the write lock up front, so the fallback SELECT sees exactly
            // what the UPDATE left and concurrent rotations queue on the busy timeout.
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let updated = sqlx::query_as::<_, Columns>(&self.queries.rotate)
                .bind(&id.as_bytes()[..])
                .bind(expected)
                .bind(now)
                .bind(millis(expires_at))
                .bind(next)
                .bind(unbound_only)
                .fetch_optional(&mut *tx)
                .await?;
            let found = match updated {
                Some(row) => (true, Some(row)),
                None => {
                    let current = sqlx::query_as::<_, Columns>(&self.queries.load)
                        .bind(&id.as_bytes()[..])
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                    (false, current)
                }
            };
            tx.commit().await?;
            Ok(found)
        })
        .await?;
        Ok(match (rotated, row) {
            (_, None) => Rotation::NotFound,
            (true, Some(row)) => Rotation::Rotated(session_from_row(*id, row)?),
            (false, Some(row)) => Rotation::Conflict(session_from_row(*id, row)?),
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
        super::sql::spawn_purge_task("sqlite", interval, move |now| {
            let store = store.clone();
            async move { store.purge_expired(now).await }
        })
    }
}

#[async_trait::async_trait]
impl RefreshStore for SqliteStore {
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

/// One statement: SQLite runs it under the database's write lock.
#[async_trait::async_trait]
impl ReauthStore for SqliteStore {
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
impl SubjectIndex for SqliteStore {
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        let query = sqlx::query(&self.queries.revoke_subject).bind(subject);
        let done = run(self.timeout, query.execute(&self.pool)).await?;
        Ok(done.rows_affected())
    }

    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError> {
        let now = millis(now);
        let rows = run(self.timeout, async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(&self.queries.list_dead)
                .bind(subject)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let rows = sqlx::query_as::<_, ListRow>(&self.queries.list)
                .bind(subject)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(rows)
        })
        .await?;
        rows.into_iter().map(from_list_row).collect()
    }

    /// A transaction as for `list`, whose `SELECT` sorts and stops after the page
    /// (`ORDER BY created_at DESC, id DESC LIMIT`, after the cursor).
    async fn list_page(
        &self,
        subject: &str,
        now: SystemTime,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Result<SessionPage, StoreError> {
        let limit = limit.max(1);
        let now = millis(now);
        let rows = run(self.timeout, async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(&self.queries.list_dead)
                .bind(subject)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let rows = sqlx::query_as::<_, ListRow>(&self.queries.list_page)
                .bind(subject)
                .bind(now)
                .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
                .bind(after.map(|c| i64::try_from(c.created_at_ms()).unwrap_or(i64::MAX)))
                .bind(after.map(|c| c.id().as_bytes().to_vec()))
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(rows)
        })
        .await?;
        let sessions = rows
            .into_iter()
            .map(from_list_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SessionPage::from_ordered(sessions, limit))
    }
}

#[async_trait::async_trait]
impl DpopStore for SqliteStore {
    async fn bind(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        let at = millis(now);
        let row = run(self.timeout, async {
            // IMMEDIATE: the UPDATE and the SELECT see one state of the row.
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(&self.queries.bind)
                .bind(&id.as_bytes()[..])
                .bind(jkt)
                .bind(seal)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query_as::<_, Columns>(&self.queries.load)
                .bind(&id.as_bytes()[..])
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(row)
        })
        .await?;
        row.map(|row| session_from_row(*id, row)).transpose()
    }

    async fn remember_proof(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let now = millis(now);
        let query = sqlx::query(&self.queries.remember_proof)
            .bind(key.to_string())
            .bind(millis(expires_at))
            .bind(now);
        let row = run(self.timeout, query.fetch_optional(&self.pool)).await?;
        // Lazy purge: one proof in 256 (by its hash) sweeps the expired ones.
        if key.as_bytes()[0] == 0 {
            let purge = sqlx::query(&self.queries.purge_proofs).bind(now);
            if let Err(err) = run(self.timeout, purge.execute(&self.pool)).await {
                tracing::warn!(error = %err, "could not purge expired DPoP proofs");
            }
        }
        Ok(row.is_some())
    }
}
