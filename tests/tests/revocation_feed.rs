//! The revocation feed (`docs/protocol.md` §14, issue 22): three instances on one store, each
//! following its feed (`SessionChecking::Feed`). A session ended on one — a logout, a detected
//! reuse, "log out everywhere", an application's revocation — is refused on the others once
//! the push has arrived; a subscription killed under them (`CLIENT KILL TYPE pubsub`,
//! `pg_terminate_backend`) lets no revoked session through, and the fallback and resync show
//! in the instances' status; the local set forgets entries as they expire.
//!
//! Every wait is on an observable condition, bounded by [`BOUND`]; nothing here is timed.
//! The lag measurements (`*_lag_distribution`) print p50/p99 and assert only that every
//! revocation arrived: run them alone, with `--nocapture`:
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1/test \
//!   REDIS_CLUSTER_URL=redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 \
//!   cargo test -p tower-refresh-auth-tests --test revocation_feed -- \
//!   --include-ignored --nocapture --test-threads 1 lag_distribution
//! ```
//!
//! On the Redis Cluster each of the three instances has its own cluster connection and
//! subscribes on a node of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method, Uri};
use tower_refresh_auth::store::{MemoryStore, RefreshStore};
use tower_refresh_auth::{AuthError, NoClaims, RefreshAuth, SessionChecking, TokenPair};

/// The longest any condition is waited for before the test fails.
const BOUND: Duration = Duration::from_secs(10);

const SECRET: &[u8] = b"revocation feed test secret, 32 bytes or more";

/// An instance on `store` that follows its feed.
fn instance(store: impl RefreshStore) -> RefreshAuth {
    RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .store(store)
        .reuse_grace(Duration::ZERO)
        .check_sessions(SessionChecking::Feed)
        .build()
        .unwrap()
}

