//! One fixture function per store: a fresh, empty store for one named test.
//!
//! Redis fixtures read `REDIS_URL` and PostgreSQL fixtures `DATABASE_URL` (see
//! [`service_url`](crate::service_url)). Every test of every run gets its own key prefix or
//! table, named after the test and [`run_id`](crate::run_id), so tests run in parallel, two
//! runs can share a server, and the fixture's guard deletes what the test wrote.

use crate::Fixture;
use tower_refresh_auth::store::MemoryStore;

/// A fresh [`MemoryStore`]. It has no second instance: it is not shared between processes.
pub async fn memory(_test: &str) -> Fixture<MemoryStore> {
    Fixture::single(MemoryStore::new())
}

#[cfg(feature = "redis")]
pub use self::redis::{redis, redis_cluster};
#[cfg(feature = "redis-keys")]
pub use self::redis_keys::DeleteKeysOnDrop;
#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use crate::fixtures::DeleteKeysOnDrop;
    use tower_refresh_auth::store::RedisStore;

    /// Two [`RedisStore`]s with separate connection managers on `REDIS_URL`, sharing a key
    /// prefix unique to this test and run; the guard deletes its keys.
    pub async fn redis(test: &str) -> Fixture<RedisStore> {
        on(&crate::service_url("REDIS_URL"), test).await
    }

    /// The same on the Redis Cluster of `REDIS_CLUSTER_URL` (`redis+cluster://h:p,h:p…`,
    /// as `tests/redis-cluster.sh start` prints it).
    pub async fn redis_cluster(test: &str) -> Fixture<RedisStore> {
        on(&crate::service_url("REDIS_CLUSTER_URL"), test).await
    }

    async fn on(url: &str, test: &str) -> Fixture<RedisStore> {
        let url = url.to_owned();
        let prefix = format!("tra-test:{test}:{}", crate::run_id());
        let open = || async {
            RedisStore::connect(&url)
                .await
                .expect("connect to the Redis of the fixture")
                .with_key_prefix(prefix.clone())
        };
        Fixture {
            store: open().await,
            second: Some(open().await),
            guard: Some(Box::new(DeleteKeysOnDrop::new(&url, &prefix))),
        }
    }
}

#[cfg(feature = "redis-keys")]
mod redis_keys {
    /// Deletes every key under a prefix when dropped, so Redis tests leave nothing behind
    /// (subject indexes of sessions without an absolute expiry never expire).
    #[derive(Debug)]
    pub struct DeleteKeysOnDrop {
        url: String,
        pattern: String,
    }

    impl DeleteKeysOnDrop {
        /// A guard for the keys under `prefix` (which must hold no glob characters).
        pub fn new(url: &str, prefix: &str) -> Self {
            Self {
                url: url.to_owned(),
                pattern: format!("{prefix}:*"),
            }
        }
    }

    impl Drop for DeleteKeysOnDrop {
        fn drop(&mut self) {
            // A cluster's keys are on its nodes: each seed is scanned (a replica's DELs
            // fail harmlessly), one key at a time, as keys of different slots must be.
            if let Some(hosts) = self.url.strip_prefix("redis+cluster://") {
                for host in hosts.split(',') {
                    self.delete_on(&format!("redis://{host}"), true);
                }
            } else {
                self.delete_on(&self.url, false);
            }
        }
    }

    impl DeleteKeysOnDrop {
        fn delete_on(&self, url: &str, one_by_one: bool) {
            let Ok(mut conn) = ::redis::Client::open(url).and_then(|c| c.get_connection()) else {
                return;
            };
            let mut cursor = 0_u64;
            loop {
                let page: ::redis::RedisResult<(u64, Vec<Vec<u8>>)> = ::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&self.pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(&mut conn);
                let Ok((next, keys)) = page else {
                    return;
                };
                if one_by_one {
                    for key in &keys {
                        let _ = ::redis::cmd("DEL").arg(key).exec(&mut conn);
                    }
                } else if !keys.is_empty() {
                    let _ = ::redis::cmd("DEL").arg(&keys).exec(&mut conn);
                }
                if next == 0 {
                    return;
                }
                cursor = next;
            }
        }
    }
}

