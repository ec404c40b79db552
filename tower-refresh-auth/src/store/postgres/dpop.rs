//! The [`PostgresStore`]'s [`DpopStore`](crate::store::DpopStore): binding by one statement
//! that updates an unbound row or reads a bound one; the spent proofs in
//! `<table>_dpop_proofs`, as on SQLite (`store::sql::dpop_store`).

use std::time::SystemTime;

use super::PostgresStore;
use crate::session::SessionId;
use crate::store::StoreError;
use crate::store::sql::{Columns, millis, run};

impl PostgresStore {
    /// Binds the live row `id` to `jkt` unless it is bound already; the row as it is
    /// afterwards. The row is locked by the UPDATE, or (already bound) read as it is.
    async fn bind_row(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Columns>, StoreError> {
        let query = sqlx::query_as::<_, Columns>(&self.queries.bind)
            .bind(&id.as_bytes()[..])
            .bind(jkt)
            .bind(seal)
            .bind(millis(now));
        run(self.timeout, query.fetch_optional(&self.pool)).await
    }
}

crate::store::sql::dpop_store!(PostgresStore);
