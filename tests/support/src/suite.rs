//! The conformance tests, one generic async function each: the contract of
//! [`RefreshStore`] as every backend must honour it.
//!
//! Times start at the wall clock (truncated to milliseconds), so stores that also expire
//! data by their own clock (Redis) keep every key these tests use; expiry is tested by
//! passing a later `now`, which every store must check for itself.

use std::collections::BTreeSet;
use std::time::Duration;

use tower_refresh_auth::dpop::ReplayKey;
use tower_refresh_auth::session::{Session, SessionId, SessionMetadata};
use tower_refresh_auth::store::{RefreshStore, Rotation};

use crate::{Fixture, create, expect_conflict, expect_rotated, now_ms, session};

/// How many tasks race on one proof.
const PROOF_RACERS: usize = 64;

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
    assert_eq!(fx.store.revoke_subject("nobody").await.unwrap(), 0);
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
    assert_eq!(
        after,
        Session {
            seal: "another-seal".to_owned(),
            ..rotated
        }
    );
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

/// `revoke_subject` deletes every session of one subject, and only those.
pub async fn revoke_subject_spares_other_subjects<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let alice: Vec<_> = (0..3).map(|_| session("alice", t0)).collect();
    // Subjects that a sloppy prefix or pattern match would confuse with "alice".
    let others = [
        session("bob", t0),
        session("alice2", t0),
        session("Alice", t0),
    ];
    for s in alice.iter().chain(&others) {
        create(&fx.store, s).await;
    }
    // A rotated session is revoked too.
    expect_rotated(
        fx.store
            .rotate(&alice[0].id, 0, 1, t0, t0 + Duration::from_secs(60))
            .await
            .unwrap(),
    );

    assert_eq!(fx.store.revoke_subject("alice").await.unwrap(), 3);
    for s in &alice {
        assert_eq!(fx.store.load(&s.id, t0).await.unwrap(), None);
    }
    for s in &others {
        assert_eq!(fx.store.load(&s.id, t0).await.unwrap().as_ref(), Some(s));
    }
    assert_eq!(fx.store.revoke_subject("alice").await.unwrap(), 0);

    // A session created after the revocation is not affected by it.
    let fresh = session("alice", t0);
    create(&fx.store, &fresh).await;
    assert!(fx.store.load(&fresh.id, t0).await.unwrap().is_some());
}

/// `list` returns every live session of one subject — created, rotated, with and without
/// metadata — exactly as `load` would, and nothing of other subjects, revoked or dead.
pub async fn list_returns_the_live_sessions_of_one_subject<S: RefreshStore + Clone>(
    fx: &Fixture<S>,
) {
    let t0 = now_ms();
    let mut with_metadata = session("alice", t0);
    with_metadata.metadata = SessionMetadata::new()
        .with_user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0 «Zoë»")
        .with_label("work laptop");
    with_metadata.absolute_expires_at = Some(t0 + Duration::from_secs(7200));
    let plain = session("alice", t0);
    let rotated = session("alice", t0);
    let revoked = session("alice", t0);
    let others = [
        session("bob", t0),
        session("alice2", t0),
        session("Alice", t0),
    ];
    for s in [&with_metadata, &plain, &rotated, &revoked]
        .into_iter()
        .chain(&others)
    {
        create(&fx.store, s).await;
    }
    let t1 = t0 + Duration::from_secs(5);
    let rotated = expect_rotated(
        fx.store
            .rotate(&rotated.id, 0, 1, t1, t1 + Duration::from_secs(3600))
            .await
            .unwrap(),
    );
    assert!(fx.store.revoke(&revoked.id).await.unwrap());

    let mut listed = fx.store.list("alice", t1).await.unwrap();
    listed.sort_by_key(|s| s.id);
    let mut want = vec![with_metadata.clone(), plain, rotated];
    want.sort_by_key(|s| s.id);
    assert_eq!(listed, want);
    assert_eq!(
        fx.store.load(&with_metadata.id, t1).await.unwrap(),
        Some(with_metadata),
        "the metadata round-trips through load too"
    );
    assert_eq!(fx.store.list("nobody", t1).await.unwrap(), []);
}

/// Sessions past their expiry at the caller's `now` are not listed, whatever the backend's
/// own clock says.
pub async fn list_leaves_out_dead_sessions<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let short: Vec<_> = (0..5)
        .map(|_| {
            let mut s = session("carol", t0);
            s.expires_at = t0 + Duration::from_secs(60);
            s
        })
        .collect();
    let long = session("carol", t0);
    for s in short.iter().chain([&long]) {
        create(&fx.store, s).await;
    }
    assert_eq!(fx.store.list("carol", t0).await.unwrap().len(), 6);
    let later = t0 + Duration::from_secs(120);
    assert_eq!(fx.store.list("carol", later).await.unwrap(), [long]);
    // Past the long one's expiry too: nothing.
    let gone = t0 + Duration::from_secs(7200);
    assert_eq!(fx.store.list("carol", gone).await.unwrap(), []);
}

