//! Fleet keys (`docs/protocol.md` §13): three instances of the layer on one store, each
//! polling the shared key ring, rotating on a short schedule under traffic, on every store.
//!
//! Time is a [`ManualClock`] shared by the instances: a five-minute key lifetime runs in
//! well under a second, and nothing waits. Each tick every instance polls the ring at once
//! (so they race for every step), a user logs in, every live access token is verified on
//! every instance, and a set of sessions refreshes round the instances.
//!
//! The rotation timeline of the memory run (which instance made each key, when each instance
//! adopted it, when it first signed) is printed by
//! `cargo test -p tower-refresh-auth-tests --test fleet_keys -- --nocapture memory::timeline`;
//! the services' runs need `--include-ignored` and the URLs of tests/support/README.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::fleet::{KeyEncryptionKey, KeyRingError, KeyRingSync, KeyRotation, Synced};
use tower_refresh_auth::store::{RefreshStore, StoredKeyRing};
use tower_refresh_auth::{ConfigError, NoClaims, RefreshAuth, TokenPair};
use tower_refresh_auth_test_support::Fixture;
use tower_refresh_auth_tests::ring_switch::{RingDown, RingSwitch};

const ACCESS_TTL: Duration = Duration::from_secs(60);
/// The JWKS max-age: by default the key overlap, here the access-token lifetime.
const MAX_AGE: Duration = ACCESS_TTL;
const LIFETIME: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_secs(1);
/// A login, refreshes and verifications every this many ticks.
const TRAFFIC_EVERY: usize = 5;
/// Long enough for six steps of the schedule.
const RUN: Duration = Duration::from_secs(6 * 300 + 120);
const SESSIONS: usize = 4;

fn kek(seed: u8) -> KeyEncryptionKey {
    let bytes: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(29).wrapping_add(seed))
        .collect();
    KeyEncryptionKey::from_bytes(&bytes).unwrap()
}

type Auth = RefreshAuth<NoClaims>;

async fn instance<S: RefreshStore>(
    store: S,
    clock: &ManualClock,
    kek: KeyEncryptionKey,
) -> Result<(Auth, KeyRingSync), ConfigError> {
    RefreshAuth::<NoClaims>::builder()
        .store(store)
        .clock(clock.clone())
        .access_ttl(ACCESS_TTL)
        .key_rotation(KeyRotation::new(LIFETIME, kek).poll_interval(POLL))
        .build_with_key_rotation()
        .await
}

/// The `kid` in an access token's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn secs(clock: &ManualClock, t0: SystemTime) -> u64 {
    tower_refresh_auth::clock::Clock::now(clock)
        .duration_since(t0)
        .unwrap()
        .as_secs()
}

/// Three instances: the fixture's two stores (separate connections where the backend has
/// them) and a clone of the first.
fn three<S: RefreshStore + Clone>(fx: &Fixture<S>) -> [S; 3] {
    let second = fx.second.clone().unwrap_or_else(|| fx.store.clone());
    [fx.store.clone(), second, fx.store.clone()]
}

/// Who made each key, when each instance listed it, when it first signed.
#[derive(Default)]
struct Timeline {
    made: BTreeMap<u64, (String, String)>,
    listed: HashMap<(usize, String), u64>,
    first_signed: HashMap<String, u64>,
    order: Vec<String>,
}

impl Timeline {
    fn print(&self, backend: &str) {
        println!("rotation timeline ({backend}; seconds from the start; instance i0..i2):");
        println!(
            "{:<45} {:>8} {:>9} {:>9} {:>9} {:>12}",
            "kid", "made by", "i0 lists", "i1 lists", "i2 lists", "first signs"
        );
        for kid in &self.order {
            let made = self
                .made
                .values()
                .find(|(k, _)| k == kid)
                .map_or("start", |(_, who)| who.as_str());
            let listed = |i| {
                self.listed
                    .get(&(i, kid.clone()))
                    .map_or("-".to_owned(), |t| t.to_string())
            };
            println!(
                "{kid:<45} {made:>8} {:>9} {:>9} {:>9} {:>12}",
                listed(0),
                listed(1),
                listed(2),
                self.first_signed
                    .get(kid)
                    .map_or("-".to_owned(), |t| t.to_string())
            );
        }
    }
}

