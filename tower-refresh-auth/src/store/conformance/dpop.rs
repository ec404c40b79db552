//! The conformance tests of the [`DpopStore`](crate::store::DpopStore) capability: binding a
//! session to a DPoP key, and the replay memory of spent proofs.

use std::time::Duration;

use crate::session::SessionId;
use crate::store::{RefreshStore, ReplayKey};

use super::{Fixture, create, dpop, expect_rotated, now_ms, session};

/// How many tasks race on one proof.
const PROOF_RACERS: usize = 64;

/// `bind` sets the key and the seal of an unbound live session, and only those; a bound
/// session keeps its key; a session created unbound reads back with no key.
pub async fn bind_sets_the_key_once_and_old_rows_read_unbound<S: RefreshStore + Clone>(
    fx: &Fixture<S>,
) {
    let t0 = now_ms();
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    assert_eq!(fx.store.load(&s.id, t0).await.unwrap().unwrap().jkt, None);

    let bound = dpop(&fx.store)
        .bind(&s.id, "thumbprint-1", "seal-bound", t0)
        .await
        .unwrap()
        .expect("a live session binds");
    let mut want = s.clone();
    want.jkt = Some("thumbprint-1".into());
    want.seal = "seal-bound".into();
    assert_eq!(bound, want);
    assert_eq!(fx.store.load(&s.id, t0).await.unwrap(), Some(want.clone()));

    // A second binding changes nothing, and says what the session is bound to.
    let again = dpop(&fx.store)
        .bind(&s.id, "thumbprint-2", "seal-other", t0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, want);

    // Rotation keeps the binding.
    let rotated = expect_rotated(
        fx.store
            .rotate(&s.id, 0, 1, t0, t0 + Duration::from_secs(3600))
            .await
            .unwrap(),
    );
    assert_eq!(rotated.jkt.as_deref(), Some("thumbprint-1"));

    // Created bound, read back bound.
    let mut born_bound = session("alice", t0);
    born_bound.jkt = Some("thumbprint-3".into());
    create(&fx.store, &born_bound).await;
    assert_eq!(
        fx.store.load(&born_bound.id, t0).await.unwrap(),
        Some(born_bound.clone())
    );
    // A store that also keeps a subject index lists the binding too.
    if let Some(index) = fx.store.subject_index() {
        let listed = index.list("alice", t0).await.unwrap();
        assert!(
            listed
                .iter()
                .any(|l| l.jkt.as_deref() == Some("thumbprint-3"))
        );
    }
}

/// `bind` finds no session that is unknown or no longer live.
pub async fn bind_of_a_dead_session_is_none<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    let later = s.expires_at + Duration::from_secs(1);
    assert_eq!(
        dpop(&fx.store)
            .bind(&s.id, "k", "seal", later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        dpop(&fx.store)
            .bind(&SessionId::random(), "k", "seal", t0)
            .await
            .unwrap(),
        None
    );
}

/// `remember_proof` is a set-if-absent: `true` the first time, `false` while remembered,
/// `true` again once expired; keys are independent.
pub async fn remember_proof_is_set_if_absent_with_expiry<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let key = ReplayKey::from_bytes(random_bytes());
    let other = ReplayKey::from_bytes(random_bytes());
    let until = t0 + Duration::from_secs(120);
    assert!(
        dpop(&fx.store)
            .remember_proof(&key, until, t0)
            .await
            .unwrap()
    );
    assert!(
        !dpop(&fx.store)
            .remember_proof(&key, until, t0)
            .await
            .unwrap()
    );
    assert!(
        !dpop(&fx.store)
            .remember_proof(&key, until, t0 + Duration::from_secs(119))
            .await
            .unwrap()
    );
    assert!(
        dpop(&fx.store)
            .remember_proof(&other, until, t0)
            .await
            .unwrap()
    );
    // Once expired, a key counts as new. The expiry is short and waited out in real time, so
    // that a store which expires keys by its own clock (Redis) is held to it as well.
    let short = ReplayKey::from_bytes(random_bytes());
    let t1 = now_ms();
    let soon = t1 + Duration::from_millis(300);
    assert!(
        dpop(&fx.store)
            .remember_proof(&short, soon, t1)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t2 = now_ms();
    assert!(
        dpop(&fx.store)
            .remember_proof(&short, t2 + Duration::from_secs(60), t2)
            .await
            .unwrap(),
        "an expired proof is forgotten"
    );
}

/// N concurrent `remember_proof` calls for one key: exactly one `true`.
pub async fn concurrent_remember_proof_yields_one_winner<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    race_proof(&fx.store, &fx.store).await;
}

/// A proof remembered through one instance is a replay through the other.
pub async fn a_proof_remembered_by_one_instance_is_a_replay_on_the_other<
    S: RefreshStore + Clone,
>(
    fx: &Fixture<S>,
) {
    let second = fx.second.as_ref().expect("a second instance");
    let t0 = now_ms();
    let key = ReplayKey::from_bytes(random_bytes());
    let until = t0 + Duration::from_secs(120);
    assert!(
        dpop(&fx.store)
            .remember_proof(&key, until, t0)
            .await
            .unwrap()
    );
    assert!(!dpop(second).remember_proof(&key, until, t0).await.unwrap());
    race_proof(&fx.store, second).await;
}

async fn race_proof<S: RefreshStore + Clone>(a: &S, b: &S) {
    let t0 = now_ms();
    let key = ReplayKey::from_bytes(random_bytes());
    let until = t0 + Duration::from_secs(120);
    let mut tasks = Vec::new();
    for i in 0..PROOF_RACERS {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            dpop(&store).remember_proof(&key, until, t0).await.unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        if task.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "one proof, one acceptance");
}

fn random_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    let seed = SessionId::random();
    out.copy_from_slice(seed.as_bytes());
    out
}
