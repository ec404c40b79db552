//! docs/protocol.md §5b: instances whose clocks disagree, and the grace window.
//!
//! Two layers share one store, each with its own clock, as two instances of an application
//! behind a load balancer do. Elapsed time the instance cannot know counts as outside the
//! grace window, never inside it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Harness, Role, SECRET, TestStore, admin, t0};
use http::Request;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_refresh_auth::RefreshAuth;
use tower_refresh_auth::clock::ManualClock;

/// A second instance on the store of `h`, with a clock of its own.
fn instance(store: &TestStore, clock: &ManualClock, grace: Duration) -> RefreshAuth<Role> {
    RefreshAuth::<Role>::builder()
        .hs256(SECRET.to_vec())
        .clock(clock.clone())
        .store(store.clone())
        .reuse_grace(grace)
        .build()
        .unwrap()
}

async fn refresh(auth: &RefreshAuth<Role>, token: &str) -> (u16, serde_json::Value) {
    let svc = ServiceBuilder::new()
        .layer(auth.layer())
        .service(service_fn(|_req: Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }));
    let req = Request::post("/token")
        .header("content-type", "application/json")
        .body(format!(r#"{{"refreshToken":"{token}"}}"#))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn a_replay_on_an_instance_whose_clock_is_behind_revokes_the_session() {
    let store = TestStore::default();
    let ahead = ManualClock::new(t0());
    let behind = ManualClock::new(t0() - Duration::from_secs(30));
    let a = instance(&store, &ahead, Duration::ZERO);
    let b = instance(&store, &behind, Duration::ZERO);
    let pair = a.issue("user1", admin()).await.unwrap();
    // A rotates; five seconds later the spent token is replayed on B, whose clock reads 25 s
    // before the rotation: how long ago it was spent is unknown, so it is reuse.
    let (status, body) = refresh(&a, &pair.refresh_token).await;
    assert_eq!(status, 200, "{body}");
    let successor = body["refreshToken"].as_str().unwrap().to_owned();
    ahead.advance(Duration::from_secs(5));
    behind.advance(Duration::from_secs(5));
    let (status, body) = refresh(&b, &pair.refresh_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The whole session is gone: the successor no longer refreshes on either instance.
    assert_eq!(refresh(&a, &successor).await.0, 400);
    assert_eq!(refresh(&b, &successor).await.0, 400);
}

#[tokio::test]
async fn with_a_grace_window_a_clock_behind_the_rotation_is_still_outside_it() {
    let store = TestStore::default();
    let ahead = ManualClock::new(t0());
    let behind = ManualClock::new(t0() - Duration::from_secs(30));
    let a = instance(&store, &ahead, Duration::from_secs(10));
    let b = instance(&store, &behind, Duration::from_secs(10));
    let pair = a.issue("user1", admin()).await.unwrap();
    assert_eq!(refresh(&a, &pair.refresh_token).await.0, 200);
    // On A, one second later, the race of two tabs is inside the window…
    ahead.advance(Duration::from_secs(1));
    assert_eq!(refresh(&a, &pair.refresh_token).await.0, 200);
    // …but B cannot tell: its clock reads before the rotation.
    let (status, body) = refresh(&b, &pair.refresh_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        store.inner.len(),
        0,
        "reuse revokes the session in the shared store"
    );
}

#[tokio::test]
async fn a_clock_stepped_back_after_a_rotation_is_outside_the_window() {
    let h = Harness::with(|b| b.reuse_grace(Duration::from_secs(10)));
    let pair = h.login().await;
    let next = h.refresh(&pair.refresh_token).await.json()["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // An NTP step back of a minute on this very instance.
    h.clock.set(t0() - Duration::from_secs(60));
    h.refresh(&pair.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    h.clock.set(t0());
    h.refresh(&next).await.assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn zero_grace_refuses_a_replay_in_the_same_millisecond_and_revokes() {
    let h = Harness::with(|b| b.reuse_grace(Duration::ZERO));
    let pair = h.login().await;
    let res = h.refresh(&pair.refresh_token).await;
    assert_eq!(res.status, 200);
    let next = res.json()["refreshToken"].as_str().unwrap().to_owned();
    // The clock has not moved at all.
    h.refresh(&pair.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    h.refresh(&next).await.assert_error(400, "invalid_grant");
    assert_eq!(h.store.inner.len(), 0);
}
