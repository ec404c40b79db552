//! [`KeyRingStore`] on SQLite: the ring is the one row of `<table>_key_ring`, created by
//! [`migrate`](SqliteStore::migrate); a swap is one conditional statement on it, so of N
//! concurrent swaps with the same expected version exactly one changes a row.

use sqlx::Row as _;

use super::SqliteStore;
use crate::store::sql::run;
use crate::store::{KeyRingStore, StoreError, StoredKeyRing};

impl SqliteStore {
    /// The key ring's table.
    fn ring_table(&self) -> String {
        format!("{}_key_ring", self.table)
    }
}

/// The migration of the key ring's table, appended to the store's own.
pub(super) fn migrate(table: &str) -> String {
    format!(
        r#"
CREATE TABLE IF NOT EXISTS "{table}_key_ring" (
    id      INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version INTEGER NOT NULL,
    data    TEXT   NOT NULL
);"#
    )
}

fn version(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("a key ring version past i64".into()))
}

#[async_trait::async_trait]
impl KeyRingStore for SqliteStore {
    async fn load_key_ring(&self) -> Result<Option<StoredKeyRing>, StoreError> {
        let sql = format!(
            r#"SELECT version, data FROM "{}" WHERE id = 1"#,
            self.ring_table()
        );
        let row = run(self.timeout, sqlx::query(&sql).fetch_optional(&self.pool)).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let version: i64 = row
            .try_get(0)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let data: String = row
            .try_get(1)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let version = u64::try_from(version)
            .map_err(|_| StoreError::Corrupt("a negative key ring version".into()))?;
        Ok(Some(StoredKeyRing { version, data }))
    }

    async fn swap_key_ring(
        &self,
        expected: Option<u64>,
        next: &StoredKeyRing,
    ) -> Result<bool, StoreError> {
        let table = self.ring_table();
        let done = match expected {
            None => {
                let sql = format!(
                    r#"INSERT INTO "{table}" (id, version, data) VALUES (1, ?1, ?2)
ON CONFLICT (id) DO NOTHING"#
                );
                let query = sqlx::query(&sql)
                    .bind(version(next.version)?)
                    .bind(&next.data);
                run(self.timeout, query.execute(&self.pool)).await?
            }
            Some(expected) => {
                let sql = format!(
                    r#"UPDATE "{table}" SET version = ?2, data = ?3 WHERE id = 1 AND version = ?1"#
                );
                let query = sqlx::query(&sql)
                    .bind(version(expected)?)
                    .bind(version(next.version)?)
                    .bind(&next.data);
                run(self.timeout, query.execute(&self.pool)).await?
            }
        };
        Ok(done.rows_affected() == 1)
    }
}
