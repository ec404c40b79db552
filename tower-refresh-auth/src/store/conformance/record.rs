//! The conformance tests of the core operations every [`RefreshStore`] does: create, load,
//! the compare-and-swap rotation, revoke and reseal.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::session::SessionId;
use crate::store::{RefreshStore, Rotation};

use super::{Fixture, create, expect_conflict, expect_rotated, now_ms, session};

/// How many tasks race on one counter.
const RACERS: usize = 256;

/// A created session loads back exactly as it was written.
pub async fn create_then_load<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let mut s = session("alice", t0);
    s.counter = 41;
    s.absolute_expires_at = Some(t0 + Duration::from_secs(7200));
    create(&fx.store, &s).await;
    assert_eq!(fx.store.load(&s.id, t0).await.unwrap(), Some(s.clone()));

    // Without an absolute expiry too.
    let plain = session("alice", t0);
    create(&fx.store, &plain).await;
    assert_eq!(fx.store.load(&plain.id, t0).await.unwrap(), Some(plain));
}

/// The compare-and-swap succeeds on the current counter and moves exactly what it should.
pub async fn rotate_moves_counter_and_sliding_expiry<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let mut s = session("alice", t0);
    s.absolute_expires_at = Some(t0 + Duration::from_secs(7200));
    create(&fx.store, &s).await;

    let t1 = t0 + Duration::from_secs(30);
    let new_expiry = t1 + Duration::from_secs(3600);
    let rotated = expect_rotated(fx.store.rotate(&s.id, 0, 1, t1, new_expiry).await.unwrap());
    let mut want = s.clone();
    want.counter = 1;
    want.rotated_at = t1;
    want.expires_at = new_expiry;
    assert_eq!(rotated, want);
    assert_eq!(fx.store.load(&s.id, t1).await.unwrap(), Some(want.clone()));

    // And again from the new counter.
    let t2 = t1 + Duration::from_secs(30);
    let rotated = expect_rotated(fx.store.rotate(&s.id, 1, 2, t2, new_expiry).await.unwrap());
    assert_eq!(rotated.counter, 2);
    assert_eq!(rotated.rotated_at, t2);
    assert_eq!(rotated.created_at, t0, "created_at never moves");
    assert_eq!(
        rotated.absolute_expires_at, s.absolute_expires_at,
        "nor the absolute expiry"
    );
}

/// A counter that does not match (spent or from the future) changes nothing and reports
/// the session as it is.
pub async fn stale_counter_conflicts_and_changes_nothing<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    let t1 = t0 + Duration::from_secs(5);
    let current = expect_rotated(
        fx.store
            .rotate(&s.id, 0, 1, t1, t1 + Duration::from_secs(3600))
            .await
            .unwrap(),
    );

    let t2 = t1 + Duration::from_secs(5);
    for expected in [0, 2, 7, u64::MAX] {
        let conflict = expect_conflict(
            fx.store
                .rotate(
                    &s.id,
                    expected,
                    expected.saturating_add(1),
                    t2,
                    t2 + Duration::from_secs(9999),
                )
                .await
                .unwrap(),
        );
        assert_eq!(conflict, current, "expected = {expected}");
    }
    assert_eq!(fx.store.load(&s.id, t2).await.unwrap(), Some(current));
}

