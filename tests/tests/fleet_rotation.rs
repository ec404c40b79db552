//! Three example dashboards (axum, poem, axum) on one store with `KEY_ROTATION` of a few
//! seconds (docs/protocol.md §13), under traffic across at least five rotations, on Redis,
//! PostgreSQL, the Redis Cluster and SQLite: every access token verifies on every instance
//! until it expires, every refresh token refreshes on another instance, every instance lists
//! a key before the first token it signs is seen, the ring holds one key per step, and a
//! restart mid-run makes no key and logs no one out.
//!
//! The dashboards set no JWKS max-age, so it is the key overlap: `ACCESS_TOKEN_TTL` (3 s,
//! no leeway). The publish-ahead is then that max-age plus two polls (a poll is a quarter of
//! it): 4.5 s, longer than `KEY_ROTATION` (4 s), so each key is made as soon as its
//! predecessor starts signing, and signs 4.5 s later.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashboard_shared::{Settings, Users};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_refresh_auth::fleet::KeyRingSync;
use tower_refresh_auth_test_support::service_url;
use tower_refresh_auth_tests::dashboards::Framework;

const KEK: &str = "8n1Vd0x7cKqJm3bOaYwW9sR4tE2uI6oP5lZ0kA1hG3c";

/// Rotations to see: distinct signing keys, less the first.
const ROTATIONS: usize = 5;

/// A bound on each store's run, far above the ~30 s it takes: past it the test fails
/// saying how far it got, rather than hang.
const BOUND: Duration = Duration::from_secs(90);

/// Pacing of the traffic: one round (a refresh, the JWKS of all three, every live token on
/// all three) every this long.
const ROUND: Duration = Duration::from_millis(200);

fn settings(store_url: &str) -> Settings {
    let vars: HashMap<&str, OsString> = [
        ("STORE_URL", store_url),
        ("KEY_ROTATION", "4s"),
        ("ACCESS_TOKEN_TTL", "3s"),
        ("SIGNING_ALG", "EdDSA"),
        ("KEY_ENCRYPTION_KEY", KEK),
    ]
    .into_iter()
    .map(|(k, v)| (k, OsString::from(v)))
    .collect();
    Settings::from_vars(|name| vars.get(name).cloned()).unwrap()
}

/// One running dashboard: its server, and its key-ring poller (what the binary spawns).
struct Instance {
    base: String,
    sync: KeyRingSync,
    poller: JoinHandle<()>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Instance {
    /// Starts `framework`'s dashboard as its `main` does (`dashboard_shared::build_auth`),
    /// keeping the [`KeyRingSync`] to read the ring it holds.
    async fn start(framework: Framework, settings: &Settings) -> Self {
        let store = settings.connect_store().await.unwrap();
        let builder = match framework {
            Framework::Axum => axum_dashboard::auth_builder(settings, store),
            Framework::Poem => poem_dashboard::auth_builder(settings, store),
        };
        let rotation = settings.key_rotation.clone().unwrap();
        let (auth, sync) = builder
            .key_rotation(rotation)
            .build_with_key_rotation()
            .await
            .unwrap();
        let poller = tokio::spawn(sync.clone().run());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let server = match framework {
            Framework::Axum => tokio::spawn(axum_dashboard::serve(
                listener,
                axum_dashboard::app(auth, Users::demo(), settings),
                shutdown,
            )),
            Framework::Poem => tokio::spawn(poem_dashboard::serve(
                listener,
                poem_dashboard::app(auth, Users::demo(), settings),
                shutdown,
            )),
        };
        Self {
            base,
            sync,
            poller,
            stop,
            server,
        }
    }

    /// Stops the server gracefully and its poller.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.poller.abort();
        tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .expect("the server stops within 5 s")
            .unwrap()
            .unwrap();
    }

    /// The kids of the ring this instance holds.
    fn ring_kids(&self) -> BTreeSet<String> {
        self.sync.status().keys.into_iter().map(|k| k.kid).collect()
    }
}

