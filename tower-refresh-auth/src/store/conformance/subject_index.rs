//! The conformance tests of the [`SubjectIndex`](crate::store::SubjectIndex) capability: a
//! subject's session list and "log out everywhere".

use std::time::Duration;

use crate::session::{Session, SessionMetadata};
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
            let page = index(&fx.store)
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
    let first = index(&fx.store)
        .list_page("dora", now, 3, None)
        .await
        .unwrap();
    assert!(fx.store.revoke(&first.sessions[2].id).await.unwrap());
    let rest = index(&fx.store)
        .list_page("dora", now, 100, first.next.as_ref())
        .await
        .unwrap();
    assert_eq!(
        rest.sessions,
        want[3..],
        "after a cursor whose session has ended"
    );
    assert_eq!(rest.next, None);

    let nobody = index(&fx.store)
        .list_page("nobody", now, 10, None)
        .await
        .unwrap();
    assert_eq!((nobody.sessions.len(), nobody.next), (0, None));
}
