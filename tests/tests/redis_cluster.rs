//! `RedisStore` on a Redis Cluster (docs/protocol.md §11): failover, a failover that loses a
//! write, TLS, and durable writes.
//!
//! The failover, lost-write and TLS tests start clusters of their own with
//! `tests/redis-cluster.sh` on ports of their own (7200, 7300, 7400 and up), so killing a
//! master cannot disturb another suite; each cluster is torn down when its test ends.
//! They need `redis-server` and `redis-cli`, so they are `#[ignore]`d. The durability tests
//! use the shared cluster of `REDIS_CLUSTER_URL` and the server of `REDIS_URL`. Run them with
//! `REDIS_URL=… REDIS_CLUSTER_URL=$(tests/redis-cluster.sh start) cargo test -p
//! tower-refresh-auth-tests --test redis_cluster -- --include-ignored --nocapture`.
#![cfg(feature = "redis")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tower_refresh_auth::clock::SystemClock;
use tower_refresh_auth::session::SessionId;
use tower_refresh_auth::store::{RedisStore, RefreshStore, StoreError, SubjectIndex};
use tower_refresh_auth::{AuthError, NoClaims, RefreshAuth, SecurityEvent};
use tower_refresh_auth_test_support::{Reply, expect_rotated, now_ms, service_url, session};
use tower_refresh_auth_tests::app::{App, SECRET};
use tower_refresh_auth_tests::cluster::LocalCluster;

/// The store's operation timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(500);

/// What no single answer may take, however loaded the machine: a store call that hangs
/// instead of timing out shows up here.
const HARD_CAP: Duration = Duration::from_secs(3);

/// How long a failover may take before the test gives up.
const FAILOVER_CAP: Duration = Duration::from_secs(30);

fn session_key(id: &SessionId) -> String {
    format!("tra:s:{{{id}}}")
}

