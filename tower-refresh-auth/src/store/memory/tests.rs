//! The [`MemoryStore`]'s own tests (the conformance suite runs beside them).

use super::*;
use std::time::UNIX_EPOCH;

use crate::store::ReplayKey;

fn session(subject: &str, t0: SystemTime) -> Session {
    Session {
        id: SessionId::random(),
        subject: subject.into(),
        claims: "{}".into(),
        counter: 0,
        created_at: t0,
        rotated_at: t0,
        expires_at: t0 + Duration::from_secs(60),
        absolute_expires_at: None,
        seal: String::new(),
        jkt: None,
        metadata: crate::session::SessionMetadata::new(),
    }
}

#[tokio::test]
async fn sweeps_expired_sessions_on_create() {
    let store = MemoryStore::with_sweep_interval(Duration::from_secs(10));
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
    for _ in 0..100 {
        store.create(&session("a", t0)).await.unwrap();
    }
    assert_eq!(store.len(), 100);
    // Two minutes later every earlier session has expired; the next create sweeps.
    store
        .create(&session("b", t0 + Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn revoke_subject_leaves_other_users_alone() {
    let store = MemoryStore::new();
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
    for _ in 0..3 {
        store.create(&session("alice", t0)).await.unwrap();
    }
    let bob = session("bob", t0);
    store.create(&bob).await.unwrap();
    assert_eq!(store.revoke_subject("alice").await.unwrap(), 3);
    assert!(store.load(&bob.id, t0).await.unwrap().is_some());
}

/// How many subjects the index holds (a test of the index's housekeeping).
fn indexed_subjects(store: &MemoryStore) -> usize {
    store.inner.subjects.len()
}

#[tokio::test]
async fn the_subject_index_follows_every_removal() {
    let store = MemoryStore::with_sweep_interval(Duration::from_secs(10));
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let a = session("a", t0);
    let b = session("b", t0);
    let c = session("c", t0);
    for s in [&a, &b, &c] {
        store.create(s).await.unwrap();
    }
    assert_eq!(indexed_subjects(&store), 3);
    assert!(store.revoke(&a.id).await.unwrap());
    assert_eq!(store.revoke_subject("b").await.unwrap(), 1);
    assert_eq!(indexed_subjects(&store), 1);
    // A dead session found by a rotation, a listing or the sweep leaves the index too.
    let later = t0 + Duration::from_secs(61);
    assert_eq!(
        store.rotate(&c.id, 0, 1, later, later).await.unwrap(),
        Rotation::NotFound
    );
    assert_eq!(indexed_subjects(&store), 0);
    let d = session("d", t0);
    store.create(&d).await.unwrap();
    assert!(store.list("d", later).await.unwrap().is_empty());
    assert_eq!((indexed_subjects(&store), store.len()), (0, 0));
    let e = session("e", t0);
    store.create(&e).await.unwrap();
    store
        .create(&session("f", later + Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!((indexed_subjects(&store), store.len()), (1, 1));
}

#[tokio::test]
async fn listing_one_subject_reads_only_its_sessions() {
    let store = MemoryStore::new();
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
    for i in 0..200 {
        store.create(&session(&format!("u{i}"), t0)).await.unwrap();
    }
    let mine: Vec<_> = (0..5u64)
        .map(|i| session("me", t0 + Duration::from_millis(i)))
        .collect();
    for s in &mine {
        store.create(s).await.unwrap();
    }
    let page = store.list_page("me", t0, 3, None).await.unwrap();
    let ids: Vec<_> = page.sessions.iter().map(|s| s.id).collect();
    assert_eq!(ids, [mine[4].id, mine[3].id, mine[2].id]);
    let rest = store
        .list_page("me", t0, 3, page.next.as_ref())
        .await
        .unwrap();
    let ids: Vec<_> = rest.sessions.iter().map(|s| s.id).collect();
    assert_eq!(ids, [mine[1].id, mine[0].id]);
    assert_eq!(rest.next, None);
    assert_eq!(store.revoke_subject("me").await.unwrap(), 5);
    assert_eq!(store.len(), 200);
}

#[tokio::test]
async fn a_full_proof_memory_refuses_rather_than_forgets() {
    let store = MemoryStore::new().with_proofs_capacity(2);
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let until = t0 + Duration::from_secs(60);
    let key = |b| ReplayKey::from_bytes([b; 16]);
    assert!(store.remember_proof(&key(1), until, t0).await.unwrap());
    assert!(store.remember_proof(&key(2), until, t0).await.unwrap());
    // Full of live entries: a new proof is refused, as a replay would be.
    assert!(!store.remember_proof(&key(3), until, t0).await.unwrap());
    // Once they expire, they make room.
    let later = until + Duration::from_secs(1);
    assert!(
        store
            .remember_proof(&key(3), later + Duration::from_secs(60), later)
            .await
            .unwrap()
    );
    assert_eq!(store.proofs_len(), 1);
}

#[tokio::test]
async fn expired_session_is_not_found() {
    let store = MemoryStore::new();
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let s = session("a", t0);
    store.create(&s).await.unwrap();
    let later = t0 + Duration::from_secs(61);
    assert_eq!(
        store.rotate(&s.id, 0, 1, later, later).await.unwrap(),
        Rotation::NotFound
    );
    assert!(store.load(&s.id, later).await.unwrap().is_none());
}
