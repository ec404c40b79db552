//! The [`DpopStore`](crate::store::DpopStore) of both SQL stores: [`dpop_store!`].

/// [`DpopStore`](crate::store::DpopStore) on an SQL store: `bind` is the backend's own
/// `self.bind_row(id, jkt, seal, now)` (the row as it is afterwards); the spent proofs are
/// the rows of `<table>_dpop_proofs`, each remembered by one insert-or-replace-if-expired
/// ([`Statements::remember_proof`](super::Statements)), with a lazy purge.
macro_rules! dpop_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::DpopStore for $store {
            async fn bind(
                &self,
                id: &$crate::session::SessionId,
                jkt: &str,
                seal: &str,
                now: std::time::SystemTime,
            ) -> Result<Option<$crate::session::Session>, $crate::store::StoreError> {
                let row = self.bind_row(id, jkt, seal, now).await?;
                row.map(|row| $crate::store::sql::session_from_row(*id, row))
                    .transpose()
            }

            async fn remember_proof(
                &self,
                key: &$crate::store::ReplayKey,
                expires_at: std::time::SystemTime,
                now: std::time::SystemTime,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::sql::{millis, run};
                let now = millis(now);
                let query = sqlx::query(&self.queries.shared.remember_proof)
                    .bind(key.to_string())
                    .bind(millis(expires_at))
                    .bind(now);
                let row = run(self.timeout, query.fetch_optional(&self.pool)).await?;
                // Lazy purge: one proof in 256 (by its hash) sweeps the expired ones.
                if key.as_bytes()[0] == 0 {
                    let purge = sqlx::query(&self.queries.shared.purge_proofs).bind(now);
                    if let Err(err) = run(self.timeout, purge.execute(&self.pool)).await {
                        tracing::warn!(error = %err, "could not purge expired DPoP proofs");
                    }
                }
                Ok(row.is_some())
            }
        }
    };
}
pub(crate) use dpop_store;
