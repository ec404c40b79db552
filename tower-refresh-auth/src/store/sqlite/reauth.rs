//! The [`SqliteStore`](super::SqliteStore)'s [`ReauthStore`](crate::store::ReauthStore): one
//! conditional `UPDATE … RETURNING`, which SQLite runs under the database's write lock; the
//! same as on PostgreSQL (`store::sql::reauth_store`).

crate::store::sql::reauth_store!(super::SqliteStore);
