//! [`KeyRingStore`](crate::store::KeyRingStore) on SQLite: the ring is the one row of
//! `<table>_key_ring`, created by [`migrate`](super::SqliteStore::migrate), swapped by one
//! conditional statement (shared with PostgreSQL: `store::sql::key_ring_store`).

crate::store::sql::key_ring_store!(super::SqliteStore, int = "INTEGER", p = "?");
