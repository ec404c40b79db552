//! The conformance tests of the [`SubjectIndex`](crate::store::SubjectIndex) capability: a
//! subject's session list and "log out everywhere".

use std::time::Duration;

use crate::session::SessionMetadata;
use crate::store::RefreshStore;

use super::{Fixture, create, expect_rotated, index, now_ms, session};

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

    assert_eq!(index(&fx.store).revoke_subject("alice").await.unwrap(), 3);
    for s in &alice {
        assert_eq!(fx.store.load(&s.id, t0).await.unwrap(), None);
    }
    for s in &others {
        assert_eq!(fx.store.load(&s.id, t0).await.unwrap().as_ref(), Some(s));
    }
    assert_eq!(index(&fx.store).revoke_subject("alice").await.unwrap(), 0);
    assert_eq!(index(&fx.store).revoke_subject("nobody").await.unwrap(), 0);

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

    let mut listed = index(&fx.store).list("alice", t1).await.unwrap();
    listed.sort_by_key(|s| s.id);
    let mut want = vec![with_metadata.clone(), plain, rotated];
    want.sort_by_key(|s| s.id);
    assert_eq!(listed, want);
    assert_eq!(
        fx.store.load(&with_metadata.id, t1).await.unwrap(),
        Some(with_metadata),
        "the metadata round-trips through load too"
    );
    assert_eq!(index(&fx.store).list("nobody", t1).await.unwrap(), []);
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
    assert_eq!(index(&fx.store).list("carol", t0).await.unwrap().len(), 6);
    let later = t0 + Duration::from_secs(120);
    assert_eq!(index(&fx.store).list("carol", later).await.unwrap(), [long]);
    // Past the long one's expiry too: nothing.
    let gone = t0 + Duration::from_secs(7200);
    assert_eq!(index(&fx.store).list("carol", gone).await.unwrap(), []);
}
