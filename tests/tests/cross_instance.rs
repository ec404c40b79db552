//! Two application instances, each with its own connections, on one shared store: a
//! session started on one refreshes, replays and logs out on the other (docs/protocol.md §3, §4).
//!
//! Run with `REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1/test
//! cargo test -p tower-refresh-auth-tests --test cross_instance -- --include-ignored` (the
//! Redis and PostgreSQL tests are `#[ignore]`d without it).
#![cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]

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
