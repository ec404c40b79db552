//! The [`SqliteStore`]'s [`DpopStore`](crate::store::DpopStore): binding by an `UPDATE` of an
//! unbound row and a `SELECT` in one transaction; the spent proofs in `<table>_dpop_proofs`,
//! as on PostgreSQL (`store::sql::dpop_store`).

use std::time::SystemTime;

use super::SqliteStore;
use crate::session::SessionId;
use crate::store::StoreError;
use crate::store::sql::{Columns, millis, run};

impl SqliteStore {
    /// Binds the live row `id` to `jkt` unless it is bound already; the row as it is
    /// afterwards.
    async fn bind_row(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Columns>, StoreError> {
        let at = millis(now);
        run(self.timeout, async {
            // IMMEDIATE: the UPDATE and the SELECT see one state of the row.
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(&self.queries.bind)
                .bind(&id.as_bytes()[..])
                .bind(jkt)
                .bind(seal)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query_as::<_, Columns>(&self.queries.shared.load)
                .bind(&id.as_bytes()[..])
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(row)
        })
        .await
    }
}

crate::store::sql::dpop_store!(SqliteStore);
