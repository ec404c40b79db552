//! The conformance tests of the [`KeyRingStore`] capability: one
//! versioned record, replaced by compare-and-swap on its version.

use crate::store::{KeyRingStore, RefreshStore, StoredKeyRing};

use super::Fixture;

/// How many tasks race to swap the ring.
const RACERS: usize = 32;

/// The store's [`KeyRingStore`], as the layer finds it; panics when it offers none.
pub fn key_ring<S: RefreshStore>(store: &S) -> &dyn KeyRingStore {
    store
        .key_ring()
        .expect("the store implements KeyRingStore, so `RefreshStore::key_ring` returns Some(self)")
}

fn record(version: u64, data: &str) -> StoredKeyRing {
    StoredKeyRing {
        version,
        data: format!("{data}.c2VhbGVk-_0123456789"),
    }
}

/// An empty store has no ring; the first record is stored only when none is expected, and
/// comes back byte for byte.
pub async fn key_ring_starts_empty_and_keeps_the_first_record<S: RefreshStore>(fx: &Fixture<S>) {
    let ring = key_ring(&fx.store);
    assert_eq!(ring.load_key_ring().await.unwrap(), None);
    assert!(
        !ring.swap_key_ring(Some(1), &record(2, "v2")).await.unwrap(),
        "no record is stored, so none has version 1"
    );
    assert_eq!(ring.load_key_ring().await.unwrap(), None);
    assert!(ring.swap_key_ring(None, &record(1, "v1")).await.unwrap());
    assert_eq!(ring.load_key_ring().await.unwrap(), Some(record(1, "v1")));
}

/// A swap replaces the record only from the expected version; from any other (or from
/// "none" once one is stored) it changes nothing.
pub async fn key_ring_swaps_only_from_the_expected_version<S: RefreshStore>(fx: &Fixture<S>) {
    let ring = key_ring(&fx.store);
    assert!(ring.swap_key_ring(None, &record(1, "v1")).await.unwrap());
    assert!(!ring.swap_key_ring(None, &record(1, "other")).await.unwrap());
    assert!(!ring.swap_key_ring(Some(2), &record(3, "v3")).await.unwrap());
    assert!(
        !ring
            .swap_key_ring(Some(0), &record(1, "v1'"))
            .await
            .unwrap()
    );
    assert_eq!(ring.load_key_ring().await.unwrap(), Some(record(1, "v1")));
    assert!(ring.swap_key_ring(Some(1), &record(2, "v2")).await.unwrap());
    assert!(
        !ring
            .swap_key_ring(Some(1), &record(2, "v2'"))
            .await
            .unwrap()
    );
    assert_eq!(ring.load_key_ring().await.unwrap(), Some(record(2, "v2")));
    // Versions are kept exactly, far past 2^53.
    let big = (1 << 60) + 1;
    assert!(
        ring.swap_key_ring(Some(2), &record(big, "big"))
            .await
            .unwrap()
    );
    assert_eq!(ring.load_key_ring().await.unwrap().unwrap().version, big);
}

/// N tasks racing to make the first ring, then N racing to replace it from the same
/// version (on the second instance too, when the store has one): exactly one wins each
/// race, and the stored record is the winner's.
pub async fn concurrent_key_ring_swaps_yield_one_winner<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    for (expected, version) in [(None, 1), (Some(1), 2)] {
        let mut tasks = Vec::with_capacity(RACERS);
        for i in 0..RACERS {
            let store = match (&fx.second, i % 2) {
                (Some(second), 1) => second.clone(),
                _ => fx.store.clone(),
            };
            tasks.push(tokio::spawn(async move {
                let next = record(version, &format!("racer-{i}"));
                let won = key_ring(&store)
                    .swap_key_ring(expected, &next)
                    .await
                    .unwrap();
                won.then_some(next)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            if let Some(next) = task.await.unwrap() {
                winners.push(next);
            }
        }
        assert_eq!(winners.len(), 1, "exactly one swap from {expected:?} wins");
        let stored = key_ring(&fx.store).load_key_ring().await.unwrap();
        assert_eq!(stored.as_ref(), Some(&winners[0]));
        if let Some(second) = &fx.second {
            assert_eq!(key_ring(second).load_key_ring().await.unwrap(), stored);
        }
    }
}
