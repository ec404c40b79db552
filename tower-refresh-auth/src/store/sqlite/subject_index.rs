//! The [`SqliteStore`]'s [`SubjectIndex`](crate::store::SubjectIndex): a transaction that
//! deletes the subject's dead rows, then selects its live ones, through the `subject` index;
//! `revoke_subject` and the rest as on PostgreSQL (`store::sql::subject_index`).

use std::time::SystemTime;

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::sql::{ListRow, PageBounds, millis, run};

impl SqliteStore {
    /// The live rows of `subject` at `now`, its dead ones deleted first in the same
    /// transaction; only those within `page`, newest first, when given.
    async fn live_rows(
        &self,
        subject: &str,
        now: SystemTime,
        page: Option<PageBounds>,
    ) -> Result<Vec<ListRow>, StoreError> {
        let now = millis(now);
        run(self.timeout, async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(&self.queries.list_dead)
                .bind(subject)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let select = match page {
                None => sqlx::query_as::<_, ListRow>(&self.queries.list)
                    .bind(subject)
                    .bind(now),
                Some(page) => sqlx::query_as::<_, ListRow>(&self.queries.list_page)
                    .bind(subject)
                    .bind(now)
                    .bind(page.limit)
                    .bind(page.after_ms)
                    .bind(page.after_id),
            };
            let rows = select.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows)
        })
        .await
    }
}

crate::store::sql::subject_index!(SqliteStore);
