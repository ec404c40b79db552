//! The [`RefreshStore`](crate::store::RefreshStore) of both SQL stores: [`record_store!`].

/// [`RefreshStore`](crate::store::RefreshStore) on an SQL store: `create`, `load`, `revoke`
/// and `reseal` are one statement each, the same on PostgreSQL and SQLite but for the
/// statement's text; `rotate` and `rotate_unbound` call the backend's own compare-and-swap,
/// `self.swap(id, expected, next, now, expires_at, unbound_only)`; every capability is
/// offered. The store's `queries` hold `create` and the [`Statements`](super::Statements) as
/// `shared`.
macro_rules! record_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::RefreshStore for $store {
            async fn create(
                &self,
                session: &$crate::session::Session,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::{counter_column, millis, run};
                let query = sqlx::query(&self.queries.create)
                    .bind(&session.id.as_bytes()[..])
                    .bind(&session.subject)
                    .bind(&session.claims)
                    .bind(counter_column(session.counter)?)
                    .bind(millis(session.created_at))
                    .bind(millis(session.rotated_at))
                    .bind(millis(session.expires_at))
                    .bind(session.absolute_expires_at.map(millis))
                    .bind(&session.seal)
                    .bind(session.metadata.user_agent())
                    .bind(session.metadata.label())
                    .bind(session.jkt.as_deref());
                run(self.timeout, query.execute(&self.pool)).await?;
                Ok(())
            }

            async fn load(
                &self,
                id: &$crate::session::SessionId,
                now: std::time::SystemTime,
            ) -> Result<Option<$crate::session::Session>, $crate::store::StoreError> {
                use $crate::store::sql::{Columns, millis, run, session_from_row};
                let query = sqlx::query_as::<_, Columns>(&self.queries.shared.load)
                    .bind(&id.as_bytes()[..])
                    .bind(millis(now));
                run(self.timeout, query.fetch_optional(&self.pool))
                    .await?
                    .map(|row| session_from_row(*id, row))
                    .transpose()
            }

            async fn rotate(
                &self,
                id: &$crate::session::SessionId,
                expected: u64,
                next: u64,
                now: std::time::SystemTime,
                expires_at: std::time::SystemTime,
            ) -> Result<$crate::store::Rotation, $crate::store::StoreError> {
                self.swap(id, expected, next, now, expires_at, false).await
            }

            /// The compare-and-swap of `rotate` with the binding in its condition: one step.
            async fn rotate_unbound(
                &self,
                id: &$crate::session::SessionId,
                expected: u64,
                next: u64,
                now: std::time::SystemTime,
                expires_at: std::time::SystemTime,
            ) -> Result<$crate::store::Rotation, $crate::store::StoreError> {
                self.swap(id, expected, next, now, expires_at, true).await
            }

            async fn revoke(
                &self,
                id: &$crate::session::SessionId,
            ) -> Result<bool, $crate::store::StoreError> {
                let query = sqlx::query(&self.queries.shared.revoke).bind(&id.as_bytes()[..]);
                let done = $crate::store::sql::run(self.timeout, query.execute(&self.pool)).await?;
                Ok(done.rows_affected() > 0)
            }

            async fn reseal(
                &self,
                id: &$crate::session::SessionId,
                seal: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                let query = sqlx::query(&self.queries.shared.reseal)
                    .bind(&id.as_bytes()[..])
                    .bind(seal);
                let done = $crate::store::sql::run(self.timeout, query.execute(&self.pool)).await?;
                Ok(done.rows_affected() > 0)
            }

            fn subject_index(&self) -> Option<&dyn $crate::store::SubjectIndex> {
                Some(self)
            }

            fn dpop(&self) -> Option<&dyn $crate::store::DpopStore> {
                Some(self)
            }

            fn reauth(&self) -> Option<&dyn $crate::store::ReauthStore> {
                Some(self)
            }

            fn key_ring(&self) -> Option<&dyn $crate::store::KeyRingStore> {
                Some(self)
            }

            fn revocation_feed(&self) -> Option<&dyn $crate::store::RevocationFeed> {
                Some(self)
            }
        }
    };
}
pub(crate) use record_store;
