//! The conformance tests of the [`ReauthStore`](crate::store::ReauthStore) capability: a
//! rotation that also replaces the session's claims and seal, atomically.

use std::time::Duration;

use crate::session::Session;
use crate::store::{RefreshStore, Rotation};

use super::{Fixture, create, expect_rotated, now_ms, reauth, session};

/// How many tasks race to re-authenticate one session.
const RACERS: usize = 32;

/// `current` re-authenticated a second later: counter one on, new claims and seal, sliding
/// expiry renewed; everything else as it was.
fn reauthenticated(current: &Session) -> Session {
    let mut next = current.clone();
    next.counter = current.counter + 1;
    next.rotated_at = current.rotated_at + Duration::from_secs(1);
    next.expires_at = current.expires_at + Duration::from_secs(3600);
    next.claims = format!(r#"{{"role":"user","auth_time":{}}}"#, next.counter);
    next.seal = format!("the-seal-after-reauthentication-{}", next.counter);
    next
}

/// A re-authentication swaps the counter, `rotated_at`, the sliding expiry, the claims and
/// the seal, and nothing else (subject, creation, absolute expiry, binding, metadata); a
/// rotation goes on from the new counter.
pub async fn reauthenticate_swaps_counter_claims_and_seal_only<S: RefreshStore + Clone>(
    fx: &Fixture<S>,
) {
    let t0 = now_ms();
    let mut s = session("alice", t0);
    s.absolute_expires_at = Some(t0 + Duration::from_secs(86_400));
    s.jkt = Some("thumbprint".into());
    s.metadata = crate::session::SessionMetadata::new()
        .with_user_agent("Firefox/140.0")
        .with_label("laptop");
    create(&fx.store, &s).await;
    let next = reauthenticated(&s);
    let after = reauth(&fx.store)
        .reauthenticate(&s, &next, t0)
        .await
        .unwrap()
        .expect("a live session with the expected counter and seal is swapped");
    assert_eq!(after, next);
    assert_eq!(fx.store.load(&s.id, t0).await.unwrap(), Some(next.clone()));

    let rotated = expect_rotated(
        fx.store
            .rotate(&s.id, 1, 2, t0, t0 + Duration::from_secs(3600))
            .await
            .unwrap(),
    );
    assert_eq!((rotated.claims, rotated.seal), (next.claims, next.seal));
}

/// Nothing changes when the session moved since it was read (another counter, another seal),
/// when the next counter does not move forward, or when the session is unknown or dead.
pub async fn reauthenticate_of_a_moved_or_dead_session_changes_nothing<S: RefreshStore + Clone>(
    fx: &Fixture<S>,
) {
    let t0 = now_ms();
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    let store = reauth(&fx.store);

    let mut rotated_since = s.clone();
    rotated_since.counter = 5;
    let mut resealed_since = s.clone();
    resealed_since.seal = "another-seal".into();
    let mut backwards = reauthenticated(&s);
    backwards.counter = 0;
    let cases = [
        (
            "another counter",
            rotated_since.clone(),
            reauthenticated(&rotated_since),
            t0,
        ),
        (
            "another seal",
            resealed_since.clone(),
            reauthenticated(&resealed_since),
            t0,
        ),
        ("no move forward", s.clone(), backwards, t0),
        ("dead", s.clone(), reauthenticated(&s), s.expires_at),
    ];
    for (what, current, next, now) in cases {
        assert_eq!(
            store.reauthenticate(&current, &next, now).await.unwrap(),
            None,
            "{what}"
        );
        assert_eq!(
            fx.store.load(&s.id, t0).await.unwrap(),
            Some(s.clone()),
            "{what}"
        );
    }
    let unknown = session("alice", t0);
    assert_eq!(
        store
            .reauthenticate(&unknown, &reauthenticated(&unknown), t0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(fx.store.load(&unknown.id, t0).await.unwrap(), None);
}

/// Many tasks re-authenticating from the same state: exactly one swaps, and a rotation from
/// the old counter is a conflict afterwards.
pub async fn concurrent_reauthentications_yield_one_winner<S: RefreshStore + Clone>(
    fx: &Fixture<S>,
) {
    let t0 = now_ms();
    let s = session("alice", t0);
    create(&fx.store, &s).await;
    let mut tasks = Vec::with_capacity(RACERS);
    for i in 0..RACERS {
        let store = fx.store.clone();
        let current = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut next = reauthenticated(&current);
            next.seal = format!("seal-of-racer-{i}");
            reauth(&store)
                .reauthenticate(&current, &next, t0)
                .await
                .unwrap()
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        if let Some(after) = task.await.unwrap() {
            winners.push(after);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one re-authentication swaps");
    let stored = fx.store.load(&s.id, t0).await.unwrap().unwrap();
    assert_eq!(stored, winners[0]);
    assert!(matches!(
        fx.store
            .rotate(&s.id, 0, 1, t0, t0 + Duration::from_secs(3600))
            .await
            .unwrap(),
        Rotation::Conflict(_)
    ));
}
