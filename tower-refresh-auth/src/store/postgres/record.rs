//! The [`PostgresStore`]'s record: the compare-and-swap of a rotation, one
//! `WITH … FOR UPDATE … UPDATE … RETURNING` statement; `create`, `load`, `revoke` and
//! `reseal` as on SQLite (`store::sql::record_store`).

use std::time::SystemTime;

use super::PostgresStore;
use crate::session::SessionId;
use crate::store::sql::{millis, run, session_from_row, swap_counters};
use crate::store::{Rotation, StoreError};

impl PostgresStore {
    /// The compare-and-swap of `rotate`, and of `rotate_unbound` when `unbound_only`: the
    /// row locked, the counter swapped if it matches, and the new state or the current one
    /// returned, in one statement.
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
        type Row = (
            bool,
            String,
            String,
            i64,
            i64,
            i64,
            i64,
            Option<i64>,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let query = sqlx::query_as::<_, Row>(&self.queries.rotate)
            .bind(&id.as_bytes()[..])
            .bind(expected)
            .bind(millis(now))
            .bind(millis(expires_at))
            .bind(next)
            .bind(unbound_only);
        let row = run(self.timeout, query.fetch_optional(&self.pool)).await?;
        let Some((
            rotated,
            subject,
            claims,
            counter,
            created,
            rotated_at,
            expires,
            absolute,
            seal,
            ua,
            label,
            jkt,
        )) = row
        else {
            return Ok(Rotation::NotFound);
        };
        let columns = (
            subject, claims, counter, created, rotated_at, expires, absolute, seal, ua, label, jkt,
        );
        let session = session_from_row(*id, columns)?;
        Ok(if rotated {
            Rotation::Rotated(session)
        } else {
            Rotation::Conflict(session)
        })
    }
}

crate::store::sql::record_store!(PostgresStore);