/// The swap sets any larger counter asked for (a roll-forward), exactly, past 2^53 too; a
/// counter never moves back, nor stays put.
pub async fn rotate_jumps_forward_and_never_back<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    let expiry = t0 + Duration::from_secs(3600);

    let jumped = expect_rotated(fx.store.rotate(&s.id, 0, 7, t0, expiry).await.unwrap());
    assert_eq!(jumped.counter, 7);
    assert_eq!(
        fx.store.load(&s.id, t0).await.unwrap(),
        Some(jumped.clone())
    );
    // Past 2^53 (a float would round it) and near the top of i64 (the SQL stores' range).
    let big = (1u64 << 53) + 1;
    let jumped = expect_rotated(fx.store.rotate(&s.id, 7, big, t0, expiry).await.unwrap());
    assert_eq!(jumped.counter, big);
    let top = i64::MAX as u64;
    let jumped = expect_rotated(fx.store.rotate(&s.id, big, top, t0, expiry).await.unwrap());
    assert_eq!(jumped.counter, top);

    // Back, or nowhere: a conflict that changes nothing.
    for next in [top, top - 1, 0] {
        let conflict =
            expect_conflict(fx.store.rotate(&s.id, top, next, t0, expiry).await.unwrap());
        assert_eq!(conflict, jumped, "next = {next}");
    }
    assert_eq!(fx.store.load(&s.id, t0).await.unwrap(), Some(jumped));
}

/// Ids that were never stored are missing everywhere.
pub async fn unknown_id_is_not_found<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    // Something else is stored, so "not found" is not just "the store is empty".
    create(&fx.store, &session("alice", t0)).await;
    let unknown = SessionId::random();
    assert_eq!(fx.store.load(&unknown, t0).await.unwrap(), None);
    assert_eq!(
        fx.store.rotate(&unknown, 0, 1, t0, t0).await.unwrap(),
        Rotation::NotFound
    );
    assert!(!fx.store.revoke(&unknown).await.unwrap());
}

/// From its sliding expiry on, a session is missing for `load` and `rotate`.
pub async fn sliding_expiry_reads_as_missing<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    let last_live = s.expires_at - Duration::from_millis(1);
    assert!(fx.store.load(&s.id, last_live).await.unwrap().is_some());

    for now in [s.expires_at, s.expires_at + Duration::from_secs(60)] {
        assert_eq!(fx.store.load(&s.id, now).await.unwrap(), None);
        assert_eq!(
            fx.store
                .rotate(&s.id, 0, 1, now, now + Duration::from_secs(3600))
                .await
                .unwrap(),
            Rotation::NotFound,
            "an expired session cannot be revived by rotating it"
        );
    }
    // Nor did the refused rotation revive it.
    assert_eq!(fx.store.load(&s.id, s.expires_at).await.unwrap(), None);
}

/// From its absolute expiry on, a session is missing even while its sliding expiry is ahead,
/// and rotating never moves the absolute expiry.
pub async fn absolute_expiry_reads_as_missing<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let mut s = session("alice", t0);
    let absolute = t0 + Duration::from_secs(600);
    s.absolute_expires_at = Some(absolute);
    create(&fx.store, &s).await;

    // Rotating just before the absolute expiry pushes the sliding expiry past it...
    let t1 = absolute - Duration::from_millis(1);
    let rotated = expect_rotated(
        fx.store
            .rotate(&s.id, 0, 1, t1, t1 + Duration::from_secs(3600))
            .await
            .unwrap(),
    );
    assert_eq!(rotated.absolute_expires_at, Some(absolute));

    // ...but the session still ends at the absolute expiry.
    assert_eq!(fx.store.load(&s.id, absolute).await.unwrap(), None);
    assert_eq!(
        fx.store
            .rotate(&s.id, 1, 2, absolute, absolute + Duration::from_secs(3600))
            .await
            .unwrap(),
        Rotation::NotFound
    );
}

/// `revoke` deletes exactly one session, once.
pub async fn revoke_deletes_one_session<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let gone = session("alice", t0);
    let kept = session("alice", t0);
    create(&fx.store, &gone).await;
    create(&fx.store, &kept).await;

    assert!(fx.store.revoke(&gone.id).await.unwrap());
    assert_eq!(fx.store.load(&gone.id, t0).await.unwrap(), None);
    assert_eq!(
        fx.store
            .rotate(&gone.id, 0, 1, t0, t0 + Duration::from_secs(60))
            .await
            .unwrap(),
        Rotation::NotFound
    );
    assert!(!fx.store.revoke(&gone.id).await.unwrap(), "already revoked");
    assert_eq!(fx.store.load(&kept.id, t0).await.unwrap(), Some(kept));
}

