//! Connections that end with their session (`docs/protocol.md` §14, issue 22): a
//! [`SessionWatch`] resolves at its token's expiry (by the layer's clock), at the revocation of
//! its session or its subject — pushed through the revocation feed to another instance, or
//! read from the store per request — and not at another session's revocation.
//!
//! Every wait is on the watch itself, bounded by [`BOUND`]; nothing here is timed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Uri};
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::store::{MemoryStore, RefreshStore};
use tower_refresh_auth::watch::{SessionEnd, SessionWatch};
use tower_refresh_auth::{Claims, NoClaims, RefreshAuth, SessionChecking, TokenPair};

/// The longest a watch is waited for before the test fails.
const BOUND: Duration = Duration::from_secs(10);

const SECRET: &[u8] = b"session watch test secret, 32 bytes or more";

fn instance(store: impl RefreshStore, checking: SessionChecking) -> RefreshAuth {
    RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .store(store)
        .check_sessions(checking)
        .build()
        .unwrap()
}

/// The claims a request with `pair`'s access token carries on `auth`.
async fn claims(auth: &RefreshAuth, pair: &TokenPair) -> Claims {
    let mut headers = HeaderMap::new();
    let bearer = format!("Bearer {}", pair.access_token);
    headers.insert("authorization", HeaderValue::from_str(&bearer).unwrap());
    auth.authenticate(&Method::GET, &Uri::from_static("/ws"), &headers)
        .await
        .unwrap()
}

/// Waits for `watch` to resolve; fails the test after [`BOUND`].
async fn ended(watch: &mut SessionWatch) -> SessionEnd {
    tokio::time::timeout(BOUND, watch)
        .await
        .expect("the watch resolves")
}

/// Polls `watch` once: whether it has resolved by now.
fn resolved_now(watch: &mut SessionWatch) -> Option<SessionEnd> {
    match Pin::new(watch).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(end) => Some(end),
        Poll::Pending => None,
    }
}

