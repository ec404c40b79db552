//! What only the SQL stores do: purging dead rows (by call and by background task),
//! refusing unsafe table names, and (SQLite) creating its file in WAL mode.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1/test cargo test
//! -p tower-refresh-auth-tests --test sql_stores -- --include-ignored` (the PostgreSQL tests are
//! `#[ignore]`d without it).
#![allow(clippy::unwrap_used)]
#![cfg(any(feature = "postgres", feature = "sqlite"))]

use std::time::{Duration, SystemTime};

use tower_refresh_auth::session::SessionId;
use tower_refresh_auth::store::{RefreshStore, SubjectIndex};
use tower_refresh_auth_test_support::{create, now_ms, session};

/// What both SQL stores offer beyond [`RefreshStore`].
trait Purge: RefreshStore + SubjectIndex + Clone {
    async fn purge(&self, now: SystemTime) -> u64;
    fn spawn_purge(&self, every: Duration) -> tokio::task::JoinHandle<()>;
}

/// Whether a row for `id` is still in the table, live or not: `load` at a time every test
/// session was live.
async fn row_exists(store: &impl RefreshStore, id: &SessionId, when_live: SystemTime) -> bool {
    store.load(id, when_live).await.unwrap().is_some()
}

async fn purge_deletes_only_dead_sessions(store: impl Purge) {
    let t0 = now_ms();
    let live = session("frank", t0);
    let mut slid_out = session("frank", t0);
    slid_out.expires_at = t0 + Duration::from_secs(60);
    let mut ended = session("frank", t0);
    ended.absolute_expires_at = Some(t0 + Duration::from_secs(60));
    for s in [&live, &slid_out, &ended] {
        create(&store, s).await;
    }

    let later = t0 + Duration::from_secs(60);
    assert_eq!(store.purge(later).await, 2);
    assert!(row_exists(&store, &live.id, t0).await);
    assert!(!row_exists(&store, &slid_out.id, t0).await);
    assert!(!row_exists(&store, &ended.id, t0).await);
    assert_eq!(store.purge(later).await, 0);
}

/// A listing deletes the subject's dead rows on the way (and only those, only that subject's).
async fn list_deletes_the_subjects_dead_rows(store: impl Purge) {
    let t0 = now_ms();
    let live = session("heidi", t0);
    let mut dead = session("heidi", t0);
    dead.expires_at = t0 + Duration::from_secs(60);
    let mut someone_elses = session("ivan", t0);
    someone_elses.expires_at = t0 + Duration::from_secs(60);
    for s in [&live, &dead, &someone_elses] {
        create(&store, s).await;
    }
    let later = t0 + Duration::from_secs(60);
    assert_eq!(
        store.list("heidi", later).await.unwrap(),
        std::slice::from_ref(&live)
    );
    assert!(!row_exists(&store, &dead.id, t0).await, "deleted");
    assert!(
        row_exists(&store, &someone_elses.id, t0).await,
        "not this subject's"
    );
    assert!(row_exists(&store, &live.id, t0).await);
}

