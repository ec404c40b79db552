//! What only the Redis store does: its key layout, key expiry, the subject index's
//! housekeeping, and reloading its scripts after the server forgot them.
//!
//! Run with `REDIS_URL=redis://127.0.0.1:6379 cargo test -p tower-refresh-auth-tests
//! --test redis_store -- --include-ignored` (every test here is `#[ignore]`d without it). The
//! test that flushes the scripts runs a `redis-server` of its own: `SCRIPT FLUSH` is
//! server-wide.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tower_refresh_auth::store::{DpopStore, RedisStore, RefreshStore, SubjectIndex};
use tower_refresh_auth_test_support::fixtures::DeleteKeysOnDrop;
use tower_refresh_auth_test_support::{
    create, expect_rotated, now_ms, run_id, service_url, session,
};
use tower_refresh_auth_tests::server::RedisServer;

/// A store with a prefix of its own, a plain connection to inspect what it wrote, and a
/// guard that deletes its keys.
async fn setup(test: &str) -> (RedisStore, MultiplexedConnection, String, DeleteKeysOnDrop) {
    setup_on(&service_url("REDIS_URL"), test).await
}

/// [`setup`] on the server at `url`.
async fn setup_on(
    url: &str,
    test: &str,
) -> (RedisStore, MultiplexedConnection, String, DeleteKeysOnDrop) {
    let prefix = format!("tra-test:{test}:{}", run_id());
    let store = RedisStore::connect(url)
        .await
        .unwrap()
        .with_key_prefix(&prefix);
    let conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let guard = DeleteKeysOnDrop::new(url, &prefix);
    (store, conn, prefix, guard)
}

async fn pttl(conn: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

async fn zcard(conn: &mut MultiplexedConnection, key: &str) -> u64 {
    redis::cmd("ZCARD")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

/// Backdates every entry of a subject's index to the epoch, as if added long ago.
async fn age_index(conn: &mut MultiplexedConnection, key: &str) {
    let ids: Vec<String> = redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .unwrap();
    for id in ids {
        redis::cmd("ZADD")
            .arg(key)
            .arg("XX")
            .arg(0)
            .arg(id)
            .exec_async(conn)
            .await
            .unwrap();
    }
}

/// `expected` ± 5 s, in milliseconds.
#[track_caller]
fn assert_about(ttl_ms: i64, expected: Duration) {
    let expected = i64::try_from(expected.as_millis()).unwrap();
    assert!(
        (expected - 5_000..=expected).contains(&ttl_ms),
        "TTL {ttl_ms} ms, expected about {expected} ms"
    );
}

#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn keys_are_tagged_and_expire_at_the_session_deadline() {
    let (store, mut conn, prefix, _keys) = setup("layout").await;
    let t0 = now_ms();
    let mut s = session("carol", t0);
    s.expires_at = t0 + Duration::from_secs(3600);
    s.absolute_expires_at = Some(t0 + Duration::from_secs(1800));
    create(&store, &s).await;

    let session_key = format!("{prefix}:s:{{{}}}", s.id);
    let index_key = format!("{prefix}:u:{{carol}}");
    // The earlier of the two expiries.
    assert_about(
        pttl(&mut conn, &session_key).await,
        Duration::from_secs(1800),
    );
    // The index lives as long as the latest absolute expiry.
    assert_about(pttl(&mut conn, &index_key).await, Duration::from_secs(1800));

    // Rotation slides the key's expiry, never past the absolute one.
    expect_rotated(
        store
            .rotate(&s.id, 0, 1, t0, t0 + Duration::from_secs(600))
            .await
            .unwrap(),
    );
    assert_about(
        pttl(&mut conn, &session_key).await,
        Duration::from_secs(600),
    );
    expect_rotated(
        store
            .rotate(&s.id, 1, 2, t0, t0 + Duration::from_secs(7200))
            .await
            .unwrap(),
    );
    assert_about(
        pttl(&mut conn, &session_key).await,
        Duration::from_secs(1800),
    );

    // A session without an absolute expiry can slide for ever: its index must not expire.
    create(&store, &session("carol", t0)).await;
    assert_eq!(pttl(&mut conn, &index_key).await, -1);
}

#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn subject_index_is_pruned_as_it_grows() {
    let (store, mut conn, prefix, _keys) = setup("prune").await;
    let t0 = now_ms();
    let index_key = format!("{prefix}:u:{{dave}}");
    let sessions: Vec<_> = (0..31).map(|_| session("dave", t0)).collect();
    for s in &sessions {
        create(&store, s).await;
    }
    // Revoked one by one, the sessions leave their ids behind in the index...
    for s in &sessions[1..] {
        assert!(store.revoke(&s.id).await.unwrap());
    }
    assert_eq!(zcard(&mut conn, &index_key).await, 31);
    age_index(&mut conn, &index_key).await;
    // ...until a create finds 32 ids and drops the old ones whose session is gone.
    create(&store, &session("dave", t0)).await;
    assert_eq!(zcard(&mut conn, &index_key).await, 2);

    // revoke_subject drops the old entries it read; the new one stays until it is old.
    assert_eq!(store.revoke_subject("dave").await.unwrap(), 2);
    assert_eq!(zcard(&mut conn, &index_key).await, 1);
    age_index(&mut conn, &index_key).await;
    assert_eq!(store.revoke_subject("dave").await.unwrap(), 0);
    assert_eq!(zcard(&mut conn, &index_key).await, 0);
}