async fn following(instances: &[&RefreshAuth]) {
    for auth in instances {
        let deadline = tokio::time::Instant::now() + BOUND;
        while !auth.revocation_feed_status().unwrap().following {
            assert!(tokio::time::Instant::now() < deadline, "not following");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_watch_resolves_when_its_token_expires_by_the_layers_clock() {
    let clock = ManualClock::new(SystemTime::now());
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .access_ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .unwrap();
    let pair = auth.issue("alice", NoClaims {}).await.unwrap();
    let mut watch = auth.watch(&claims(&auth, &pair).await);
    assert_eq!(resolved_now(&mut watch), None, "a fresh token is live");
    clock.advance(Duration::from_secs(30));
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(resolved_now(&mut watch), None, "half way is not the end");
    clock.advance(Duration::from_secs(31));
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(ended(&mut watch).await, SessionEnd::Expired);
    assert_eq!(SessionEnd::Expired.reason(), "token expired");
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_resolves_at_the_first_poll() {
    let clock = ManualClock::new(SystemTime::now());
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .clock(clock.clone())
        .build()
        .unwrap();
    let pair = auth.issue("alice", NoClaims {}).await.unwrap();
    let claims = claims(&auth, &pair).await;
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        resolved_now(&mut auth.watch(&claims)),
        Some(SessionEnd::Expired)
    );
}

/// Two instances following one store's feed: a watch on one resolves when the other revokes
/// its session, not when it revokes another session; "log out everywhere" resolves every
/// watch of the subject.
async fn watches_follow_the_feed([a, b]: [impl RefreshStore; 2]) {
    let [a, b] = [a, b].map(|store| instance(store, SessionChecking::Feed));
    following(&[&a, &b]).await;
    let first = a.issue("alice", NoClaims {}).await.unwrap();
    let second = a.issue("alice", NoClaims {}).await.unwrap();
    let other = a.issue("bob", NoClaims {}).await.unwrap();
    let mut first_watch = b.watch(&claims(&b, &first).await);
    let mut second_watch = b.watch(&claims(&b, &second).await);
    let mut other_watch = b.watch(&claims(&b, &other).await);
    for watch in [&mut first_watch, &mut second_watch, &mut other_watch] {
        assert_eq!(resolved_now(watch), None);
    }

    assert!(a.revoke_session(&first.session_id).await.unwrap());
    assert_eq!(ended(&mut first_watch).await, SessionEnd::Revoked);
    // `b` holds the revocation now: the other watches re-check at this poll.
    assert_eq!(resolved_now(&mut second_watch), None, "another session");
    assert_eq!(resolved_now(&mut other_watch), None, "another subject");

    assert_eq!(a.revoke_subject("alice").await.unwrap(), 1);
    assert_eq!(ended(&mut second_watch).await, SessionEnd::Revoked);
    assert_eq!(resolved_now(&mut other_watch), None, "another subject");
    assert_eq!(SessionEnd::Revoked.reason(), "session ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_watches_follow_the_feed() {
    let store = MemoryStore::new();
    watches_follow_the_feed([store.clone(), store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_the_watching_instance_resolves_at_once() {
    let auth = instance(MemoryStore::new(), SessionChecking::Feed);
    following(&[&auth]).await;
    let pair = auth.issue("alice", NoClaims {}).await.unwrap();
    let mut watch = auth.watch(&claims(&auth, &pair).await);
    assert_eq!(resolved_now(&mut watch), None);
    auth.logout(&pair.refresh_token).await.unwrap();
    assert_eq!(resolved_now(&mut watch), Some(SessionEnd::Revoked));
}

#[tokio::test(start_paused = true)]
async fn per_request_checking_polls_the_store_at_the_interval() {
    let auth = instance(MemoryStore::new(), SessionChecking::PerRequest);
    let kept = auth.issue("alice", NoClaims {}).await.unwrap();
    let gone = auth.issue("alice", NoClaims {}).await.unwrap();
    let every = Duration::from_secs(5);
    let mut kept_watch = auth.watch(&claims(&auth, &kept).await).poll_every(every);
    let mut gone_watch = auth.watch(&claims(&auth, &gone).await).poll_every(every);
    assert_eq!(resolved_now(&mut gone_watch), None);
    assert!(auth.revoke_session(&gone.session_id).await.unwrap());
    assert_eq!(
        resolved_now(&mut gone_watch),
        None,
        "no store read before the interval"
    );
    // The paused clock moves to the next poll on its own.
    assert_eq!(ended(&mut gone_watch).await, SessionEnd::Revoked);
    assert_eq!(resolved_now(&mut kept_watch), None, "another session");
}

#[tokio::test(start_paused = true)]
async fn with_checking_off_only_expiry_ends_a_watch() {
    let clock = ManualClock::new(SystemTime::now());
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .access_ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .unwrap();
    let pair = auth.issue("alice", NoClaims {}).await.unwrap();
    let mut watch = auth.watch(&claims(&auth, &pair).await);
    assert!(auth.revoke_session(&pair.session_id).await.unwrap());
    assert_eq!(resolved_now(&mut watch), None, "not checked: only expiry");
    clock.advance(Duration::from_secs(61));
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(ended(&mut watch).await, SessionEnd::Expired);
}

#[cfg(feature = "redis")]
mod redis_store {
    use super::*;
    use tower_refresh_auth_test_support::fixtures;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs REDIS_URL (see tests/support/README.md)"]
    async fn redis_watches_follow_the_feed() {
        let fx = fixtures::redis("watch_feed").await;
        watches_follow_the_feed([fx.store.clone(), fx.second.clone().unwrap()]).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres_store {
    use super::*;
    use tower_refresh_auth_test_support::fixtures;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
    async fn postgres_watches_follow_the_feed() {
        let fx = fixtures::postgres("watch_feed").await;
        watches_follow_the_feed([fx.store.clone(), fx.second.clone().unwrap()]).await;
    }
}