async fn purge_task_runs_by_itself(store: impl Purge) {
    // Purged by the wall clock: one session that ended an hour ago, one live for an hour.
    let t0 = now_ms();
    let an_hour = Duration::from_secs(3600);
    let mut dead = session("grace", t0 - 2 * an_hour);
    dead.expires_at = t0 - an_hour;
    let live = session("grace", t0);
    create(&store, &dead).await;
    create(&store, &live).await;

    let task = store.spawn_purge(Duration::from_millis(50));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while row_exists(&store, &dead.id, dead.created_at).await {
        assert!(tokio::time::Instant::now() < deadline, "not purged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    assert!(row_exists(&store, &live.id, t0).await);
}

#[cfg(feature = "postgres")]
mod postgres {
    use tower_refresh_auth::store::PostgresStore;
    use tower_refresh_auth_test_support::fixtures::{DropTableOnDrop, table_name};
    use tower_refresh_auth_test_support::service_url;

    use super::*;

    impl Purge for PostgresStore {
        async fn purge(&self, now: SystemTime) -> u64 {
            self.purge_expired(now).await.unwrap()
        }
        fn spawn_purge(&self, every: Duration) -> tokio::task::JoinHandle<()> {
            self.spawn_purge_task(every)
        }
    }

    /// A store on a new table named for `test` and this run, and the guard that drops it.
    async fn store(test: &str) -> (PostgresStore, DropTableOnDrop) {
        let url = service_url("DATABASE_URL");
        let table = table_name(test);
        let store = PostgresStore::connect(&url)
            .await
            .unwrap()
            .with_table_name(&table)
            .unwrap();
        let guard = DropTableOnDrop::new(&url, &table);
        store.migrate().await.unwrap();
        (store, guard)
    }

    #[tokio::test]
    #[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
    async fn purge_deletes_only_dead_sessions() {
        let (store, _table) = store("sql_purge").await;
        super::purge_deletes_only_dead_sessions(store).await;
    }

    #[tokio::test]
    #[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
    async fn purge_task_runs_by_itself() {
        let (store, _table) = store("sql_purge_task").await;
        super::purge_task_runs_by_itself(store).await;
    }

    #[tokio::test]
    #[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
    async fn list_deletes_the_subjects_dead_rows() {
        let (store, _table) = store("sql_list_prune").await;
        super::list_deletes_the_subjects_dead_rows(store).await;
    }

    /// A table made before sessions had metadata gains its columns; its rows load with none.
    #[tokio::test]
    #[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
    async fn migrate_adds_the_metadata_columns_to_an_older_table() {
        let url = service_url("DATABASE_URL");
        let table = table_name("sql_migrate_metadata");
        let _guard = DropTableOnDrop::new(&url, &table);
        let store = PostgresStore::connect(&url)
            .await
            .unwrap()
            .with_table_name(&table)
            .unwrap();
        sqlx::raw_sql(&format!(
            r#"CREATE TABLE "{table}" (
    id BYTEA PRIMARY KEY, subject TEXT NOT NULL, claims TEXT NOT NULL, counter BIGINT NOT NULL,
    created_at BIGINT NOT NULL, rotated_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
    absolute_expires_at BIGINT, seal TEXT NOT NULL DEFAULT ''
);
INSERT INTO "{table}" VALUES ('\x00000000000000000000000000000001', 'judy', '{{}}', 0,
    1000, 1000, 9000000000000, NULL, 'old-seal');"#
        ))
        .execute(store.pool())
        .await
        .unwrap();
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        let t0 = now_ms();
        let old = store.list("judy", t0).await.unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].seal, "old-seal");
        assert_eq!(old[0].metadata, Default::default());
        let mut new = session("judy", t0);
        new.metadata = tower_refresh_auth::session::SessionMetadata::new().with_label("phone");
        create(&store, &new).await;
        assert_eq!(store.load(&new.id, t0).await.unwrap(), Some(new));
    }

    #[tokio::test]
    async fn unsafe_table_names_are_refused() {
        let pool = sqlx::PgPool::connect_lazy("postgres://nobody@127.0.0.1/none").unwrap();
        let err = PostgresStore::new(pool)
            .with_table_name("sessions; DROP TABLE users")
            .unwrap_err();
        assert!(err.to_string().contains("invalid table name"), "{err}");
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use tower_refresh_auth::store::SqliteStore;

    use super::*;

    impl Purge for SqliteStore {
        async fn purge(&self, now: SystemTime) -> u64 {
            self.purge_expired(now).await.unwrap()
        }
        fn spawn_purge(&self, every: Duration) -> tokio::task::JoinHandle<()> {
            self.spawn_purge_task(every)
        }
    }

    async fn store(dir: &tempfile::TempDir) -> SqliteStore {
        let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    #[tokio::test]
    async fn purge_deletes_only_dead_sessions() {
        let dir = tempfile::tempdir().unwrap();
        super::purge_deletes_only_dead_sessions(store(&dir).await).await;
    }

    #[tokio::test]
    async fn purge_task_runs_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        super::purge_task_runs_by_itself(store(&dir).await).await;
    }

    #[tokio::test]
    async fn list_deletes_the_subjects_dead_rows() {
        let dir = tempfile::tempdir().unwrap();
        super::list_deletes_the_subjects_dead_rows(store(&dir).await).await;
    }

    /// A table made before sessions had metadata gains its columns; its rows load with none.
    #[tokio::test]
    async fn migrate_adds_the_metadata_columns_to_an_older_table() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        sqlx::raw_sql(
            r#"CREATE TABLE "refresh_sessions" (
    id BLOB PRIMARY KEY NOT NULL, subject TEXT NOT NULL, claims TEXT NOT NULL,
    counter INTEGER NOT NULL, created_at INTEGER NOT NULL, rotated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, absolute_expires_at INTEGER, seal TEXT NOT NULL DEFAULT ''
);
INSERT INTO "refresh_sessions" VALUES (x'00000000000000000000000000000001', 'judy', '{}', 0,
    1000, 1000, 9000000000000, NULL, 'old-seal');"#,
        )
        .execute(store.pool())
        .await
        .unwrap();
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        let t0 = now_ms();
        let old = store.list("judy", t0).await.unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].seal, "old-seal");
        assert_eq!(old[0].metadata, Default::default());
        let mut new = session("judy", t0);
        new.metadata = tower_refresh_auth::session::SessionMetadata::new().with_label("phone");
        create(&store, &new).await;
        assert_eq!(store.load(&new.id, t0).await.unwrap(), Some(new));
    }

    #[tokio::test]
    async fn creates_the_file_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.db");
        assert!(!path.exists());
        let store = store(&dir).await;
        assert!(path.exists());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn an_in_memory_database_is_shared_by_the_pool() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        // Hold one connection, so the store writes through another.
        let mut held = store.pool().acquire().await.unwrap();
        let s = session("hana", now_ms());
        create(&store, &s).await;
        assert!(store.pool().size() >= 2);
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_sessions")
            .fetch_one(&mut *held)
            .await
            .unwrap();
        assert_eq!(rows, 1, "the held connection sees the other one's write");
    }

    #[tokio::test]
    async fn unsafe_table_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "1st", "a.b", "x\"y", "sessions--"] {
            let err = store(&dir).await.with_table_name(bad).unwrap_err();
            assert!(
                err.to_string().contains("invalid table name"),
                "{bad:?}: {err}"
            );
        }
    }
}