/// A table name for `test` in this run, within the stores' 48-character limit: `tra_`, the
/// test's name cut to 16 characters, a hash of the whole name (so names stay distinct), and
/// the [`run_id`](crate::run_id).
#[cfg(feature = "postgres")]
pub fn table_name(test: &str) -> String {
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let hash = test.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let short: String = test.chars().take(16).collect();
    let run: String = crate::run_id().chars().take(16).collect();
    format!("tra_{short}_{:08x}_{run}", hash as u32)
}

#[cfg(feature = "postgres")]
pub use self::postgres::{DropTableOnDrop, postgres};
#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use tower_refresh_auth::store::PostgresStore;

    /// Two [`PostgresStore`]s with separate pools on `DATABASE_URL`, sharing a new table
    /// named after the test and run, which the guard drops.
    pub async fn postgres(test: &str) -> Fixture<PostgresStore> {
        let url = crate::service_url("DATABASE_URL");
        let table = table_name(test);
        let open = || async {
            PostgresStore::connect(&url)
                .await
                .expect("connect to DATABASE_URL")
                .with_table_name(&table)
                .expect("a valid table name")
        };
        let store = open().await;
        let guard = DropTableOnDrop::new(&url, &table);
        store.migrate().await.expect("migrate");
        let second = open().await;
        // Migrating again, from the other instance, is harmless.
        second.migrate().await.expect("migrate twice");
        Fixture {
            store,
            second: Some(second),
            guard: Some(Box::new(guard)),
        }
    }

    /// Drops a table (and whatever else the store's migration named after it) when dropped,
    /// so PostgreSQL tests leave nothing behind. It works from inside an async test: the
    /// drop runs on a thread of its own.
    #[derive(Debug)]
    pub struct DropTableOnDrop {
        url: String,
        table: String,
    }

    impl DropTableOnDrop {
        /// A guard for `table` (a name the store accepted) on the database at `url`.
        pub fn new(url: &str, table: &str) -> Self {
            Self {
                url: url.to_owned(),
                table: table.to_owned(),
            }
        }
    }

    impl Drop for DropTableOnDrop {
        fn drop(&mut self) {
            use sqlx::Connection as _;
            let (url, table) = (self.url.clone(), self.table.clone());
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                    for name in [
                        table.clone(),
                        format!("{table}_dpop_proofs"),
                        format!("{table}_key_ring"),
                        format!("{table}_revocations"),
                        format!("{table}_revocation_seq"),
                    ] {
                        sqlx::query(&format!(r#"DROP TABLE IF EXISTS "{name}" CASCADE"#))
                            .execute(&mut conn)
                            .await
                            .ok()?;
                    }
                    Some(())
                })
            })
            .join();
            // Nothing to do about a failure here: the table stays behind, named for its run.
            drop(dropped);
        }
    }
}

#[cfg(feature = "sqlite")]
pub use self::sqlite::sqlite;
#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use tower_refresh_auth::store::SqliteStore;

    /// Two [`SqliteStore`]s with separate pools on one new database file in a temporary
    /// directory, which the fixture's guard deletes.
    pub async fn sqlite(test: &str) -> Fixture<SqliteStore> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // The file does not exist yet: `connect` must create it.
        let url = format!(
            "sqlite://{}",
            dir.path().join(format!("{test}.db")).display()
        );
        let open = || async {
            SqliteStore::connect(&url)
                .await
                .expect("open the database file")
                .with_table_name("sessions")
                .expect("a valid table name")
        };
        let store = open().await;
        store.migrate().await.expect("migrate");
        let second = open().await;
        second.migrate().await.expect("migrate twice");
        Fixture {
            store,
            second: Some(second),
            guard: Some(Box::new(dir)),
        }
    }
}