/// Waits until `condition` holds; fails the test after [`BOUND`].
async fn wait_until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !condition().await {
        assert!(Instant::now() < deadline, "not within {BOUND:?}: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn following(instances: &[&RefreshAuth]) {
    for auth in instances {
        wait_until("the instance follows the feed", async || {
            auth.revocation_feed_status().unwrap().following
        })
        .await;
    }
}

/// Whether `auth` lets a request with `pair`'s access token through, as the layer would.
async fn accepted(auth: &RefreshAuth, pair: &TokenPair) -> bool {
    let mut headers = HeaderMap::new();
    let bearer = format!("Bearer {}", pair.access_token);
    headers.insert("authorization", HeaderValue::from_str(&bearer).unwrap());
    match auth
        .authenticate(&Method::GET, &Uri::from_static("/api"), &headers)
        .await
    {
        Ok(_) => true,
        Err(AuthError::InvalidToken(_)) => false,
        Err(other) => panic!("neither accepted nor refused: {other}"),
    }
}

/// Waits until every instance refuses `pair`.
async fn refused_everywhere(instances: &[&RefreshAuth], pair: &TokenPair) {
    for auth in instances {
        wait_until("the revoked session is refused", async || {
            !accepted(auth, pair).await
        })
        .await;
    }
}

/// A logout, an application's revocation and a session-list revocation on one instance are
/// refused on the others once pushed; the revoking instance refuses at once.
async fn revocations_reach_every_instance(stores: [impl RefreshStore; 3]) {
    let [a, b, c] = stores.map(instance);
    following(&[&a, &b, &c]).await;
    let first = a.issue("alice", NoClaims {}).await.unwrap();
    let second = b.issue("alice", NoClaims {}).await.unwrap();
    let third = c.issue("bob", NoClaims {}).await.unwrap();
    for auth in [&a, &b, &c] {
        for pair in [&first, &second, &third] {
            assert!(accepted(auth, pair).await);
        }
    }

    a.logout(&first.refresh_token).await.unwrap();
    assert!(
        !accepted(&a, &first).await,
        "the revoking instance refuses at once"
    );
    refused_everywhere(&[&b, &c], &first).await;

    assert!(c.revoke_session(&second.session_id).await.unwrap());
    assert!(!accepted(&c, &second).await);
    refused_everywhere(&[&a, &b], &second).await;

    for auth in [&a, &b, &c] {
        assert!(accepted(auth, &third).await, "other sessions are untouched");
        assert!(!accepted(auth, &first).await, "a refusal stays a refusal");
    }
}

/// "Log out everywhere" on one instance refuses every earlier token of the subject on the
/// others, and nobody else's; a login after it works everywhere. A spent refresh token
/// replayed on one instance (reuse) ends the session on all of them.
async fn everywhere_and_reuse_go_through_the_feed(stores: [impl RefreshStore; 3]) {
    let [a, b, c] = stores.map(instance);
    following(&[&a, &b, &c]).await;
    let alice = [
        a.issue("alice", NoClaims {}).await.unwrap(),
        b.issue("alice", NoClaims {}).await.unwrap(),
    ];
    let bob = c.issue("bob", NoClaims {}).await.unwrap();
    assert_eq!(b.revoke_subject("alice").await.unwrap(), 2);
    for pair in &alice {
        refused_everywhere(&[&a, &b, &c], pair).await;
    }
    let again = a.issue("alice", NoClaims {}).await.unwrap();
    for auth in [&a, &b, &c] {
        assert!(accepted(auth, &bob).await);
        assert!(accepted(auth, &again).await, "a login after the cut-off");
    }

    let spent = a.issue("carol", NoClaims {}).await.unwrap();
    let current = a.refresh(&spent.refresh_token).await.unwrap();
    assert!(accepted(&c, &current).await);
    let replay = b.refresh(&spent.refresh_token).await;
    assert!(matches!(replay, Err(AuthError::InvalidGrant)), "{replay:?}");
    refused_everywhere(&[&a, &b, &c], &current).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_revocations_reach_every_instance() {
    let store = MemoryStore::new();
    revocations_reach_every_instance([store.clone(), store.clone(), store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_everywhere_and_reuse_go_through_the_feed() {
    let store = MemoryStore::new();
    everywhere_and_reuse_go_through_the_feed([store.clone(), store.clone(), store]).await;
}

/// A logout storm: the local set holds each revoked session only while an access token of it
/// could still verify, so it empties once they have all expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_entries_expire_with_the_tokens_they_could_affect() {
    const STORM: usize = 500;
    let store = MemoryStore::new();
    let short = |store: MemoryStore| {
        RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .store(store)
            .access_ttl(Duration::from_secs(1))
            .check_sessions(SessionChecking::Feed)
            .build()
            .unwrap()
    };
    let (a, b) = (short(store.clone()), short(store));
    following(&[&a, &b]).await;
    for _ in 0..STORM {
        let pair = a.issue("storm", NoClaims {}).await.unwrap();
        a.logout(&pair.refresh_token).await.unwrap();
    }
    wait_until("every revocation arrived", async || {
        b.revocation_feed_status().unwrap().cursor >= STORM as u64
    })
    .await;
    let held = b.revocation_feed_status().unwrap().sessions;
    assert!(held <= STORM, "{held} entries for {STORM} revocations");
    for auth in [&a, &b] {
        wait_until("the set empties as its entries expire", async || {
            auth.revocation_feed_status().unwrap().sessions == 0
        })
        .await;
    }
}

/// Without the capability, `Feed` is refused when the layer is built, naming the trait.
#[test]
fn a_store_without_the_feed_is_refused() {
    let err = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .store(tower_refresh_auth_test_support::TestStore::new())
        .check_sessions(SessionChecking::Feed)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("RevocationFeed"), "{err}");
    assert!(err.to_string().contains("revocation_feed"), "{err}");
}

/// `check_sessions(bool)` still compiles and means what it did.
#[test]
fn check_sessions_takes_a_bool_still() {
    for on in [false, true] {
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .check_sessions(on)
            .build()
            .unwrap();
        assert!(auth.revocation_feed_status().is_none());
    }
}

/// The subscriptions are killed while sessions are revoked: a revoked session, once refused,
/// is never let through again — neither while the instances check the store (the gap) nor
/// after they resynced — and the fallback and resync show in their status.
async fn no_revoked_session_through_a_gap<S: RefreshStore>(stores: [S; 3], kill: impl AsyncFn()) {
    const SESSIONS: usize = 20;
    let [a, b, c] = stores.map(instance);
    following(&[&a, &b, &c]).await;
    let before: Vec<_> = [&b, &c]
        .iter()
        .map(|auth| auth.revocation_feed_status().unwrap())
        .collect();
    let mut pairs = Vec::new();
    for _ in 0..SESSIONS {
        pairs.push(a.issue("gap", NoClaims {}).await.unwrap());
    }
    let kept = a.issue("kept", NoClaims {}).await.unwrap();
    let mut revoked: Vec<&TokenPair> = Vec::new();
    let mut gaps_seen = 0;
    for (i, pair) in pairs.iter().enumerate() {
        if i % 5 == 0 {
            // Subscribed again since the last kill, so this one cuts live subscriptions.
            following(&[&a, &b, &c]).await;
            kill().await;
        }
        a.logout(&pair.refresh_token).await.unwrap();
        revoked.push(pair);
        for auth in [&b, &c] {
            wait_until("the revoked session is refused", async || {
                let status = auth.revocation_feed_status().unwrap();
                if !status.following {
                    gaps_seen += 1;
                    // While the instance checks the store, every revoked session is refused.
                    for earlier in &revoked {
                        assert!(!accepted(auth, earlier).await, "let through during a gap");
                    }
                }
                !accepted(auth, pair).await
            })
            .await;
            for earlier in &revoked {
                assert!(
                    !accepted(auth, earlier).await,
                    "a revoked session let through"
                );
            }
        }
    }
    following(&[&b, &c]).await;
    for (auth, before) in [&b, &c].into_iter().zip(before) {
        let after = auth.revocation_feed_status().unwrap();
        assert!(after.gaps > before.gaps, "the fallback shows: {after:?}");
        assert!(
            after.resyncs > before.resyncs,
            "the resync shows: {after:?}"
        );
        for pair in &revoked {
            assert!(
                !accepted(auth, pair).await,
                "a revoked session let through after"
            );
        }
        assert!(accepted(auth, &kept).await);
    }
    eprintln!("gap test: {gaps_seen} checks found an instance in a gap");
}

/// Lag from the revoking call's answer to refusal on both other instances, over `n`
/// revocations: printed as p50, p90, p99 and max.
async fn lag_distribution(name: &str, stores: [impl RefreshStore; 3], n: usize) {
    let [a, b, c] = stores.map(instance);
    following(&[&a, &b, &c]).await;
    let mut lags = Vec::with_capacity(n);
    for _ in 0..n {
        let pair = a.issue("lag", NoClaims {}).await.unwrap();
        for auth in [&b, &c] {
            wait_until("the new session is accepted", async || {
                accepted(auth, &pair).await
            })
            .await;
        }
        a.logout(&pair.refresh_token).await.unwrap();
        let answered = Instant::now();
        let deadline = answered + BOUND;
        let mut waiting = vec![&b, &c];
        while !waiting.is_empty() {
            let mut still = Vec::with_capacity(waiting.len());
            for auth in waiting {
                if accepted(auth, &pair).await {
                    still.push(auth);
                }
            }
            waiting = still;
            assert!(Instant::now() < deadline, "not refused within {BOUND:?}");
            tokio::task::yield_now().await;
        }
        lags.push(answered.elapsed());
    }
    lags.sort_unstable();
    let at = |q: f64| lags[((lags.len() as f64 * q) as usize).min(lags.len() - 1)];
    let [sb, sc] = [&b, &c].map(|auth| auth.revocation_feed_status().unwrap());
    eprintln!(
        "{name}: {n} revocations, lag from the logout's answer to refusal on both other \
         instances: p50 {:?}, p90 {:?}, p99 {:?}, max {:?} (gaps {}, resyncs {})",
        at(0.50),
        at(0.90),
        at(0.99),
        lags[lags.len() - 1],
        sb.gaps + sc.gaps,
        sb.resyncs + sc.resyncs,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_lag_distribution() {
    let store = MemoryStore::new();
    lag_distribution("memory", [store.clone(), store.clone(), store], 1000).await;
}

#[cfg(feature = "redis")]
mod redis_store {
    use super::*;
    use tower_refresh_auth::store::RedisStore;
    use tower_refresh_auth_test_support::{Fixture, fixtures};

    fn three(fx: &Fixture<RedisStore>) -> [RedisStore; 3] {
        let second = fx.second.clone().unwrap();
        [fx.store.clone(), second.clone(), second]
    }

    /// Kills every subscriber connection of the server (`CLIENT KILL TYPE pubsub`).
    async fn kill_subscriptions() {
        let url = tower_refresh_auth_test_support::service_url("REDIS_URL");
        let mut conn = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _: redis::Value = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs REDIS_URL (see tests/support/README.md)"]
    async fn redis_revocations_reach_every_instance() {
        let fx = fixtures::redis("feed_reach").await;
        revocations_reach_every_instance(three(&fx)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs REDIS_URL (see tests/support/README.md)"]
    async fn redis_everywhere_and_reuse_go_through_the_feed() {
        let fx = fixtures::redis("feed_everywhere").await;
        everywhere_and_reuse_go_through_the_feed(three(&fx)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs REDIS_URL (see tests/support/README.md)"]
    async fn redis_no_revoked_session_through_a_gap() {
        let fx = fixtures::redis("feed_gap").await;
        no_revoked_session_through_a_gap(three(&fx), kill_subscriptions).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs REDIS_URL (see tests/support/README.md)"]
    async fn redis_lag_distribution() {
        let fx = fixtures::redis("feed_lag").await;
        lag_distribution("redis", three(&fx), 1000).await;
    }
}

/// The same three instances on the Redis Cluster, each with its own cluster connection and
/// its own subscription, made on a node of its own: instance `i` subscribes on seed `i` first,
/// so a revocation published through the slot's primary reaches the others through the
/// cluster's bus.
#[cfg(feature = "redis")]
mod redis_cluster {
    use super::*;
    use tower_refresh_auth::store::RedisStore;
    use tower_refresh_auth_test_support::fixtures::DeleteKeysOnDrop;

    /// Three stores on one fresh key prefix, each connected on its own, and the guard that
    /// deletes their keys.
    struct Cluster {
        stores: [RedisStore; 3],
        seeds: Vec<String>,
        channel: String,
        _keys: DeleteKeysOnDrop,
    }

    async fn cluster(test: &str) -> Cluster {
        let url = tower_refresh_auth_test_support::service_url("REDIS_CLUSTER_URL");
        let hosts = url
            .strip_prefix("redis+cluster://")
            .expect("REDIS_CLUSTER_URL is redis+cluster://host:port,…");
        let seeds: Vec<String> = hosts.split(',').map(|h| format!("redis://{h}")).collect();
        assert!(
            seeds.len() >= 3,
            "three seed nodes, one per instance: {url}"
        );
        let prefix = format!(
            "tra-test:{test}:{}",
            tower_refresh_auth_test_support::run_id()
        );
        let mut stores = Vec::new();
        for i in 0..3 {
            let subscribers = (0..seeds.len())
                .map(|k| redis::Client::open(seeds[(i + k) % seeds.len()].as_str()).unwrap());
            let store = RedisStore::connect(&url)
                .await
                .expect("connect to the Redis Cluster")
                .with_key_prefix(prefix.clone())
                .with_feed_subscribers(subscribers);
            stores.push(store);
        }
        Cluster {
            stores: stores.try_into().unwrap(),
            seeds,
            channel: format!("{prefix}:revocations"),
            _keys: DeleteKeysOnDrop::new(&url, &prefix),
        }
    }

    impl Cluster {
        /// Asserts that the feed's channel has a subscriber on each of the first three seed
        /// nodes (`PUBSUB NUMSUB` counts a node's own subscribers): the instances followed
        /// the feed on three nodes.
        async fn assert_subscribed_on_three_nodes(&self, instances: &[&RefreshAuth]) {
            following(instances).await;
            for seed in &self.seeds[..3] {
                let mut conn = redis::Client::open(seed.as_str())
                    .unwrap()
                    .get_multiplexed_async_connection()
                    .await
                    .unwrap();
                let (_, n): (String, u64) = redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg(&self.channel)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert!(n >= 1, "no subscriber of the feed on {seed}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"]
    async fn redis_cluster_instances_subscribe_on_three_nodes() {
        let cluster = cluster("feed_cluster_nodes").await;
        let [a, b, c] = cluster.stores.clone().map(instance);
        cluster
            .assert_subscribed_on_three_nodes(&[&a, &b, &c])
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"]
    async fn redis_cluster_revocations_reach_every_instance() {
        let cluster = cluster("feed_cluster").await;
        revocations_reach_every_instance(cluster.stores.clone()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"]
    async fn redis_cluster_everywhere_and_reuse_go_through_the_feed() {
        let cluster = cluster("feed_cluster_everywhere").await;
        everywhere_and_reuse_go_through_the_feed(cluster.stores.clone()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"]
    async fn redis_cluster_lag_distribution() {
        let cluster = cluster("feed_cluster_lag").await;
        lag_distribution("redis cluster", cluster.stores.clone(), 1000).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres_store {
    use super::*;
    use tower_refresh_auth::store::PostgresStore;
    use tower_refresh_auth_test_support::{Fixture, fixtures};

    fn three(fx: &Fixture<PostgresStore>) -> [PostgresStore; 3] {
        let second = fx.second.clone().unwrap();
        [fx.store.clone(), second.clone(), second]
    }

    /// Terminates the backends of the feed's `LISTEN` connections on the tables of `test`
    /// (in any run), found by the statements they run: `LISTEN "…"`, and the named ping.
    async fn kill_listeners(test: &str) {
        let url = tower_refresh_auth_test_support::service_url("DATABASE_URL");
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        // The table's name without its run id: `tra_<test>_<hash>_`.
        let table = fixtures::table_name(test);
        let stem = &table[..=table.rfind('_').unwrap()];
        let killed: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid() AND (query LIKE $1 OR query LIKE $2)",
        )
        .bind(format!(r#"LISTEN "{stem}%_revocations""#))
        .bind(format!(
            "SELECT 1 /* revocation feed: {stem}%_revocations */"
        ))
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(!killed.is_empty(), "the listeners were found");
        pool.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
    async fn postgres_revocations_reach_every_instance() {
        let fx = fixtures::postgres("feed_reach").await;
        revocations_reach_every_instance(three(&fx)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
    async fn postgres_everywhere_and_reuse_go_through_the_feed() {
        let fx = fixtures::postgres("feed_everywhere").await;
        everywhere_and_reuse_go_through_the_feed(three(&fx)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
    async fn postgres_no_revoked_session_through_a_gap() {
        let fx = fixtures::postgres("feed_gap").await;
        no_revoked_session_through_a_gap(three(&fx), async || kill_listeners("feed_gap").await)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
    async fn postgres_lag_distribution() {
        let fx = fixtures::postgres("feed_lag").await;
        lag_distribution("postgres", three(&fx), 1000).await;
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_store {
    use super::*;
    use tower_refresh_auth_test_support::fixtures;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_revocations_reach_every_instance() {
        let fx = fixtures::sqlite("feed_reach").await;
        let second = fx.second.clone().unwrap();
        revocations_reach_every_instance([fx.store.clone(), second.clone(), second]).await;
    }

    /// The polled table: a revocation arrives within one poll (50 ms) and the catch-up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_lag_distribution() {
        let fx = fixtures::sqlite("feed_lag").await;
        let second = fx.second.clone().unwrap();
        lag_distribution("sqlite", [fx.store.clone(), second.clone(), second], 200).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_everywhere_and_reuse_go_through_the_feed() {
        let fx = fixtures::sqlite("feed_everywhere").await;
        let second = fx.second.clone().unwrap();
        everywhere_and_reuse_go_through_the_feed([fx.store.clone(), second.clone(), second]).await;
    }
}
