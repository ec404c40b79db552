//! The [`KeyRingStore`](crate::store::KeyRingStore) of both SQL stores, as one macro.

/// [`KeyRingStore`](crate::store::KeyRingStore) on an SQL store, the same for PostgreSQL and
/// SQLite but for the integer column type and the placeholder sign (`$` or `?`): the ring is
/// the one row of `<table>_key_ring`, created by the store's `migrate`; a swap is one
/// conditional statement on it, so of N concurrent swaps with the same expected version
/// exactly one changes a row. Expands to the backend's `migrate(table)` and the trait's
/// implementation.
macro_rules! key_ring_store {
    ($store:ty, int = $int:literal, p = $p:literal) => {
        /// The migration of the key ring's table, appended to the store's own.
        pub(super) fn migrate(table: &str) -> String {
            format!(
                r#"
CREATE TABLE IF NOT EXISTS "{table}_key_ring" (
    id      {int} PRIMARY KEY NOT NULL CHECK (id = 1),
    version {int} NOT NULL,
    data    TEXT   NOT NULL
);"#,
                int = $int,
            )
        }

        fn version(v: u64) -> Result<i64, $crate::store::StoreError> {
            i64::try_from(v).map_err(|_| {
                $crate::store::StoreError::Corrupt("a key ring version past i64".into())
            })
        }

        #[async_trait::async_trait]
        impl $crate::store::KeyRingStore for $store {
            async fn load_key_ring(
                &self,
            ) -> Result<Option<$crate::store::StoredKeyRing>, $crate::store::StoreError> {
                use $crate::store::StoreError;
                use sqlx::Row as _;
                let sql = format!(
                    r#"SELECT version, data FROM "{}_key_ring" WHERE id = 1"#,
                    self.table
                );
                let query = sqlx::query(&sql).fetch_optional(&self.pool);
                let Some(row) = $crate::store::sql::run(self.timeout, query).await? else {
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
                Ok(Some($crate::store::StoredKeyRing { version, data }))
            }

            async fn swap_key_ring(
                &self,
                expected: Option<u64>,
                next: &$crate::store::StoredKeyRing,
            ) -> Result<bool, $crate::store::StoreError> {
                let table = format!("{}_key_ring", self.table);
                let done = match expected {
                    None => {
                        let sql = format!(
                            r#"INSERT INTO "{table}" (id, version, data) VALUES (1, {p}1, {p}2)
ON CONFLICT (id) DO NOTHING"#,
                            p = $p,
                        );
                        let query = sqlx::query(&sql)
                            .bind(version(next.version)?)
                            .bind(&next.data);
                        $crate::store::sql::run(self.timeout, query.execute(&self.pool)).await?
                    }
                    Some(expected) => {
                        let sql = format!(
                            r#"UPDATE "{table}" SET version = {p}2, data = {p}3 WHERE id = 1 AND version = {p}1"#,
                            p = $p,
                        );
                        let query = sqlx::query(&sql)
                            .bind(version(expected)?)
                            .bind(version(next.version)?)
                            .bind(&next.data);
                        $crate::store::sql::run(self.timeout, query.execute(&self.pool)).await?
                    }
                };
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use key_ring_store;
