//! The settings and upkeep both SQL stores offer alike: [`store_settings!`].

/// The inherent methods that are the same on both SQL stores but for the pool's type and the
/// backend's name in logs: `new`, `with_table_name`, `with_timeout`, `pool`, `purge_expired`,
/// `spawn_purge_task`. The store is a struct with the fields `pool`, `table`, `timeout` and
/// `queries` (its `Queries`, built by `Queries::new(table)`, holding the
/// [`Statements`](super::Statements) as `shared`).
macro_rules! store_settings {
    ($store:ident, $pool:ty, backend = $backend:literal) => {
        impl $store {
            /// A store on a pool you built, with the default table name and timeout.
            pub fn new(pool: $pool) -> Self {
                Self {
                    pool,
                    table: $crate::store::sql::DEFAULT_TABLE.to_owned(),
                    timeout: $crate::store::sql::DEFAULT_TIMEOUT,
                    queries: Queries::new($crate::store::sql::DEFAULT_TABLE),
                }
            }

            /// Sets the table (default `refresh_sessions`).
            ///
            /// The name is spliced into SQL, so it must be a plain identifier: 1 to 48 ASCII
            /// letters, digits and underscores, not starting with a digit. Anything else is
            /// refused.
            pub fn with_table_name(
                mut self,
                table: impl Into<String>,
            ) -> Result<Self, $crate::store::sql::InvalidTableName> {
                let table = table.into();
                $crate::store::sql::validate_table_name(&table)?;
                self.queries = Queries::new(&table);
                self.table = table;
                Ok(self)
            }

            /// Sets how long one operation may take before it fails with
            /// [`StoreError::Timeout`](crate::store::StoreError::Timeout) (default 2 s). This
            /// bounds the wait the store adds to a request while the database is unreachable
            /// or busy.
            pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.timeout = timeout;
                self
            }

            /// The pool the store runs on.
            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            /// Deletes every session that is not live at `now`, and every spent DPoP proof
            /// past its expiry. Returns how many sessions.
            pub async fn purge_expired(
                &self,
                now: std::time::SystemTime,
            ) -> Result<u64, $crate::store::StoreError> {
                use $crate::store::sql::{millis, run};
                let query = sqlx::query(&self.queries.shared.purge).bind(millis(now));
                let done = run(self.timeout, query.execute(&self.pool)).await?;
                let proofs = sqlx::query(&self.queries.shared.purge_proofs).bind(millis(now));
                run(self.timeout, proofs.execute(&self.pool)).await?;
                Ok(done.rows_affected())
            }

            /// Runs [`purge_expired`](Self::purge_expired) with the system clock every
            /// `interval`, starting now, until the returned task is aborted. A failed purge is
            /// logged and retried at the next tick.
            ///
            /// Must be called within a Tokio runtime.
            pub fn spawn_purge_task(
                &self,
                interval: std::time::Duration,
            ) -> tokio::task::JoinHandle<()> {
                let store = self.clone();
                $crate::store::sql::spawn_purge_task($backend, interval, move |now| {
                    let store = store.clone();
                    async move { store.purge_expired(now).await }
                })
            }
        }
    };
}
pub(crate) use store_settings;
