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

// One file per capability: the record and its compare-and-swap (`record.rs`), the
// per-subject index (`subject_index.rs`), DPoP binding and replay memory (`dpop.rs`),
// re-authentication (`reauth.rs`), the key ring (`key_ring.rs`), the revocation feed
// (`feed.rs`). What is the same on PostgreSQL is written once, in `store::sql`.
mod dpop;
mod feed;
mod key_ring;
mod reauth;
mod record;
mod subject_index;

use std::str::FromStr;

use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::StoreError;
pub use super::sql::InvalidTableName;
use super::sql::{COLUMNS, DEFAULT_TIMEOUT, METADATA_COLUMNS, Statements, live, run};

/// Sessions in an SQLite database; see the [module docs](self) for the schema, atomicity
/// and failure behaviour.
///
/// Cloning is cheap and shares the pool.
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    table: String,
    timeout: std::time::Duration,
    queries: Queries,
}

/// Whether table `?1` has the `seal` column (added after the first release).
const HAS_SEAL: &str = "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = 'seal'";

/// Whether the table has the column `?2`.
const HAS_COLUMN: &str = "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2";

/// The statements, built once per table name.
#[derive(Debug, Clone)]
struct Queries {
    /// Those that are the same on PostgreSQL.
    shared: Statements,
    migrate: String,
    add_seal: String,
    create: String,
    rotate: String,
    bind: String,
    list_dead: String,
    list: String,
    list_page: String,
    feed_publish: String,
    feed_purge: String,
    feed_since: String,
}

impl Queries {
    /// The statements for `table`, which must have passed
    /// [`validate_table_name`](super::sql::validate_table_name).
    fn new(table: &str) -> Self {
        Self {
            shared: Statements::new(table, '?'),
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
                feed = feed::migration(table),
            ) + &key_ring::migrate(table),
            add_seal: format!(r#"ALTER TABLE "{table}" ADD COLUMN seal TEXT NOT NULL DEFAULT ''"#),
            create: format!(
                r#"INSERT OR REPLACE INTO "{table}" (id, {COLUMNS})
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"#
            ),
            rotate: format!(
                r#"UPDATE "{table}" SET counter = ?5, rotated_at = ?3, expires_at = ?4
WHERE id = ?1 AND counter = ?2 AND (?6 = 0 OR jkt IS NULL) AND {}
RETURNING {COLUMNS}"#,
                live("?3")
            ),
            bind: format!(
                r#"UPDATE "{table}" SET jkt = ?2, seal = ?3 WHERE id = ?1 AND jkt IS NULL AND {}"#,
                live("?4")
            ),
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
            feed_publish: feed::publish_statement(table),
            feed_purge: feed::purge_statement(table),
            feed_since: feed::since_statement(table),
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
}

super::sql::store_settings!(SqliteStore, SqlitePool, backend = "sqlite");
