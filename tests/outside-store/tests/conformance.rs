//! The published conformance suite on a store written outside the crate: the core
//! operations and both capabilities, in a dozen lines.

// ANCHOR: suite
use outside_store::MapStore;
use tower_refresh_auth::store::conformance::Fixture;

tower_refresh_auth::conformance_suite!(map_store, fixture, [subject_index, dpop, two_instances]);

/// A fresh store, and a second handle on the same maps (as a second instance would share a
/// database).
async fn fixture(_test: &'static str) -> Fixture<MapStore> {
    let store = MapStore::default();
    Fixture {
        second: Some(store.clone()),
        store,
        guard: None,
    }
}
// ANCHOR_END: suite
