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

// One file per capability: the record and its compare-and-swap (`record.rs`), the
// per-subject index (`subject_index.rs`), DPoP binding and replay memory (`dpop.rs`),
// re-authentication (`reauth.rs`), the key ring (`key_ring.rs`), the revocation feed
// (`feed.rs`). What is the same on SQLite is written once, in `store::sql`.
mod dpop;
mod feed;
mod key_ring;
mod reauth;
mod record;
mod subject_index;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::StoreError;
pub use super::sql::InvalidTableName;
use super::sql::{COLUMNS, DEFAULT_TIMEOUT, Statements, T_COLUMNS, live, run};

/// Sessions in a PostgreSQL table; see the [module docs](self) for the schema, round trips
/// and outage behaviour.
///
/// Cloning is cheap and shares the pool.
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    table: String,
    timeout: std::time::Duration,
    queries: Queries,
}

/// The statements, built once per table name.
#[derive(Debug, Clone)]
struct Queries {
    /// Those that are the same on SQLite.
    shared: Statements,
    migrate: String,
    create: String,
    rotate: String,
    bind: String,
    list: String,
    list_page: String,
    feed_publish: String,
    feed_since: String,
}

impl Queries {
    /// The statements for `table`, which must have passed
    /// [`validate_table_name`](super::sql::validate_table_name).
    fn new(table: &str) -> Self {
        Self {
            shared: Statements::new(table, '$'),
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
                feed = feed::migration(table),
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
            feed_publish: feed::publish_statement(table),
            feed_since: feed::since_statement(table),
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
}

super::sql::store_settings!(PostgresStore, PgPool, backend = "postgres");
