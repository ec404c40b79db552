//! [`KeyRingStore`](crate::store::KeyRingStore) on PostgreSQL: the ring is the one row of
//! `<table>_key_ring`, created by [`migrate`](super::PostgresStore::migrate), swapped by one
//! conditional statement (shared with SQLite: `store::sql::key_ring_store`).

crate::store::sql::key_ring_store!(super::PostgresStore, int = "BIGINT", p = "$");
