//! The [`PostgresStore`](super::PostgresStore)'s [`ReauthStore`](crate::store::ReauthStore):
//! one conditional `UPDATE … RETURNING`, the same as on SQLite (`store::sql::reauth_store`).

crate::store::sql::reauth_store!(super::PostgresStore);