/// `reseal` replaces the seal of one existing session and touches nothing else; it never
/// creates a session.
pub async fn reseal_replaces_the_seal_only<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let resealed = session("alice", t0);
    let other = session("alice", t0);
    create(&fx.store, &resealed).await;
    create(&fx.store, &other).await;
    let rotated = expect_rotated(
        fx.store
            .rotate(&resealed.id, 0, 1, t0, t0 + Duration::from_secs(60))
            .await
            .unwrap(),
    );

    assert!(fx.store.reseal(&resealed.id, "another-seal").await.unwrap());
    let after = fx.store.load(&resealed.id, t0).await.unwrap().unwrap();
    assert_eq!(after, {
        let mut resealed = rotated.clone();
        resealed.seal = "another-seal".to_owned();
        resealed
    });
    assert_eq!(fx.store.load(&other.id, t0).await.unwrap(), Some(other));

    let unknown = SessionId::random();
    assert!(!fx.store.reseal(&unknown, "x").await.unwrap());
    assert_eq!(fx.store.load(&unknown, t0).await.unwrap(), None);
    assert!(fx.store.revoke(&resealed.id).await.unwrap());
    assert!(
        !fx.store.reseal(&resealed.id, "x").await.unwrap(),
        "revoked"
    );
    assert_eq!(fx.store.load(&resealed.id, t0).await.unwrap(), None);
}

/// Claims and subjects come back byte for byte, whatever they hold.
pub async fn claims_and_subject_round_trip_byte_for_byte<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let claims = [
        r#"{}"#.to_owned(),
        r#"{"name":"Zoë Ω","city":"東京","crab":"🦀","rtl":"שלום"}"#.to_owned(),
        // Escapes, quotes, SQL and Lua metacharacters, a NUL escape, odd whitespace.
        "{\"q\":\"it's \\\"quoted\\\"\\n\\t\\\\\",\"sql\":\"'); DROP TABLE x;--\",\"lua\":\"]]..[[\",\"nul\":\"\\u0000\"}\r\n ".to_owned(),
        // Not canonical JSON: key order and spacing must survive.
        "{ \"b\" : 1 ,\"a\":[1,2,{}] }".to_owned(),
        format!(r#"{{"big":"{}"}}"#, "x".repeat(64 * 1024)),
    ];
    for (i, claims) in claims.into_iter().enumerate() {
        let mut s = session(&format!("ünïcode-subject-{i}-{{tag}}:*"), t0);
        s.claims = claims;
        create(&fx.store, &s).await;
        let loaded = fx.store.load(&s.id, t0).await.unwrap().expect("stored");
        assert_eq!(loaded.claims.as_bytes(), s.claims.as_bytes(), "claims #{i}");
        assert_eq!(
            loaded.subject.as_bytes(),
            s.subject.as_bytes(),
            "subject #{i}"
        );
        let rotated = expect_rotated(
            fx.store
                .rotate(&s.id, 0, 1, t0, t0 + Duration::from_secs(60))
                .await
                .unwrap(),
        );
        assert_eq!(rotated.claims, s.claims, "claims #{i} after rotate");
        assert!(fx.store.revoke(&s.id).await.unwrap(), "revoke #{i}");
    }
}

/// Many tasks rotating the same counter at once: exactly one wins.
pub async fn concurrent_rotations_yield_one_winner<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    race(&fx.store, &fx.store).await;
}

/// Two instances (separate connections) rotating the same counter at once: exactly one wins.
pub async fn concurrent_rotations_across_instances_yield_one_winner<S: RefreshStore + Clone>(
    fx: &Fixture<S>,
) {
    let second = fx
        .second
        .as_ref()
        .expect("this fixture has a second instance");
    race(&fx.store, second).await;
}