/// The run: three instances, ≥ 5 rotations with traffic, a restart in the middle.
async fn timeline<S: RefreshStore + Clone>(fx: Fixture<S>, backend: &str) {
    let t0 = UNIX_EPOCH
        + Duration::from_secs(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        );
    let clock = ManualClock::new(t0);
    let stores = three(&fx);
    // All three start at once on the empty store: one makes the first ring.
    let started = futures_join3(
        instance(stores[0].clone(), &clock, kek(1)),
        instance(stores[1].clone(), &clock, kek(1)),
        instance(stores[2].clone(), &clock, kek(1)),
    )
    .await;
    let mut fleet: Vec<(Auth, KeyRingSync)> = started.into_iter().map(Result::unwrap).collect();
    let first = fleet[0].0.keys().signing_kid();
    for (auth, sync) in &fleet {
        assert_eq!(auth.keys().signing_kid(), first, "one first key for all");
        assert_eq!(sync.status().version, 1);
    }

    let mut tl = Timeline::default();
    tl.order.push(first.clone());
    let mut live: Vec<(String, u64)> = Vec::new(); // access token, expiry (s from t0)
    let mut sessions: Vec<TokenPair> = Vec::new();
    let mut rotations = 0;
    let mut restarted = false;
    let mut tick = 0usize;
    let mut next_poll = [0u64; 3];
    while clock_elapsed(&clock, t0) < RUN {
        let now = secs(&clock, t0);
        // Each instance polls on its own schedule, every 7.5 to 12.5 s (the poll interval ±
        // a quarter, as `KeyRingSync::run` does); those due together race for the step.
        let due: Vec<usize> = (0..3).filter(|i| next_poll[*i] <= now).collect();
        let synced = poll_together(due.iter().map(|i| &fleet[*i].1)).await;
        for (k, i) in due.iter().enumerate() {
            let jitter = (7 * *i as u64 + 13 * tick as u64 + k as u64) % 6;
            next_poll[*i] = now + 7 + jitter;
        }
        let made: Vec<_> = synced
            .iter()
            .zip(&due)
            .filter_map(|(s, i)| match s {
                Synced::Rotated { version, kid } => Some((*i, *version, kid.clone())),
                _ => None,
            })
            .collect();
        assert!(
            made.len() <= 1,
            "one key per step, however many race: {synced:?}"
        );
        for (i, version, kid) in made {
            rotations += 1;
            tl.made
                .insert(version, (kid.clone(), format!("i{i}@{now}")));
            tl.order.push(kid);
        }
        for (i, (auth, _)) in fleet.iter().enumerate() {
            for kid in auth.keys().verifying_kids() {
                tl.listed.entry((i, kid)).or_insert(now);
            }
        }
        if !tick.is_multiple_of(TRAFFIC_EVERY) {
            clock.advance(TICK);
            tick += 1;
            continue;
        }

        // Traffic: a login on one instance, refreshes round the others.
        let round = tick / TRAFFIC_EVERY;
        let at = &fleet[round % 3].0;
        let pair = at.issue(&format!("user{tick}"), NoClaims {}).await.unwrap();
        sessions.push(pair.clone());
        if sessions.len() > SESSIONS {
            sessions.remove(0);
        }
        let mut issued = vec![pair.access_token];
        for (j, session) in sessions.iter_mut().enumerate() {
            let by = (round + j + 1) % 3;
            let next = fleet[by]
                .0
                .refresh(&session.refresh_token)
                .await
                .unwrap_or_else(|err| panic!("refresh at {now}s on i{by}: {err}"));
            issued.push(next.access_token.clone());
            *session = next;
        }
        for token in issued {
            let kid = kid_of(&token);
            tl.first_signed.entry(kid).or_insert(now);
            live.push((token, now + ACCESS_TTL.as_secs()));
        }
        // Every token verifies on every instance until it expires.
        live.retain(|(_, exp)| *exp > now);
        for (token, _) in &live {
            for (i, (auth, _)) in fleet.iter().enumerate() {
                auth.verify(token).unwrap_or_else(|err| {
                    for (j, (a, sync)) in fleet.iter().enumerate() {
                        eprintln!(
                            "i{j}: {:?} {:?} {:#?}",
                            a.keys().signing_kid(),
                            a.keys().verifying_kids(),
                            sync.status()
                        );
                    }
                    panic!(
                        "a token of {} refused at {now}s on i{i}: {err}",
                        kid_of(token)
                    )
                });
            }
        }

        // A restart in the middle: instance 1 starts again on the same store.
        if !restarted && rotations >= 3 {
            restarted = true;
            let before = fleet[0].1.status();
            let (auth, sync) = instance(stores[1].clone(), &clock, kek(1)).await.unwrap();
            assert_eq!(
                sync.status().version,
                before.version,
                "adopts the stored ring"
            );
            assert_eq!(sync.status().keys, before.keys, "makes no key");
            assert_eq!(auth.keys().signing_kid(), fleet[0].0.keys().signing_kid());
            for (token, _) in &live {
                auth.verify(token)
                    .expect("every live token verifies after a restart");
            }
            fleet[1] = (auth, sync);
            next_poll[1] = now + 7;
        }

        clock.advance(TICK);
        tick += 1;
    }
    tl.print(backend);

    assert!(rotations >= 5, "at least five rotations: {rotations}");
    // Exactly one new key per step: the kids made are distinct, and every instance holds
    // the same ring.
    let mut kids = tl.order.clone();
    kids.sort();
    kids.dedup();
    assert_eq!(kids.len(), rotations + 1);
    let status = fleet[0].1.status();
    for (_, sync) in &fleet {
        assert_eq!(sync.status(), status);
    }
    // Each key was listed by every instance at least one max-age before it first signed
    // (all but the first, which signs from the start).
    for kid in &tl.order[1..] {
        let Some(signed) = tl.first_signed.get(kid) else {
            continue; // published, not signing yet when the run ended
        };
        for i in 0..3 {
            let listed = tl.listed[&(i, kid.clone())];
            assert!(
                listed + MAX_AGE.as_secs() <= *signed,
                "{kid}: listed by i{i} at {listed}s, first signed at {signed}s"
            );
        }
    }
    assert!(tl.first_signed.len() > 5, "every key signed in turn");
}

