//! The [`SubjectIndex`](crate::store::SubjectIndex) of both SQL stores: [`subject_index!`].

/// [`SubjectIndex`](crate::store::SubjectIndex) on an SQL store, over the `subject` column's
/// index: `revoke_subject` is one `DELETE`; `list` and `list_page` read the rows the
/// backend's own `self.live_rows(subject, now, page)` returns (it deletes the subject's dead
/// rows and selects its live ones, only those of the [`PageBounds`](super::PageBounds) when
/// given, sorted newest first).
macro_rules! subject_index {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::SubjectIndex for $store {
            async fn revoke_subject(
                &self,
                subject: &str,
            ) -> Result<u64, $crate::store::StoreError> {
                let query = sqlx::query(&self.queries.shared.revoke_subject).bind(subject);
                let done = $crate::store::sql::run(self.timeout, query.execute(&self.pool)).await?;
                Ok(done.rows_affected())
            }

            async fn list(
                &self,
                subject: &str,
                now: std::time::SystemTime,
            ) -> Result<Vec<$crate::session::Session>, $crate::store::StoreError> {
                let rows = self.live_rows(subject, now, None).await?;
                rows.into_iter()
                    .map($crate::store::sql::from_list_row)
                    .collect()
            }

            /// The subject's live rows sorted and cut in SQL (`ORDER BY created_at DESC, id
            /// DESC LIMIT limit + 1`, after the cursor).
            async fn list_page(
                &self,
                subject: &str,
                now: std::time::SystemTime,
                limit: usize,
                after: Option<&$crate::store::PageCursor>,
            ) -> Result<$crate::store::SessionPage, $crate::store::StoreError> {
                let limit = limit.max(1);
                let bounds = $crate::store::sql::PageBounds::new(limit, after);
                let rows = self.live_rows(subject, now, Some(bounds)).await?;
                let sessions = rows
                    .into_iter()
                    .map($crate::store::sql::from_list_row)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok($crate::store::SessionPage::from_ordered(sessions, limit))
            }
        }
    };
}
pub(crate) use subject_index;
