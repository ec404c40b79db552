//! The fleet keys' metrics and security events (`docs/protocol.md` §9, §13), recorded by a
//! local recorder on one thread.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::fleet::{KeyEncryptionKey, KeyRotation, Synced};
use tower_refresh_auth::store::{RefreshStore, StoredKeyRing};
use tower_refresh_auth::{NoClaims, RefreshAuth};
use tower_refresh_auth_tests::ring_switch::{RingDown, RingSwitch};

const LIFETIME: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_secs(10);

fn kek(seed: u8) -> KeyEncryptionKey {
    let bytes: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(29).wrapping_add(seed))
        .collect();
    KeyEncryptionKey::from_bytes(&bytes).unwrap()
}

/// The metrics and security events of docs/protocol.md §9 for the ring: a step made by one
/// instance and adopted by the other, a postponed step, a refused record, the key's age.
#[test]
fn rotations_postponements_and_refusals_are_counted_and_reported() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tower_refresh_auth::SecurityEvent;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let clock = ManualClock::new(SystemTime::now());
            let down = Arc::new(AtomicBool::new(false));
            let store = RingSwitch {
                inner: tower_refresh_auth::store::MemoryStore::new(),
                hooks: RingDown(Arc::clone(&down)),
            };
            let mut fleet = Vec::new();
            for _ in 0..2 {
                let seen = Arc::clone(&events);
                fleet.push(
                    RefreshAuth::<NoClaims>::builder()
                        .store(store.clone())
                        .clock(clock.clone())
                        .on_security_event(move |event: &SecurityEvent| {
                            seen.lock().unwrap().push(event.clone());
                        })
                        .key_rotation(KeyRotation::new(LIFETIME, kek(1)).poll_interval(POLL))
                        .build_with_key_rotation()
                        .await
                        .unwrap()
                        .1,
                );
            }
            clock.advance(LIFETIME);
            down.store(true, Ordering::SeqCst);
            assert!(matches!(
                fleet[0].sync().await,
                Synced::StoreUnavailable {
                    step_postponed: true
                }
            ));
            down.store(false, Ordering::SeqCst);
            assert!(matches!(fleet[0].sync().await, Synced::Rotated { .. }));
            assert!(matches!(fleet[1].sync().await, Synced::Adopted { .. }));
            let ring = store.key_ring().unwrap();
            let stored = ring.load_key_ring().await.unwrap().unwrap();
            let planted = StoredKeyRing {
                version: stored.version + 1,
                data: format!("{}.AAAA", kek(1).id()),
            };
            assert!(
                ring.swap_key_ring(Some(stored.version), &planted)
                    .await
                    .unwrap()
            );
            assert_eq!(fleet[1].sync().await, Synced::Refused);
        });
    });
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut age = None;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match value {
            DebugValue::Counter(n) => {
                counts.insert(name, n);
            }
            DebugValue::Gauge(g) if key.name() == "refresh_auth_signing_key_age_seconds" => {
                age = Some(g.into_inner());
            }
            _ => {}
        }
    }
    for (name, n) in [
        ("refresh_auth_key_rotations_total{outcome=performed}", 1),
        ("refresh_auth_key_rotations_total{outcome=adopted}", 1),
        ("refresh_auth_key_rotations_postponed_total{}", 1),
        ("refresh_auth_key_ring_refused_total{}", 1),
    ] {
        assert_eq!(counts.get(name), Some(&n), "{name}: {counts:?}");
    }
    assert_eq!(
        age,
        Some(LIFETIME.as_secs_f64()),
        "the first key has signed for one lifetime"
    );
    let events = events.lock().unwrap();
    for wanted in [
        |e: &SecurityEvent| matches!(e, SecurityEvent::KeyRotationPostponed),
        |e: &SecurityEvent| matches!(e, SecurityEvent::KeyRotated { version: 2, .. }),
        |e: &SecurityEvent| matches!(e, SecurityEvent::KeyRingAdopted { version: 2 }),
        |e: &SecurityEvent| matches!(e, SecurityEvent::KeyRingRefused { version: 3, .. }),
    ] {
        assert!(events.iter().any(wanted), "{events:?}");
    }
}