fn clock_elapsed(clock: &ManualClock, t0: SystemTime) -> Duration {
    tower_refresh_auth::clock::Clock::now(clock)
        .duration_since(t0)
        .unwrap()
}

/// Polls the given instances at the same moment, each on a task of its own, so that they
/// race as separate processes would.
async fn poll_together<'a>(syncs: impl IntoIterator<Item = &'a KeyRingSync>) -> Vec<Synced> {
    let tasks: Vec<_> = syncs
        .into_iter()
        .map(|sync| {
            let sync = sync.clone();
            tokio::spawn(async move { sync.sync().await })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

async fn futures_join3<T>(
    a: impl Future<Output = T>,
    b: impl Future<Output = T>,
    c: impl Future<Output = T>,
) -> Vec<T> {
    let (a, b, c) = tokio::join!(a, b, c);
    vec![a, b, c]
}

/// A key-encryption key other than the ring's stops the start, naming the problem.
async fn wrong_kek_is_refused<S: RefreshStore + Clone>(fx: Fixture<S>) {
    let clock = ManualClock::new(SystemTime::now());
    instance(fx.store.clone(), &clock, kek(1)).await.unwrap();
    let err = instance(fx.store.clone(), &clock, kek(2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::KeyRing(KeyRingError::WrongKek { version: 1 })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("another key-encryption key"),
        "{err}"
    );
    // While rotating the key-encryption key: the old one as the previous one opens the ring,
    // which is sealed again under the new one.
    let rotating = RefreshAuth::<NoClaims>::builder()
        .store(fx.store.clone())
        .clock(clock.clone())
        .key_rotation(KeyRotation::new(LIFETIME, kek(2)).previous_key_encryption_key(kek(1)))
        .build_with_key_rotation()
        .await
        .unwrap();
    assert_eq!(rotating.1.status().version, 2);
    let err = instance(fx.store.clone(), &clock, kek(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::KeyRing(KeyRingError::WrongKek { .. })),
        "{err}"
    );
    instance(fx.store.clone(), &clock, kek(2)).await.unwrap();
}

/// A tampered, planted or older record is refused by every instance; they keep signing with
/// the last good ring, and its tokens keep verifying.
async fn tampered_or_planted_records_are_refused<S: RefreshStore + Clone>(fx: Fixture<S>) {
    let clock = ManualClock::new(SystemTime::now());
    let [a, b, _] = three(&fx);
    let (one, one_sync) = instance(a.clone(), &clock, kek(1)).await.unwrap();
    let (two, two_sync) = instance(b, &clock, kek(1)).await.unwrap();
    let ring = a.key_ring().unwrap();
    let good = ring.load_key_ring().await.unwrap().unwrap();
    let mut pair = one.issue("user1", NoClaims {}).await.unwrap();
    let signing = one.keys().signing_kid();

    let (kek_id, sealed) = good.data.split_once('.').unwrap();
    let mut flipped = URL_SAFE_NO_PAD.decode(sealed).unwrap();
    flipped[20] ^= 1;
    let tampered = format!("{kek_id}.{}", URL_SAFE_NO_PAD.encode(&flipped));
    // Planted: a ring sealed by someone with another key, labelled with ours.
    let other = tower_refresh_auth_test_support::fixtures::memory("planted").await;
    instance(other.store.clone(), &clock, kek(9)).await.unwrap();
    let foreign = other
        .store
        .key_ring()
        .unwrap()
        .load_key_ring()
        .await
        .unwrap()
        .unwrap();
    let planted = format!("{kek_id}.{}", foreign.data.split_once('.').unwrap().1);
    let mut version = good.version;
    for (data, next_version) in [
        (tampered, version + 1),
        (planted, version + 2),
        // A good record moved to another version, then an older version than in use.
        (good.data.clone(), version + 3),
        (good.data.clone(), 0),
    ] {
        let record = StoredKeyRing {
            version: next_version,
            data,
        };
        assert!(ring.swap_key_ring(Some(version), &record).await.unwrap());
        version = next_version;
        for sync in [&one_sync, &two_sync] {
            assert_eq!(sync.sync().await, Synced::Refused);
            assert_eq!(
                sync.status().version,
                good.version,
                "the last good ring stays"
            );
        }
        assert_eq!(one.keys().signing_kid(), signing);
        pair = two.refresh(&pair.refresh_token).await.unwrap();
        assert_eq!(kid_of(&pair.access_token), signing, "signing goes on");
        one.verify(&pair.access_token).unwrap();
    }
    // With no last good ring to keep, a start on a record that does not open fails.
    let err = instance(a, &clock, kek(1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::KeyRing(KeyRingError::Unsealed { version: 0 })
        ),
        "{err}"
    );
}

/// The store down across a due step: signing goes on with the current key, the step is
/// counted as postponed, and it happens once when the store answers again.
async fn store_down_across_a_step<S: RefreshStore + Clone>(fx: Fixture<S>) {
    let clock = ManualClock::new(SystemTime::now());
    let down = Arc::new(AtomicBool::new(false));
    let mut fleet = Vec::new();
    for store in three(&fx) {
        let store = RingSwitch {
            inner: store,
            hooks: RingDown(Arc::clone(&down)),
        };
        fleet.push(instance(store, &clock, kek(1)).await.unwrap());
    }
    let first = fleet[0].0.keys().signing_kid();
    down.store(true, Ordering::SeqCst);
    // Past the time the next key was due, well into when it would have signed.
    clock.advance(LIFETIME + POLL);
    for (auth, sync) in &fleet {
        assert_eq!(
            sync.sync().await,
            Synced::StoreUnavailable {
                step_postponed: true
            }
        );
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        assert_eq!(kid_of(&pair.access_token), first, "signing goes on");
        for (other, _) in &fleet {
            other.verify(&pair.access_token).unwrap();
        }
    }
    down.store(false, Ordering::SeqCst);
    let synced = poll_together(fleet.iter().map(|(_, sync)| sync)).await;
    let made = synced
        .iter()
        .filter(|s| matches!(s, Synced::Rotated { .. }))
        .count();
    assert_eq!(made, 1, "the step happens once: {synced:?}");
    for (_, sync) in &fleet {
        sync.sync().await;
    }
    let status = fleet[0].1.status();
    assert_eq!(status.keys.len(), 2);
    for (auth, sync) in &fleet {
        assert_eq!(sync.status(), status);
        // The new key is published, not signing yet.
        assert_eq!(auth.keys().signing_kid(), first);
        assert_eq!(auth.keys().verifying_kids().len(), 2);
    }
}

/// A store without the capability is refused with a message naming it.
#[tokio::test]
async fn a_store_without_a_key_ring_is_refused() {
    let store = tower_refresh_auth_test_support::TestStore::new();
    let err = instance(store, &ManualClock::new(SystemTime::now()), kek(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("KeyRingStore"), "{err}");
    let err = RefreshAuth::<NoClaims>::builder()
        .key_rotation(KeyRotation::new(LIFETIME, kek(1)))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("build_with_key_rotation"), "{err}");
}

macro_rules! fleet_suite {
    ($backend:ident, $fixture:path $(, $ignore:literal)?) => {
        mod $backend {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[ignore = $ignore])?
            async fn timeline() {
                super::timeline($fixture("fleet_timeline").await, stringify!($backend)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[ignore = $ignore])?
            async fn wrong_kek_is_refused() {
                super::wrong_kek_is_refused($fixture("fleet_wrong_kek").await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[ignore = $ignore])?
            async fn tampered_or_planted_records_are_refused() {
                super::tampered_or_planted_records_are_refused($fixture("fleet_planted").await)
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[ignore = $ignore])?
            async fn store_down_across_a_step() {
                super::store_down_across_a_step($fixture("fleet_store_down").await).await;
            }
        }
    };
}

use tower_refresh_auth_test_support::fixtures;

fleet_suite!(memory, fixtures::memory);
#[cfg(feature = "sqlite")]
fleet_suite!(sqlite, fixtures::sqlite);
#[cfg(feature = "redis")]
fleet_suite!(
    redis,
    fixtures::redis,
    "needs REDIS_URL (see tests/support/README.md)"
);
#[cfg(feature = "redis")]
fleet_suite!(
    redis_cluster,
    fixtures::redis_cluster,
    "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"
);
#[cfg(feature = "postgres")]
fleet_suite!(
    postgres,
    fixtures::postgres,
    "needs DATABASE_URL (see tests/support/README.md)"
);
