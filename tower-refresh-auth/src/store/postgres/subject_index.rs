//! The [`PostgresStore`]'s [`SubjectIndex`](crate::store::SubjectIndex): the subject's dead
//! rows deleted and its live ones selected in one statement, through the `subject` index;
//! `revoke_subject` and the rest as on SQLite (`store::sql::subject_index`).

use std::time::SystemTime;

use super::PostgresStore;
use crate::store::StoreError;
use crate::store::sql::{ListRow, PageBounds, millis, run};

impl PostgresStore {
    /// The live rows of `subject` at `now`, its dead ones deleted by the same statement; only
    /// those within `page`, newest first, when given.
    async fn live_rows(
        &self,
        subject: &str,
        now: SystemTime,
        page: Option<PageBounds>,
    ) -> Result<Vec<ListRow>, StoreError> {
        let query = match page {
            None => sqlx::query_as::<_, ListRow>(&self.queries.list)
                .bind(subject)
                .bind(millis(now)),
            Some(page) => sqlx::query_as::<_, ListRow>(&self.queries.list_page)
                .bind(subject)
                .bind(millis(now))
                .bind(page.limit)
                .bind(page.after_ms)
                .bind(page.after_id),
        };
        run(self.timeout, query.fetch_all(&self.pool)).await
    }
}

crate::store::sql::subject_index!(PostgresStore);