/// `list` drops from the index the old ids whose session is gone, so a subject with many
/// dead sessions costs its live ones only, from the next listing on; an id too young to drop
/// (its session may still be on its way) stays.
#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn list_prunes_the_index_of_sessions_that_are_gone() {
    let (store, mut conn, prefix, _keys) = setup("list-prune").await;
    let t0 = now_ms();
    let index_key = format!("{prefix}:u:{{erin}}");
    let sessions: Vec<_> = (0..20).map(|_| session("erin", t0)).collect();
    for s in &sessions {
        create(&store, s).await;
    }
    for s in &sessions[2..] {
        assert!(store.revoke(&s.id).await.unwrap());
    }
    // Young entries stay, though their sessions are gone.
    assert_eq!(store.list("erin", t0).await.unwrap().len(), 2);
    assert_eq!(zcard(&mut conn, &index_key).await, 20);
    age_index(&mut conn, &index_key).await;
    let mut listed: Vec<_> = store.list("erin", t0).await.unwrap();
    listed.sort_by_key(|s| s.id);
    let mut live = sessions[..2].to_vec();
    live.sort_by_key(|s| s.id);
    assert_eq!(listed, live);
    assert_eq!(
        zcard(&mut conn, &index_key).await,
        2,
        "the 18 dead ids are dropped"
    );
}

/// `create` indexes a session an instant before it writes it. A `revoke_subject` landing in
/// between must keep the entry, or the session would escape every later one.
#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn a_session_written_after_its_index_entry_is_not_lost() {
    let (store, mut conn, prefix, _keys) = setup("in-flight").await;
    let t0 = now_ms();
    let s = session("frida", t0);
    create(&store, &s).await;
    // Take the session out, as if its write had not landed yet...
    let key = format!("{prefix}:s:{{{}}}", s.id);
    let dump: Vec<u8> = redis::cmd("DUMP")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    redis::cmd("DEL")
        .arg(&key)
        .exec_async(&mut conn)
        .await
        .unwrap();

    // ...log out everywhere meanwhile: nothing to delete yet...
    assert_eq!(store.revoke_subject("frida").await.unwrap(), 0);

    // ...then the write lands. The next "log out everywhere" still finds it.
    redis::cmd("RESTORE")
        .arg(&key)
        .arg(0)
        .arg(dump)
        .exec_async(&mut conn)
        .await
        .unwrap();
    assert!(store.load(&s.id, t0).await.unwrap().is_some());
    assert_eq!(store.revoke_subject("frida").await.unwrap(), 1);
    assert!(store.load(&s.id, t0).await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs redis-server (see tests/support/README.md)"]
async fn scripts_are_reloaded_after_the_server_forgets_them() {
    // `SCRIPT FLUSH` is server-wide: on a shared server it would make every other run's
    // scripts reload and skew their counts. A server of its own.
    let server = RedisServer::start();
    let (store, mut conn, _, _keys) = setup_on(&server.url(), "noscript").await;
    let t0 = now_ms();
    let flush = || redis::cmd("SCRIPT").arg("FLUSH").to_owned();

    flush().exec_async(&mut conn).await.unwrap();
    let s = session("erin", t0);
    create(&store, &s).await; // a pipeline of scripts

    flush().exec_async(&mut conn).await.unwrap();
    expect_rotated(
        store
            .rotate(&s.id, 0, 1, t0, t0 + Duration::from_secs(60))
            .await
            .unwrap(),
    ); // a single script

    flush().exec_async(&mut conn).await.unwrap();
    assert_eq!(store.revoke_subject("erin").await.unwrap(), 1); // ZRANGE, then scripts
}

/// Issue 24: the spent DPoP proofs of one key live in one sorted set on one slot, capped per
/// key: a key past its share is refused, another key is not, a replay is refused, and the set
/// expires with its last proof. (Before, each proof was a key of its own, without bound.)
#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn spent_proofs_are_one_capped_set_per_key() {
    use tower_refresh_auth::store::ReplayKey;
    let (store, mut conn, prefix, _guard) = setup("proofs_per_key").await;
    let store = store.with_proofs_per_key(4);
    let t0 = now_ms();
    let until = t0 + Duration::from_secs(120);
    let partition = *b"attacker";
    let mine = |n: u8| ReplayKey::from_parts(partition, [n; 16]);
    for n in 0..4 {
        assert!(store.remember_proof(&mine(n), until, t0).await.unwrap());
    }
    assert!(
        !store.remember_proof(&mine(0), until, t0).await.unwrap(),
        "a replay"
    );
    assert!(
        !store.remember_proof(&mine(9), until, t0).await.unwrap(),
        "over its share"
    );
    let other = ReplayKey::from_parts(*b"victim!!", [1; 16]);
    assert!(
        store.remember_proof(&other, until, t0).await.unwrap(),
        "another key"
    );
    let set = format!("{prefix}:pk:{{{}}}", mine(0).partition_text());
    assert_eq!(zcard(&mut conn, &set).await, 4);
    let ttl = pttl(&mut conn, &set).await;
    assert!((110_000..=120_000).contains(&ttl), "{ttl}");
    // Once its proofs have expired (by the caller's clock), the key has room again.
    let later = until + Duration::from_secs(1);
    assert!(
        store
            .remember_proof(&mine(5), later + Duration::from_secs(60), later)
            .await
            .unwrap()
    );
    assert_eq!(zcard(&mut conn, &set).await, 1);
}