/// A JWT's header `kid` and payload `exp`.
fn kid_and_exp(jwt: &str) -> (String, u64) {
    let mut parts = jwt.split('.');
    let mut part = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap()
    };
    let (header, payload) = (part(), part());
    (
        header["kid"].as_str().unwrap().to_owned(),
        payload["exp"].as_u64().unwrap(),
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The fleet under test and what the traffic has seen.
struct Fleet {
    settings: Settings,
    client: reqwest::Client,
    frameworks: [Framework; 3],
    instances: Vec<Instance>,
    /// Per instance slot, every kid its JWKS has listed.
    published: [HashSet<String>; 3],
    /// Every kid any JWKS has listed.
    all_kids: BTreeSet<String>,
    /// The kids tokens were signed with, in the order first seen.
    signing_kids: Vec<String>,
    /// Access tokens not yet expired: the token, its `exp`, the slot that issued it.
    live: Vec<(String, u64, usize)>,
    /// Each session's latest refresh token and the slot that issued it.
    sessions: Vec<(String, usize)>,
    /// Requests sent, by kind, for the report.
    requests: HashMap<&'static str, usize>,
}

impl Fleet {
    async fn start(store_url: &str) -> Self {
        let settings = settings(store_url);
        let frameworks = [Framework::Axum, Framework::Poem, Framework::Axum];
        let mut instances = Vec::new();
        for framework in frameworks {
            instances.push(Instance::start(framework, &settings).await);
        }
        Self {
            settings,
            client: reqwest::Client::new(),
            frameworks,
            instances,
            published: Default::default(),
            all_kids: BTreeSet::new(),
            signing_kids: Vec::new(),
            live: Vec::new(),
            sessions: Vec::new(),
            requests: HashMap::new(),
        }
    }

    fn count(&mut self, kind: &'static str) {
        *self.requests.entry(kind).or_default() += 1;
    }

    /// Reads every instance's JWKS.
    async fn read_jwks(&mut self) {
        for slot in 0..3 {
            let url = format!("{}/.well-known/jwks.json", self.instances[slot].base);
            let res = self.client.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let body: Value = res.json().await.unwrap();
            for key in body["keys"].as_array().unwrap() {
                let kid = key["kid"].as_str().unwrap().to_owned();
                self.published[slot].insert(kid.clone());
                self.all_kids.insert(kid);
            }
            self.count("jwks");
        }
    }

    /// Records a token `slot` issued: a kid first seen must have been listed by every
    /// instance's JWKS already.
    fn issued(&mut self, access: &str, refresh: &str, slot: usize, session: Option<usize>) {
        let (kid, exp) = kid_and_exp(access);
        if !self.signing_kids.contains(&kid) {
            for (other, published) in self.published.iter().enumerate() {
                assert!(
                    published.contains(&kid),
                    "instance {other} had not listed {kid} when the first token signed with it \
                     arrived (from instance {slot})"
                );
            }
            self.signing_kids.push(kid);
        }
        self.live.push((access.to_owned(), exp, slot));
        let entry = (refresh.to_owned(), slot);
        match session {
            Some(i) => self.sessions[i] = entry,
            None => self.sessions.push(entry),
        }
    }

    /// Logs `user` in on instance `slot`.
    async fn login(&mut self, slot: usize, user: usize) {
        let res = self
            .client
            .post(format!("{}/login", self.instances[slot].base))
            .json(
                &json!({"username": format!("user{user}"), "password": format!("password{user}")}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "a login on instance {slot}");
        let body: Value = res.json().await.unwrap();
        let (access, refresh) = (body["accessToken"].as_str(), body["refreshToken"].as_str());
        self.issued(access.unwrap(), refresh.unwrap(), slot, None);
        self.count("login");
    }

    /// Refreshes session `i` on the instance after the one that issued its refresh token.
    async fn refresh(&mut self, i: usize) {
        let (token, issuer) = self.sessions[i].clone();
        let slot = (issuer + 1) % 3;
        let res = self
            .client
            .post(format!("{}/token", self.instances[slot].base))
            .json(&json!({"refreshToken": token}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            status, 200,
            "a refresh token of instance {issuer} on instance {slot}: {body}"
        );
        let (access, refresh) = (body["accessToken"].as_str(), body["refreshToken"].as_str());
        self.issued(access.unwrap(), refresh.unwrap(), slot, Some(i));
        self.count("refresh");
    }

    /// Every access token with at least a second to live answers `200` on every instance.
    async fn verify_live(&mut self) {
        let now = unix_now();
        self.live.retain(|(_, exp, _)| *exp > now + 1);
        for (access, _, issuer) in self.live.clone() {
            for slot in 0..3 {
                let res = self
                    .client
                    .get(format!("{}/api/dashboard", self.instances[slot].base))
                    .bearer_auth(&access)
                    .send()
                    .await
                    .unwrap();
                let (kid, _) = kid_and_exp(&access);
                assert_eq!(
                    res.status(),
                    200,
                    "a token of instance {issuer} signed with {kid} on instance {slot}"
                );
                self.count("dashboard");
            }
        }
    }

    /// Restarts the instance in `slot` once the current step is taken (every instance lists
    /// a key that has not signed yet), so that no step is due while it starts: its ring is
    /// the fleet's, with no key of its own.
    async fn restart(&mut self, slot: usize, deadline: Instant) {
        loop {
            let pending = self.instances.iter().all(|i| {
                i.sync
                    .status()
                    .keys
                    .iter()
                    .any(|k| !self.signing_kids.contains(&k.kid))
            });
            if pending {
                break;
            }
            assert!(Instant::now() < deadline, "no next key before the restart");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let known = self.ring_kids();
        let version = self.version();
        let old = self.instances.remove(slot);
        old.stop().await;
        let restarted = Instance::start(self.frameworks[slot], &self.settings).await;
        assert_eq!(
            restarted.sync.status().version,
            version,
            "the restart adopted the fleet's ring"
        );
        let mine = restarted.ring_kids();
        self.instances.insert(slot, restarted);
        assert!(
            mine.is_subset(&known),
            "the restart made a key: {mine:?} ⊄ {known:?}"
        );
        assert_eq!(self.ring_kids(), known, "no kid added by the restart");
        // Its JWKS starts from scratch.
        self.published[slot].clear();
    }

    /// The kids of every instance's ring.
    fn ring_kids(&self) -> BTreeSet<String> {
        self.instances
            .iter()
            .flat_map(Instance::ring_kids)
            .collect()
    }

    /// The newest ring version any instance holds.
    fn version(&self) -> u64 {
        self.instances
            .iter()
            .map(|i| i.sync.status().version)
            .max()
            .unwrap()
    }

    async fn stop(self) {
        for instance in self.instances {
            instance.stop().await;
        }
    }
}

/// The run: traffic round-robin over the three instances until `ROTATIONS` rotations have
/// been seen, a restart of the poem instance after the second.
async fn rotate_under_traffic(store_url: &str) {
    let started = Instant::now();
    let deadline = started + BOUND;
    let mut fleet = Fleet::start(store_url).await;
    assert_eq!(fleet.version(), 1, "one first ring for three instances");
    let mut restarted = false;
    let mut logged_in_at = 0;
    let mut round = 0;
    while fleet.signing_kids.len() <= ROTATIONS {
        assert!(
            Instant::now() < deadline,
            "{} signing keys seen in {BOUND:?}, wanted {}",
            fleet.signing_kids.len(),
            ROTATIONS + 1
        );
        fleet.read_jwks().await;
        // A login on each instance in turn at the start, then one per new signing key.
        if fleet.sessions.len() < 3 || fleet.signing_kids.len() > logged_in_at {
            logged_in_at = fleet.signing_kids.len();
            fleet.login(round % 3, round % 2 + 1).await;
        }
        fleet.refresh(round % fleet.sessions.len()).await;
        fleet.verify_live().await;
        if !restarted && fleet.signing_kids.len() == 3 {
            fleet.restart(1, deadline).await;
            fleet.read_jwks().await;
            restarted = true;
        }
        round += 1;
        tokio::time::sleep(ROUND).await;
    }
    // Every session refreshes once more, each on an instance that did not issue it.
    for i in 0..fleet.sessions.len() {
        fleet.refresh(i).await;
    }
    fleet.verify_live().await;
    fleet.read_jwks().await;

    let steps = fleet.signing_kids.len() - 1;
    let made = fleet.all_kids.len();
    let version = fleet.version();
    eprintln!(
        "{store_url}: {steps} rotations in {:.1?}, {made} distinct kids published, ring \
         version {version}, requests {:?}",
        started.elapsed(),
        fleet.requests
    );
    assert!(restarted);
    // One key per step: the kids that signed, and at most one made ahead and not yet signing.
    assert!(
        made == steps + 1 || made == steps + 2,
        "{made} kids for {steps} steps: {:?} signed, {:?} published",
        fleet.signing_kids,
        fleet.all_kids
    );
    let signed: BTreeSet<String> = fleet.signing_kids.iter().cloned().collect();
    assert!(signed.is_subset(&fleet.all_kids));
    // Every version of the ring is one step: one key made.
    assert_eq!(version, made as u64, "ring versions vs distinct kids");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fleet.db").display());
    rotate_under_traffic(&url).await;
}

/// Removes the dashboards' ring (`tra:ring`, the default prefix) left by an earlier run.
#[cfg(feature = "redis")]
async fn clear_redis_ring(url: &str) {
    use redis::AsyncCommands as _;
    let _: () = match url.strip_prefix("redis+cluster://") {
        Some(hosts) => {
            let seeds: Vec<String> = hosts.split(',').map(|h| format!("redis://{h}")).collect();
            let client = redis::cluster::ClusterClient::new(seeds).unwrap();
            let mut conn = client.get_async_connection().await.unwrap();
            conn.del("tra:ring").await.unwrap()
        }
        None => {
            let client = redis::Client::open(url).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            conn.del("tra:ring").await.unwrap()
        }
    };
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn redis() {
    let url = service_url("REDIS_URL");
    clear_redis_ring(&url).await;
    rotate_under_traffic(&url).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"]
async fn redis_cluster() {
    let url = service_url("REDIS_CLUSTER_URL");
    assert!(url.starts_with("redis+cluster://"), "{url}");
    clear_redis_ring(&url).await;
    rotate_under_traffic(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
async fn postgres() {
    let url = service_url("DATABASE_URL");
    // The dashboards' ring (the default table's) left by an earlier run.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let _ = sqlx::query(r#"DELETE FROM "refresh_sessions_key_ring""#)
        .execute(&pool)
        .await;
    pool.close().await;
    rotate_under_traffic(&url).await;
}
