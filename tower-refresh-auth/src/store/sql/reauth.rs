//! The [`ReauthStore`](crate::store::ReauthStore) of both SQL stores: [`reauth_store!`].

/// [`ReauthStore`](crate::store::ReauthStore) on an SQL store: one conditional
/// `UPDATE … RETURNING` ([`Statements::reauthenticate`](super::Statements)), which the row's
/// lock (PostgreSQL) or the database's write lock (SQLite) makes one step.
macro_rules! reauth_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::ReauthStore for $store {
            async fn reauthenticate(
                &self,
                current: &$crate::session::Session,
                next: &$crate::session::Session,
                now: std::time::SystemTime,
            ) -> Result<Option<$crate::session::Session>, $crate::store::StoreError> {
                use $crate::store::sql::{Columns, counter_column, millis, run, session_from_row};
                let query = sqlx::query_as::<_, Columns>(&self.queries.shared.reauthenticate)
                    .bind(&current.id.as_bytes()[..])
                    .bind(counter_column(current.counter)?)
                    .bind(&current.seal)
                    .bind(counter_column(next.counter)?)
                    .bind(millis(next.rotated_at))
                    .bind(millis(next.expires_at))
                    .bind(&next.claims)
                    .bind(&next.seal)
                    .bind(millis(now));
                run(self.timeout, query.fetch_optional(&self.pool))
                    .await?
                    .map(|row| session_from_row(current.id, row))
                    .transpose()
            }
        }
    };
}
pub(crate) use reauth_store;