/// Checks a `503 temporarily_unavailable` with `Retry-After`.
fn assert_unavailable(what: &str, reply: &Reply, took: Duration) {
    reply.assert_error(503, "temporarily_unavailable");
    assert!(
        reply.headers.contains_key("retry-after"),
        "{what}: no Retry-After"
    );
    assert!(took <= HARD_CAP, "{what} took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server and redis-cli (tests/redis-cluster.sh)"]
async fn a_failover_answers_503_then_the_same_sessions_refresh_again() {
    let cluster = LocalCluster::start(7200, false);
    let store = RedisStore::connect(cluster.url())
        .await
        .expect("connect to the cluster")
        .with_timeout(TIMEOUT);
    let app = App::new(store, SystemClock, Duration::from_secs(10));

    // Sessions on the master that will be killed, and a few to log out during the failover.
    let first = app.login("user0").await;
    let (master, replica) = cluster
        .owners(cluster.base, &session_key(&first.session_id))
        .expect("the slot's master and replica");
    let mut refreshing = vec![first.refresh_token];
    let mut to_log_out = Vec::new();
    for i in 1..200 {
        if refreshing.len() >= 3 && to_log_out.len() >= 8 {
            break;
        }
        let pair = app.login(&format!("user{i}")).await;
        let key = session_key(&pair.session_id);
        if cluster.owners(cluster.base, &key).map(|(m, _)| m.port) == Some(master.port) {
            if refreshing.len() < 3 {
                refreshing.push(pair.refresh_token);
            } else {
                to_log_out.push(pair.refresh_token);
            }
        }
    }
    assert!(
        refreshing.len() == 3 && !to_log_out.is_empty(),
        "sessions on one master"
    );
    for token in &mut refreshing {
        let reply = app.refresh(token).await;
        assert_eq!(
            reply.status,
            200,
            "before the failover: {}",
            reply.describe()
        );
        *token = reply.refresh_token();
    }

    cluster.kill(master.port);
    let killed = Instant::now();
    eprintln!(
        "killed the master on {} (its replica on {})",
        master.port, replica.port
    );
    let (mut first_503, mut last_503, mut first_200) = (None, None, None);
    let (mut refresh_503s, mut logout_503s, mut logouts_done) = (0, 0, 0);
    let mut took_503 = Vec::new();
    while first_200.is_none() {
        assert!(
            killed.elapsed() < FAILOVER_CAP,
            "no refresh succeeded {FAILOVER_CAP:?} after the master was killed"
        );
        for token in &mut refreshing {
            let started = Instant::now();
            let reply = app.refresh(token).await;
            let took = started.elapsed();
            match reply.status.as_u16() {
                200 => {
                    *token = reply.refresh_token();
                    if first_503.is_some() && first_200.is_none() {
                        first_200 = Some(killed.elapsed());
                    }
                }
                503 => {
                    assert_unavailable("/token", &reply, took);
                    refresh_503s += 1;
                    took_503.push(took);
                    first_503.get_or_insert(killed.elapsed());
                    last_503 = Some(killed.elapsed());
                }
                _ => panic!("/token during the failover: {}", reply.describe()),
            }
        }
        if first_200.is_none()
            && let Some(token) = to_log_out.last()
        {
            let started = Instant::now();
            let reply = app.logout(token).await;
            let took = started.elapsed();
            match reply.status.as_u16() {
                503 => {
                    assert_unavailable("/logout", &reply, took);
                    logout_503s += 1;
                    took_503.push(took);
                }
                204 => {
                    logouts_done += 1;
                    to_log_out.pop();
                }
                _ => panic!("/logout during the failover: {}", reply.describe()),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (first_503, first_200) = (first_503.expect("a 503"), first_200.expect("a 200"));
    took_503.sort_unstable();
    let median = took_503[took_503.len() / 2];
    assert!(
        logout_503s > 0,
        "no /logout was answered 503 during the failover"
    );
    assert!(
        median <= TIMEOUT + Duration::from_millis(500),
        "the median 503 took {median:?}"
    );

    // The same sessions, on the same layer: every one refreshes again.
    let started = Instant::now();
    for token in &mut refreshing {
        let reply = loop {
            let reply = app.refresh(token).await;
            if reply.status != 503 || started.elapsed() > FAILOVER_CAP {
                break reply;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            reply.status,
            200,
            "after the failover: {}",
            reply.describe()
        );
        *token = reply.refresh_token();
    }
    for token in &refreshing {
        assert_eq!(app.logout(token).await.status, 204);
    }
    eprintln!(
        "failover timeline (master killed at 0): first 503 at {first_503:?}, last 503 at \
         {last_503:?}, first 200 again at {first_200:?}; {refresh_503s} /token and \
         {logout_503s} /logout answered 503 (median {median:?}, max {:?}), {logouts_done} \
         logouts went through; store timeout {TIMEOUT:?}, cluster-node-timeout 1 s",
        took_503.last().copied().unwrap_or_default(),
        last_503 = last_503.unwrap_or_default(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server and redis-cli (tests/redis-cluster.sh)"]
async fn a_failover_that_loses_the_last_rotation_rolls_the_session_forward() {
    let cluster = LocalCluster::start(7300, false);
    let store = RedisStore::connect(cluster.url())
        .await
        .expect("connect to the cluster")
        .with_timeout(TIMEOUT);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .store(store.clone())
        .on_security_event(move |e: &SecurityEvent| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();

    // The replica of the session's slot loses its link to the master and cannot get it back
    // (it authenticates to the master as a user that does not exist); the master takes a
    // rotation the replica never sees; the replica takes over (`CLUSTER FAILOVER TAKEOVER`
    // needs no agreement from the master). Checked, and tried again if a write slipped by.
    let mut lost = None;
    for attempt in 1..=3 {
        let login = auth.issue("alice", NoClaims {}).await.unwrap();
        let first = auth.refresh(&login.refresh_token).await.unwrap();
        let key = session_key(&login.session_id);
        let via = cluster.base + 5 - (attempt % 2);
        let Some((master, replica)) = cluster.owners(via, &key) else {
            continue;
        };
        // The replica has the first rotation (counter 1)...
        let deadline = Instant::now() + Duration::from_secs(5);
        while cluster
            .cli_lines(replica.port, &format!("READONLY\nHGET {key} ctr\n"))
            .is_none_or(|out| !out.lines().any(|l| l.trim() == "1"))
        {
            assert!(
                Instant::now() < deadline,
                "the replica never got the first rotation"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // ...then is cut off for good...
        for args in [
            &["config", "set", "masteruser", "tra-no-such-user"][..],
            &["config", "set", "masterauth", "wrong"],
            &["client", "kill", "type", "master"],
        ] {
            cluster
                .cli(replica.port, args)
                .expect("cut the replica off");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while cluster
            .cli(replica.port, &["info", "replication"])
            .is_none_or(|info| !info.contains("master_link_status:down"))
        {
            assert!(Instant::now() < deadline, "the replica kept its link");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // ...the master acknowledges a second rotation, and the replica takes over.
        let newest = auth.refresh(&first.refresh_token).await.unwrap();
        cluster.cli(replica.port, &["cluster", "failover", "takeover"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        let ctr = loop {
            let role = cluster.cli(replica.port, &["role"]).unwrap_or_default();
            if role.starts_with("master") {
                break cluster.cli(replica.port, &["hget", &key, "ctr"]);
            }
            assert!(Instant::now() < deadline, "the replica did not take over");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let ctr = ctr.unwrap_or_default();
        eprintln!(
            "attempt {attempt}: master {} -> replica {} took over holding counter {}",
            master.port,
            replica.port,
            ctr.trim()
        );
        if ctr.trim() == "1" {
            lost = Some((login.session_id, newest));
            break;
        }
    }
    let (id, newest) = lost.expect("a takeover that lost the last rotation");

    // The client holds counter 2, the store shows 1: the session rolls forward, once the
    // store's connection has followed the takeover (503 until then, never invalid_grant).
    let started = Instant::now();
    let rolled = loop {
        match auth.refresh(&newest.refresh_token).await {
            Ok(pair) => break pair,
            Err(AuthError::InvalidGrant) => panic!("the newest token was refused"),
            Err(err) => {
                assert!(started.elapsed() < FAILOVER_CAP, "still failing: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let record = store
        .load(&id, std::time::SystemTime::now())
        .await
        .unwrap()
        .expect("the session lives");
    assert_eq!(record.counter, 3, "past every counter ever minted");
    assert!(
        events.lock().unwrap().iter().any(|e| matches!(
            e,
            SecurityEvent::RolledForward { session, generations: 1, .. } if *session == id
        )),
        "{:?}",
        events.lock().unwrap()
    );
    // And the session goes on as usual.
    let next = auth.refresh(&rolled.refresh_token).await.unwrap();
    auth.logout(&next.refresh_token).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server and redis-cli (tests/redis-cluster.sh)"]
async fn the_store_runs_over_tls_on_a_cluster_and_on_one_server() {
    use redis::TlsCertificates;

    // As an application that builds its own TLS connections does at start: with the core's
    // `remote-jwks` feature in the build, rustls has two providers compiled in and picks none.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cluster = LocalCluster::start(7400, true);
    let certs = || TlsCertificates {
        client_tls: None,
        root_cert: Some(cluster.ca_pem()),
    };
    let seeds: Vec<String> = (7400..7403)
        .map(|p| format!("rediss://127.0.0.1:{p}"))
        .collect();
    let client = redis::cluster::ClusterClientBuilder::new(seeds)
        .certs(certs())
        .build()
        .unwrap();
    let conn = client
        .get_async_connection()
        .await
        .expect("a TLS cluster connection");
    let on_cluster = RedisStore::new_cluster(conn).with_key_prefix("tra-tls");
    // One server over TLS: a node of the same cluster, for the keys of its own slots.
    let client = redis::Client::build_with_tls("rediss://127.0.0.1:7400", certs()).unwrap();
    let manager = redis::aio::ConnectionManager::new(client)
        .await
        .expect("a TLS connection");
    let on_server = RedisStore::new(manager).with_key_prefix("tra-tls");

    for (name, store) in [("cluster", on_cluster), ("server", on_server)] {
        let t0 = now_ms();
        // On the one-server connection, only a key of the node's own slots.
        let s = loop {
            let s = session("alice", t0);
            let key = format!("tra-tls:s:{{{}}}", s.id);
            if name == "cluster" || cluster.owners(7400, &key).map(|(m, _)| m.port) == Some(7400) {
                break s;
            }
        };
        store
            .create(&s)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let rotated = expect_rotated(
            store
                .rotate(&s.id, 0, 1, t0, t0 + Duration::from_secs(60))
                .await
                .unwrap(),
        );
        assert_eq!(rotated.counter, 1, "{name}");
        assert!(store.revoke(&s.id).await.unwrap(), "{name}");
    }
    // A plain-text client is refused by a TLS-only node: the URL's scheme matters.
    assert!(
        RedisStore::connect("redis+cluster://127.0.0.1:7400")
            .await
            .is_err()
    );
}

#[tokio::test]
#[ignore = "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"]
async fn durable_writes_wait_for_a_replica_on_the_cluster() {
    let url = service_url("REDIS_CLUSTER_URL");
    let prefix = format!("tra-durable:{}", tower_refresh_auth_test_support::run_id());
    let _keys = tower_refresh_auth_test_support::fixtures::DeleteKeysOnDrop::new(&url, &prefix);
    let store = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_key_prefix(&prefix)
        .with_durability(1, Duration::from_millis(500));
    let t0 = now_ms();
    let s = session("alice", t0);
    store.create(&s).await.expect("a create one replica has");
    let rotated = expect_rotated(
        store
            .rotate(&s.id, 0, 1, t0, t0 + Duration::from_secs(60))
            .await
            .expect("a rotation one replica has"),
    );
    assert_eq!(rotated.counter, 1);
    assert!(store.revoke(&s.id).await.expect("a revoke one replica has"));
    store.revoke_subject("alice").await.unwrap();

    // Asking for more replicas than the cluster has: every write is refused.
    let greedy = store.clone().with_durability(2, Duration::from_millis(100));
    let s = session("alice", t0);
    assert!(matches!(
        greedy.create(&s).await,
        Err(StoreError::Unavailable(_))
    ));
    store.revoke(&s.id).await.unwrap();
    store.revoke_subject("alice").await.unwrap();
}

#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn durable_writes_on_a_server_without_replicas_answer_503() {
    let url = service_url("REDIS_URL");
    let prefix = format!("tra-durable:{}", tower_refresh_auth_test_support::run_id());
    let _keys = tower_refresh_auth_test_support::fixtures::DeleteKeysOnDrop::new(&url, &prefix);
    let plain = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_key_prefix(&prefix);
    let durable = plain.clone().with_durability(1, Duration::from_millis(50));

    let t0 = now_ms();
    let s = session("alice", t0);
    assert!(matches!(
        durable.create(&s).await,
        Err(StoreError::Unavailable(_))
    ));
    plain.create(&s).await.unwrap();
    assert!(matches!(
        durable
            .rotate(&s.id, 0, 1, t0, t0 + Duration::from_secs(60))
            .await,
        Err(StoreError::Unavailable(_))
    ));
    // The rotation happened on the server all the same; only its acknowledgement failed.
    assert_eq!(plain.load(&s.id, t0).await.unwrap().unwrap().counter, 1);

    // Through the layer: 503 with Retry-After, never invalid_grant.
    let app = App::new(durable.clone(), SystemClock, Duration::from_secs(10));
    let login = App::new(plain.clone(), SystemClock, Duration::from_secs(10))
        .login("bob")
        .await;
    let reply = app.refresh(&login.refresh_token).await;
    reply.assert_error(503, "temporarily_unavailable");
    assert!(reply.headers.contains_key("retry-after"));
    let reply = app.logout(&login.refresh_token).await;
    reply.assert_error(503, "temporarily_unavailable");
}

/// The cost of durable rotations: sequential rotations on the cluster, without and with
/// `WAIT 1`, in the same run. Prints the figures (run with `--nocapture`).
#[tokio::test]
#[ignore = "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"]
async fn durable_rotations_cost() {
    const ROTATIONS: u64 = 2000;
    let url = service_url("REDIS_CLUSTER_URL");
    let prefix = format!("tra-cost:{}", tower_refresh_auth_test_support::run_id());
    let _keys = tower_refresh_auth_test_support::fixtures::DeleteKeysOnDrop::new(&url, &prefix);
    let plain = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_key_prefix(&prefix);
    let durable = plain.clone().with_durability(1, Duration::from_millis(500));
    let t0 = now_ms();
    let mut per_rotation = Vec::new();
    // Twice each, interleaved, so a warm-up or a noisy moment favours neither.
    for (name, store) in [
        ("plain", &plain),
        ("WAIT 1", &durable),
        ("plain", &plain),
        ("WAIT 1", &durable),
    ] {
        let s = session("cost", t0);
        store.create(&s).await.unwrap();
        let started = Instant::now();
        for counter in 0..ROTATIONS {
            expect_rotated(
                store
                    .rotate(
                        &s.id,
                        counter,
                        counter + 1,
                        t0,
                        t0 + Duration::from_secs(60),
                    )
                    .await
                    .unwrap(),
            );
        }
        let took = started.elapsed();
        store.revoke(&s.id).await.unwrap();
        eprintln!(
            "{name}: {ROTATIONS} sequential rotations in {took:?}, {:?} each",
            took / ROTATIONS as u32
        );
        per_rotation.push((name, took));
    }
    plain.revoke_subject("cost").await.unwrap();
    let sum = |which: &str| -> Duration {
        per_rotation
            .iter()
            .filter(|(n, _)| *n == which)
            .map(|(_, t)| *t)
            .sum()
    };
    let ratio = sum("WAIT 1").as_secs_f64() / sum("plain").as_secs_f64();
    eprintln!("durable rotations cost {ratio:.2}x a plain rotation (sequential, one client)");
    assert!(ratio > 0.5, "a WAIT cannot make a rotation cheaper by half");
}
