//! The [`SqliteStore`]'s record: the compare-and-swap of a rotation, a `BEGIN IMMEDIATE`
//! transaction (SQLite's `RETURNING` cannot show a row as it was before an `UPDATE`);
//! `create`, `load`, `revoke` and `reseal` as on PostgreSQL (`store::sql::record_store`).

use std::time::SystemTime;

use super::SqliteStore;
use crate::session::SessionId;
use crate::store::sql::{Columns, millis, run, session_from_row, swap_counters};
use crate::store::{Rotation, StoreError};

impl SqliteStore {
    /// The compare-and-swap of `rotate`, and of `rotate_unbound` when `unbound_only`: an
    /// `UPDATE … RETURNING` and, when that changed nothing, a `SELECT` of the current state,
    /// under the database's write lock.
    async fn swap(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
        unbound_only: bool,
    ) -> Result<Rotation, StoreError> {
        let (expected, next) = swap_counters(expected, next);
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
                    let current = sqlx::query_as::<_, Columns>(&self.queries.shared.load)
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
}

crate::store::sql::record_store!(SqliteStore);
