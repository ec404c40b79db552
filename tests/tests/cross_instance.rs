//! Two application instances, each with its own connections, on one shared store: a
//! session started on one refreshes, replays and logs out on the other (docs/protocol.md §3, §4).
//!
//! Run with `REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1/test
//! cargo test -p tower-refresh-auth-tests --test cross_instance -- --include-ignored` (the
//! Redis and PostgreSQL tests are `#[ignore]`d without it).
#![cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tower_refresh_auth::clock::SystemClock;
use tower_refresh_auth_test_support::{Fixture, fixtures};
use tower_refresh_auth_tests::app::{App, sessions_move_between_instances};

const GRACE: Duration = Duration::from_secs(10);

/// Two instances on the fixture's two stores.
fn instances<S: tower_refresh_auth::store::RefreshStore + Clone>(fx: &Fixture<S>) -> (App, App) {
    let second = fx.second.clone().expect("a second instance");
    (
        App::new(fx.store.clone(), SystemClock, GRACE),
        App::new(second, SystemClock, GRACE),
    )
}

#[cfg(feature = "redis")]
#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn redis_instances_share_sessions() {
    let fx = fixtures::redis("cross_instance").await;
    let (a, b) = instances(&fx);
    sessions_move_between_instances(&a, &b).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
#[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
async fn postgres_instances_share_sessions() {
    let fx = fixtures::postgres("cross_instance").await;
    let (a, b) = instances(&fx);
    sessions_move_between_instances(&a, &b).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_instances_share_sessions() {
    let fx = fixtures::sqlite("cross_instance").await;
    let (a, b) = instances(&fx);
    sessions_move_between_instances(&a, &b).await;
}

/// Two layers on the fixture's two stores: the first with DPoP optional, the second with
/// DPoP `mode_b`, each on its own manual clock (the second `skew_b` ahead), a 1 s grace window
/// and a 2 s proof window, so that expiries by the store's own clock are waited out quickly.
mod dpop_instances {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use http::{HeaderMap, HeaderValue, Method, Uri};
    use serde_json::json;
    use tower_refresh_auth::clock::{Clock, ManualClock};
    use tower_refresh_auth::dpop::{Dpop, DpopMode};
    use tower_refresh_auth::session::SessionMetadata;
    use tower_refresh_auth::store::RefreshStore;
    use tower_refresh_auth::{AuthError, NoClaims, RefreshAuth};
    use tower_refresh_auth_test_support::Fixture;
    use tower_refresh_auth_test_support::dpop::DpopKey;

    const ORIGIN: &str = "https://api.example.com";
    const SECRET: &[u8] = b"cross-instance dpop secret, 32 bytes or more";

    fn layer<S: RefreshStore + Clone>(
        store: S,
        clock: &ManualClock,
        mode: DpopMode,
    ) -> RefreshAuth {
        let mut builder = RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .clock(clock.clone())
            .store(store)
            .reuse_grace(Duration::from_secs(1));
        if mode.is_on() {
            builder = builder.dpop(
                Dpop::new(mode)
                    .origin(ORIGIN)
                    .window(Duration::from_secs(2)),
            );
        }
        builder.build().unwrap()
    }

    /// Now, in whole seconds (proof times are whole seconds).
    fn start() -> SystemTime {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// The `DPoP` header of a request to `path` signed by `key` at `iat`.
    fn proof_headers(key: &DpopKey, path: &str, iat: SystemTime) -> HeaderMap {
        let mut claims = key.claims("POST", &format!("{ORIGIN}{path}"), None);
        claims["iat"] = json!(iat.duration_since(UNIX_EPOCH).unwrap().as_secs());
        let mut headers = HeaderMap::new();
        let value = key.sign(&key.header(), &claims);
        headers.insert("dpop", HeaderValue::from_str(&value).unwrap());
        headers
    }

    /// A login on `auth` with a proof by `key`; its proof's headers too.
    async fn login(
        auth: &RefreshAuth,
        key: &DpopKey,
        iat: SystemTime,
    ) -> (tower_refresh_auth::TokenPair, HeaderMap) {
        let headers = proof_headers(key, "/login", iat);
        let uri = Uri::from_static("/login");
        let proof = auth
            .verify_dpop(&Method::POST, &uri, &headers)
            .await
            .unwrap();
        let metadata = SessionMetadata::new().with_dpop(proof);
        let pair = auth
            .issue_with("alice", NoClaims {}, metadata)
            .await
            .unwrap();
        (pair, headers)
    }

    /// Issue 24, item 2: a thief's refresh on the instance with DPoP off moves nothing, and
    /// the owner's refresh after the grace window goes through.
    pub(super) async fn an_instance_with_dpop_off_never_spends_a_bound_session<
        S: RefreshStore + Clone,
    >(
        fx: &Fixture<S>,
    ) {
        let clock = ManualClock::new(start());
        let on = layer(fx.store.clone(), &clock, DpopMode::Optional);
        let off = layer(fx.second.clone().unwrap(), &clock, DpopMode::Off);
        let key = DpopKey::es256();
        let (pair, _) = login(&on, &key, clock.now()).await;
        for _ in 0..2 {
            match off.refresh(&pair.refresh_token).await {
                Err(AuthError::Dpop(_)) => {}
                other => panic!("the DPoP-off instance refreshed a bound session: {other:?}"),
            }
        }
        let record = fx.store.load(&pair.session_id, clock.now()).await.unwrap();
        assert_eq!(
            record.map(|s| s.counter),
            Some(0),
            "the thief moved the counter"
        );
        clock.advance(Duration::from_secs(2));
        let headers = proof_headers(&key, "/token", clock.now());
        let uri = Uri::from_static("/token");
        let proof = on.verify_dpop(&Method::POST, &uri, &headers).await.unwrap();
        on.refresh_with_proof(&pair.refresh_token, proof.as_ref())
            .await
            .expect("the owner's refresh after the window");
    }

    /// Issue 24, item 3: a proof spent on an instance 2 s ahead is still spent for one 2 s
    /// behind it after the spending instance would have stopped accepting it (waited out in
    /// real time, so a store that expires entries by its own clock is held to it).
    pub(super) async fn a_proof_spent_on_a_fast_instance_stays_spent_on_a_slow_one<
        S: RefreshStore + Clone,
    >(
        fx: &Fixture<S>,
    ) {
        let t = start();
        let slow_clock = ManualClock::new(t);
        let fast_clock = ManualClock::new(t + Duration::from_secs(2));
        let fast = layer(fx.store.clone(), &fast_clock, DpopMode::Optional);
        let slow = layer(fx.second.clone().unwrap(), &slow_clock, DpopMode::Optional);
        let key = DpopKey::es256();
        // Spent on the fast instance (its clock at iat + 2, the edge of the window).
        let (_, captured) = login(&fast, &key, t).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        slow_clock.advance(Duration::from_millis(1500));
        fast_clock.advance(Duration::from_millis(1500));
        // The slow instance (at iat + 1.5) still accepts the proof's iat: it must be spent.
        let uri = Uri::from_static("/login");
        let proof = slow
            .verify_dpop(&Method::POST, &uri, &captured)
            .await
            .expect("inside the slow instance's window");
        let replay = slow
            .issue_with(
                "alice",
                NoClaims {},
                SessionMetadata::new().with_dpop(proof),
            )
            .await;
        assert!(
            matches!(replay, Err(AuthError::Dpop(_))),
            "a spent proof was accepted again on a lagging instance: {replay:?}"
        );
    }
}

#[cfg(feature = "redis")]
#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn redis_instance_with_dpop_off_never_spends_a_bound_session() {
    let fx = fixtures::redis("cross_instance_dpop_off").await;
    dpop_instances::an_instance_with_dpop_off_never_spends_a_bound_session(&fx).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
#[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
async fn postgres_instance_with_dpop_off_never_spends_a_bound_session() {
    let fx = fixtures::postgres("cross_instance_dpop_off").await;
    dpop_instances::an_instance_with_dpop_off_never_spends_a_bound_session(&fx).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_instance_with_dpop_off_never_spends_a_bound_session() {
    let fx = fixtures::sqlite("cross_instance_dpop_off").await;
    dpop_instances::an_instance_with_dpop_off_never_spends_a_bound_session(&fx).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn redis_proof_spent_on_a_fast_instance_stays_spent_on_a_slow_one() {
    let fx = fixtures::redis("cross_instance_skew").await;
    dpop_instances::a_proof_spent_on_a_fast_instance_stays_spent_on_a_slow_one(&fx).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
#[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
async fn postgres_proof_spent_on_a_fast_instance_stays_spent_on_a_slow_one() {
    let fx = fixtures::postgres("cross_instance_skew").await;
    dpop_instances::a_proof_spent_on_a_fast_instance_stays_spent_on_a_slow_one(&fx).await;
}
