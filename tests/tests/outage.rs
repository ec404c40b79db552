//! The store goes down under a running layer, and comes back (docs/protocol.md §3, §4).
//!
//! Each test starts its own server on a spare port (`redis-server`, or a PostgreSQL cluster
//! made with `initdb` and run with `pg_ctl` as the `postgres` user), stops it while the layer
//! serves, and starts it again on the same data. While it is down, `/token` and `/logout`
//! answer `503` with `Retry-After` (the median within the store's timeout plus slack, every
//! one within a generous cap, so a loaded machine's stray pause does not fail the run), and
//! access tokens keep verifying; once it is back, sessions from before the outage refresh
//! again, with the same store, and no panic anywhere.
//!
//! The tests need the server programs, so they are `#[ignore]`d: run them with
//! `cargo test -p tower-refresh-auth-tests --test outage -- --include-ignored --nocapture`.
#![cfg(any(feature = "redis", feature = "postgres"))]

use std::time::{Duration, Instant};

use tower_refresh_auth::clock::SystemClock;
use tower_refresh_auth::store::RefreshStore;
use tower_refresh_auth_test_support::Reply;
use tower_refresh_auth_tests::app::App;
use tower_refresh_auth_tests::server::Restartable;

/// The store's operation timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(500);

/// How long the server stays down.
const OUTAGE: Duration = Duration::from_secs(5);

/// Scheduling slack on top of [`TIMEOUT`] for the median answer.
const SLACK: Duration = Duration::from_millis(500);

/// What no single answer may take, however loaded the machine: a store call that hangs
/// instead of timing out shows up here.
const HARD_CAP: Duration = Duration::from_secs(5);

/// Sends `request`, checks it was answered `503 temporarily_unavailable` with
/// `Retry-After` within [`HARD_CAP`], and returns how long it took.
async fn assert_unavailable(what: &str, request: impl Future<Output = Reply>) -> Duration {
    let started = Instant::now();
    let reply = request.await;
    let took = started.elapsed();
    reply.assert_error(503, "temporarily_unavailable");
    assert!(
        reply.headers.contains_key("retry-after"),
        "{what}: no Retry-After"
    );
    assert!(took <= HARD_CAP, "{what} took {took:?}");
    eprintln!("{what}: 503 after {took:?}");
    took
}

/// The median of `took`; most answers must come within the store's timeout.
fn median(mut took: Vec<Duration>) -> Duration {
    took.sort_unstable();
    took[took.len() / 2]
}

async fn survive_outage(store: impl RefreshStore, server: &mut impl Restartable, name: &str) {
    let app = App::new(store, SystemClock, Duration::from_secs(10));
    let login = app.login("user1").await;
    let before = app.refresh(&login.refresh_token).await;
    assert_eq!(before.status, 200);
    let (access, refresh) = (before.access_token(), before.refresh_token());

    server.stop();
    // Long enough for the clients' reconnection attempts to give up and start over.
    let down = Instant::now();
    let mut attempt = 0;
    let mut took = Vec::new();
    while down.elapsed() < OUTAGE {
        attempt += 1;
        let what = format!("{name} /token #{attempt}");
        took.push(assert_unavailable(&what, app.refresh(&refresh)).await);
        let what = format!("{name} /logout #{attempt}");
        took.push(assert_unavailable(&what, app.logout(&refresh)).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answers = took.len();
    let median = median(took);
    assert!(
        median <= TIMEOUT + SLACK,
        "{name}: the median 503 of {answers} took {median:?}"
    );
    // Verifying an access token needs no store.
    assert_eq!(app.dashboard(&access).await.status, 200);

    server.start();
    // Clients retry after a 503; count how many retries the reconnection costs.
    let started = Instant::now();
    let mut unavailable = 0;
    let after = loop {
        let reply = app.refresh(&refresh).await;
        if reply.status != 503 || started.elapsed() > Duration::from_secs(15) {
            break reply;
        }
        unavailable += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        after.status, 200,
        "the session from before the outage refreshes again"
    );
    eprintln!(
        "{name}: back after {unavailable} more 503s, {:?} after the restart",
        started.elapsed()
    );
    assert_eq!(app.refresh(&after.refresh_token()).await.status, 200);
    assert_eq!(app.logout(&login.refresh_token).await.status, 204);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (see tests/support/README.md)"]
async fn redis_outage_is_503_then_recovers() {
    use tower_refresh_auth::store::RedisStore;
    use tower_refresh_auth_tests::server::RedisServer;

    let mut server = RedisServer::start();
    let store = RedisStore::connect(&server.url())
        .await
        .expect("connect")
        .with_timeout(TIMEOUT);
    survive_outage(store, &mut server, "redis").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL's initdb and pg_ctl (see tests/support/README.md)"]
async fn postgres_outage_is_503_then_recovers() {
    use tower_refresh_auth::store::PostgresStore;
    use tower_refresh_auth_tests::server::PostgresServer;

    let mut server = PostgresServer::start();
    let store = PostgresStore::connect(&server.url())
        .await
        .expect("connect")
        .with_timeout(TIMEOUT);
    store.migrate().await.expect("migrate");
    survive_outage(store, &mut server, "postgres").await;
}