/// `list_page` pages a subject's live sessions newest first (by creation time in ms, then id
/// bytes, ties included), every one exactly once, `next` only when one follows; a cursor
/// whose session has ended since still finds the rest.
pub async fn list_page_pages_newest_first_once_each<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    // Three sessions in one millisecond, two in the next, two in the one after: ties are
    // told apart by id.
    let dora: Vec<_> = [0u64, 0, 0, 1, 1, 2, 2]
        .iter()
        .map(|&ms| session("dora", t0 + Duration::from_millis(ms)))
        .collect();
    let mut dead = session("dora", t0 + Duration::from_millis(3));
    dead.expires_at = t0 + Duration::from_secs(1);
    let revoked = session("dora", t0 + Duration::from_millis(4));
    let others = [session("dora2", t0), session("Dora", t0)];
    for s in dora.iter().chain([&dead, &revoked]).chain(&others) {
        create(&fx.store, s).await;
    }
    assert!(fx.store.revoke(&revoked.id).await.unwrap());
    let now = t0 + Duration::from_secs(2);
    // A rotation moves no session in the order.
    let rotated = expect_rotated(
        fx.store
            .rotate(&dora[0].id, 0, 1, now, now + Duration::from_secs(3600))
            .await
            .unwrap(),
    );
    let mut want: Vec<Session> = dora.clone();
    want[0] = rotated;
    want.sort_by_key(|s| std::cmp::Reverse((s.created_at, *s.id.as_bytes())));

    for limit in [1, 2, 3, 7, 8, 100] {
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = fx
                .store
                .list_page("dora", now, limit, after.as_ref())
                .await
                .unwrap();
            pages += 1;
            assert!(page.sessions.len() <= limit, "limit {limit}");
            assert!(
                !page.sessions.is_empty() || seen.is_empty(),
                "an empty page after a cursor"
            );
            seen.extend(page.sessions);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
            assert!(pages <= want.len(), "limit {limit}: pages never end");
        }
        assert_eq!(seen, want, "limit {limit}");
        assert_eq!(
            pages,
            want.len().div_ceil(limit),
            "limit {limit}: `next` only when one follows"
        );
    }

    // The session a cursor names ends before the next page is asked for: the rest still come.
    let first = fx.store.list_page("dora", now, 3, None).await.unwrap();
    assert!(fx.store.revoke(&first.sessions[2].id).await.unwrap());
    let rest = fx
        .store
        .list_page("dora", now, 100, first.next.as_ref())
        .await
        .unwrap();
    assert_eq!(
        rest.sessions,
        want[3..],
        "after a cursor whose session has ended"
    );
    assert_eq!(rest.next, None);

    let nobody = fx.store.list_page("nobody", now, 10, None).await.unwrap();
    assert_eq!((nobody.sessions.len(), nobody.next), (0, None));
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
        assert_eq!(fx.store.revoke_subject(&s.subject).await.unwrap(), 1);
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
    assert_eq!(second.revoke_subject("alice").await.unwrap(), 1);
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

/// `bind` sets the key and the seal of an unbound live session, and only those; a bound
/// session keeps its key; a session created unbound reads back with no key.
pub async fn bind_sets_the_key_once_and_old_rows_read_unbound<S: RefreshStore + Clone>(
    fx: &Fixture<S>,
) {
    let t0 = now_ms();
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    assert_eq!(fx.store.load(&s.id, t0).await.unwrap().unwrap().jkt, None);

    let bound = fx
        .store
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
    let again = fx
        .store
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
    let listed = fx.store.list("alice", t0).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|l| l.jkt.as_deref() == Some("thumbprint-3"))
    );
}

/// `bind` finds no session that is unknown or no longer live.
pub async fn bind_of_a_dead_session_is_none<S: RefreshStore + Clone>(fx: &Fixture<S>) {
    let t0 = now_ms();
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    let later = s.expires_at + Duration::from_secs(1);
    assert_eq!(
        fx.store.bind(&s.id, "k", "seal", later).await.unwrap(),
        None
    );
    assert_eq!(
        fx.store
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
    assert!(fx.store.remember_proof(&key, until, t0).await.unwrap());
    assert!(!fx.store.remember_proof(&key, until, t0).await.unwrap());
    assert!(
        !fx.store
            .remember_proof(&key, until, t0 + Duration::from_secs(119))
            .await
            .unwrap()
    );
    assert!(fx.store.remember_proof(&other, until, t0).await.unwrap());
    // Once expired, a key counts as new. The expiry is short and waited out in real time, so
    // that a store which expires keys by its own clock (Redis) is held to it as well.
    let short = ReplayKey::from_bytes(random_bytes());
    let t1 = now_ms();
    let soon = t1 + Duration::from_millis(300);
    assert!(fx.store.remember_proof(&short, soon, t1).await.unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t2 = now_ms();
    assert!(
        fx.store
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
    assert!(fx.store.remember_proof(&key, until, t0).await.unwrap());
    assert!(!second.remember_proof(&key, until, t0).await.unwrap());
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
            store.remember_proof(&key, until, t0).await.unwrap()
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