/// What one instance writes, the other reads and rotates.
pub async fn second_instance_sees_first_instances_writes<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let second = fx
        .second
        .as_ref()
        .expect("this fixture has a second instance");
    let t0 = now_ms();
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    assert_eq!(second.load(&s.id, t0).await.unwrap().as_ref(), Some(&s));
    let rotated = expect_rotated(
        second
            .rotate(&s.id, 0, 1, t0, t0 + Duration::from_secs(60))
            .await
            .unwrap(),
    );
    assert_eq!(
        expect_conflict(
            fx.store
                .rotate(&s.id, 0, 1, t0, t0 + Duration::from_secs(60))
                .await
                .unwrap()
        ),
        rotated
    );
    assert!(second.revoke(&s.id).await.unwrap());
    assert_eq!(fx.store.load(&s.id, t0).await.unwrap(), None);
}

/// [`RACERS`] tasks, alternating between `a` and `b`, rotate one fresh session from
/// counter 0 at once.
async fn race<S: RefreshStore + Clone>(a: &S, b: &S) {
    let t0 = now_ms();
    let s = session("alice", t0);
    create(a, &s).await;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let start = start.clone();
            let id = s.id;
            tokio::spawn(async move {
                start.wait().await;
                let now = t0 + Duration::from_millis(i as u64);
                store
                    .rotate(&id, 0, 1, now, now + Duration::from_secs(60))
                    .await
            })
        })
        .collect();

    let mut winners = Vec::new();
    let mut losers = BTreeSet::new();
    for task in tasks {
        match task.await.expect("task panicked").expect("rotate failed") {
            Rotation::Rotated(session) => winners.push(session),
            Rotation::Conflict(session) => {
                losers.insert((session.counter, session.rotated_at));
            }
            Rotation::NotFound => panic!("the session vanished"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation wins: {winners:?}");
    let winner = &winners[0];
    assert_eq!(winner.counter, 1);
    // Every loser saw the winner's state, never the one before it.
    assert_eq!(
        losers.into_iter().collect::<Vec<_>>(),
        vec![(1, winner.rotated_at)]
    );
    let stored = a.load(&s.id, t0).await.unwrap().expect("still live");
    assert_eq!(stored.counter, 1, "the counter moved by exactly one");
    assert_eq!(&stored, winner);
}

/// `rotate_unbound` swaps an unbound session as `rotate` does, and leaves a session bound to a
/// DPoP key exactly as it was, reporting a conflict with the session: a bound session is never
/// rotated by a request without its key, whatever the instance's DPoP mode.
pub async fn rotate_unbound_leaves_a_bound_session_alone<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let later = t0 + Duration::from_secs(3600);
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    let rotated = expect_rotated(
        fx.store
            .rotate_unbound(&s.id, 0, 1, t0, later)
            .await
            .unwrap(),
    );
    assert_eq!(rotated.counter, 1);

    let mut bound = session("alice", t0);
    bound.jkt = Some("thumbprint-1".into());
    create(&fx.store, &bound).await;
    let before = fx.store.load(&bound.id, t0).await.unwrap().unwrap();
    match fx
        .store
        .rotate_unbound(&bound.id, 0, 1, t0, later)
        .await
        .unwrap()
    {
        Rotation::Conflict(session) => assert_eq!(session, before),
        other => panic!("a bound session was swapped: {other:?}"),
    }
    assert_eq!(fx.store.load(&bound.id, t0).await.unwrap(), Some(before));
    assert_eq!(
        fx.store
            .rotate_unbound(&SessionId::random(), 0, 1, t0, later)
            .await
            .unwrap(),
        Rotation::NotFound
    );
    // The plain swap still rotates it (a request with the key).
    let rotated = expect_rotated(fx.store.rotate(&bound.id, 0, 1, t0, later).await.unwrap());
    assert_eq!(rotated.jkt.as_deref(), Some("thumbprint-1"));
}
