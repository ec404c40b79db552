//! Soak harness for the example servers (`docs/protocol.md` §6).
//!
//! Run with:
//!
//! ```text
//! cargo build --release -p axum-dashboard -p poem-dashboard --features \
//!     axum-dashboard/redis,axum-dashboard/postgres,poem-dashboard/redis,poem-dashboard/postgres
//! REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//! cargo run --release -p tower-refresh-auth-soak -- \
//!     --server target/release/axum-dashboard --server target/release/poem-dashboard \
//!     [--stores auto|memory,redis,postgres,cluster] [--secs 30] [--clients 32] \
//!     [--max-requests 5000000] [--settle 0]
//! ```
//!
//! For each `--server` and each store, it starts the server binary on 127.0.0.1 with an
//! ephemeral port and short lifetimes (access tokens 2 s, refresh tokens 6 s, grace window
//! 1 s), drives it with `--clients` concurrent clients for `--secs` seconds (or
//! `--max-requests` requests), and prints the number of requests, the flows of each scenario,
//! the statuses the server answered to shed load (`503` and `429`, with `Retry-After`), the
//! unexpected statuses (which must be 0), p50/p99 latency and the server's resident memory
//! (`VmRSS` from `/proc/<pid>/status`) over time.
//!
//! The stores (`--stores`, default `auto`): `memory` always, one instance; `redis` with
//! `REDIS_URL`, `postgres` with `DATABASE_URL`, `cluster` with `REDIS_CLUSTER_URL`
//! (`redis+cluster://…`), each with **two instances** of the server sharing the store, every
//! client's requests alternating between them (a race's two refreshes go one to each). `auto`
//! is memory and every store whose variable is set; a store named but unreachable fails the
//! run. The two demo users hold far more than 100 sessions at once under this load, so the
//! servers run with `MAX_SESSIONS_PER_USER=10000`: the limit would end sessions a flow still
//! uses (`docs/protocol.md` §8), which is right, but not what this harness checks.
//!
//! Each client loops over four scenarios:
//!
//! - **normal**: log in, call the API, refresh when the access token has expired, refresh a
//!   few times, log out, check the logged-out token is refused;
//! - **race**: two refreshes with one token at once: both must succeed with the *same*
//!   successor (the grace window), never two different ones;
//! - **thief**: replay a spent token after the grace window: refused, and the whole session
//!   with it;
//! - **abandon**: log in and walk away, leaving the session to expire in the store.
//!
//! A `503 temporarily_unavailable` (the examples' bounded password checker, or a store that
//! failed) and a `429` (the login throttle) are correct answers under load: the client waits
//! the `Retry-After` they carry (at most 5 s; 1 s when absent) and sends the request again,
//! (the clients told alike spread over a quarter second), for as long as the run lasts; they
//! are counted apart, never as unexpected. A run in which no flow completed fails.
//!
//! With `--settle N` the harness then waits N seconds without load (long enough for every
//! session to expire and the memory store's once-a-minute sweep to become due: 70 is
//! enough), logs in once to trigger the sweep, and samples the memory again.
//!
//! The server inherits the harness's environment, so allocator settings can be tried
//! without rebuilding it. The demo login checks passwords with argon2 and its default 19 MiB
//! of memory per attempt; under concurrent logins glibc's adaptive mmap threshold moves
//! those buffers onto the heap, which fragments, and the server's RSS climbs by gigabytes.
//! `MALLOC_MMAP_THRESHOLD_=1048576` pins the threshold and shows the layer's own footprint.
//!
//! Traffic is loopback only, bounded in time and in count. The exit status is non-zero if
//! any status was unexpected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tower_refresh_auth_test_support::{Reply, refresh_body};

const ACCESS_TTL: Duration = Duration::from_secs(2);
const REFRESH_TTL: Duration = Duration::from_secs(6);
const GRACE: Duration = Duration::from_secs(1);
const SECRET: &str = "the soak harness's secret, at least 32 bytes long";
const USERS: [(&str, &str); 2] = [("user1", "password1"), ("user2", "password2")];
/// The longest `Retry-After` honoured, and the wait when a shed answer names none.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// How many logins the settling step may wait out.
const SETTLE_RETRIES: u32 = 30;

/// A store the servers can run on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Store {
    name: &'static str,
    /// The servers' `STORE_URL`.
    url: String,
    /// How many server instances share it.
    instances: usize,
}

#[derive(Debug)]
struct Settings {
    servers: Vec<PathBuf>,
    stores: Vec<Store>,
    secs: u64,
    clients: usize,
    max_requests: u64,
    settle: u64,
}

/// The stores `spec` names (`auto`, or a comma-separated list), with their URLs from the
/// environment.
fn stores(spec: &str) -> Result<Vec<Store>, String> {
    let shared = [
        ("redis", "REDIS_URL"),
        ("postgres", "DATABASE_URL"),
        ("cluster", "REDIS_CLUSTER_URL"),
    ];
    let url = |var: &str| std::env::var(var).ok().filter(|u| !u.trim().is_empty());
    let memory = Store {
        name: "memory",
        url: "memory://".into(),
        instances: 1,
    };
    if spec == "auto" {
        let mut all = vec![memory];
        for (name, var) in shared {
            if let Some(url) = url(var) {
                all.push(Store {
                    name,
                    url,
                    instances: 2,
                });
            }
        }
        return Ok(all);
    }
    spec.split(',')
        .map(str::trim)
        .map(|name| {
            if name == "memory" {
                return Ok(memory.clone());
            }
            let (name, var) = shared.iter().find(|(n, _)| *n == name).ok_or_else(|| {
                format!("unknown store {name:?}: memory, redis, postgres or cluster")
            })?;
            let url = url(var).ok_or_else(|| format!("--stores {name} needs {var}"))?;
            Ok(Store {
                name,
                url,
                instances: 2,
            })
        })
        .collect()
}

impl Settings {
    fn from_args() -> Result<Self, String> {
        let mut settings = Self {
            servers: Vec::new(),
            stores: Vec::new(),
            secs: 30,
            clients: 32,
            max_requests: 5_000_000,
            settle: 0,
        };
        let mut spec = "auto".to_owned();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            let number = |v: String| v.parse::<u64>().map_err(|e| format!("{arg}: {e}"));
            match arg.as_str() {
                "--server" => settings.servers.push(value()?.into()),
                "--stores" => spec = value()?,
                "--secs" => settings.secs = number(value()?)?,
                "--clients" => {
                    settings.clients = usize::try_from(number(value()?)?)
                        .map_err(|e| format!("--clients: {e}"))?;
                }
                "--max-requests" => settings.max_requests = number(value()?)?,
                "--settle" => settings.settle = number(value()?)?,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if settings.servers.is_empty() {
            return Err("--server PATH (an example server binary) is required".into());
        }
        if settings.clients == 0 || settings.secs == 0 {
            return Err("--clients and --secs must be at least 1".into());
        }
        settings.stores = stores(&spec)?;
        Ok(settings)
    }
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(binary: &Path, store: &Store) -> Result<Self, String> {
        use std::io::{BufRead, BufReader};
        let mut cmd = Command::new(binary);
        for var in [
            "REFRESH_TRANSPORT",
            "DPOP",
            "CHECK_SESSIONS",
            "SESSION_LIFETIME",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("JWT_SECRET", SECRET)
            .env("STORE_URL", &store.url)
            .env("MAX_SESSIONS_PER_USER", "10000")
            .env("ACCESS_TOKEN_TTL", format!("{}s", ACCESS_TTL.as_secs()))
            .env("REFRESH_TOKEN_TTL", format!("{}s", REFRESH_TTL.as_secs()))
            .env("REFRESH_REUSE_GRACE", format!("{}s", GRACE.as_secs()))
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("reading the listening line: {e}"))?;
        // Keep draining both pipes so the server never blocks on a full one.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let addr: Option<SocketAddr> = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let mut why = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut why);
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} on {} did not start (first line {line:?}): {}",
                binary.display(),
                store.name,
                why.trim()
            ));
        };
        std::thread::spawn(move || {
            std::io::copy(&mut BufReader::new(stderr), &mut std::io::sink())
        });
        if !addr.ip().is_loopback() {
            return Err(format!("the server listens on {addr}, not on loopback"));
        }
        Ok(Self { child, addr })
    }
}

/// The resident set size in KiB of process `pid`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The kinds of request, for per-kind latency.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Login,
    Api,
    Refresh,
    Logout,
}

const KINDS: [Kind; 4] = [Kind::Login, Kind::Api, Kind::Refresh, Kind::Logout];

/// What every client reports.
#[derive(Default)]
struct Stats {
    /// Microseconds per request, by [`Kind`].
    latencies_us: [Vec<u32>; 4],
    unexpected: Vec<String>,
    scenarios: [u64; 4],
    /// `503` answers (load shed, with `Retry-After`), by [`Kind`].
    unavailable: [u64; 4],
    /// `429` answers (the login throttle), by [`Kind`].
    throttled: [u64; 4],
}

impl Stats {
    fn add(&mut self, other: Self) {
        for (a, b) in self.latencies_us.iter_mut().zip(other.latencies_us) {
            a.extend(b);
        }
        self.unexpected.extend(other.unexpected);
        for (a, b) in self.scenarios.iter_mut().zip(other.scenarios) {
            *a += b;
        }
        for (a, b) in self.unavailable.iter_mut().zip(other.unavailable) {
            *a += b;
        }
        for (a, b) in self.throttled.iter_mut().zip(other.throttled) {
            *a += b;
        }
    }
}

/// One client's flows against the servers, counting what it sends.
struct Flow<'a> {
    client: &'a Client,
    /// The instances; requests go to each in turn.
    bases: &'a [String],
    turn: usize,
    budget: &'a AtomicU64,
    deadline: Instant,
    stats: &'a mut Stats,
}

/// A reply, its JSON body (`null` when it has none: the harness reports, it does not panic),
/// and when its request was sent.
struct Answer {
    reply: Reply,
    json: Value,
    sent: Instant,
}

impl std::ops::Deref for Answer {
    type Target = Reply;

    fn deref(&self) -> &Reply {
        &self.reply
    }
}

/// Reads a whole response; `None` when the connection failed on the way.
async fn read(res: reqwest::Response) -> Option<Reply> {
    let (status, headers) = (res.status(), res.headers().clone());
    Some(Reply::new(status, headers, res.bytes().await.ok()?))
}

/// Whether `status` is an answer that sheds load and asks to come back later.
fn is_shed(status: StatusCode) -> bool {
    status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS
}

/// How long a shed answer asks to wait (`Retry-After` in seconds), bounded.
fn retry_after(reply: &Reply) -> Duration {
    reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs)
        .clamp(Duration::from_millis(100), MAX_RETRY_AFTER)
}

impl Flow<'_> {
    /// The next instance's base URL.
    fn base(&mut self) -> String {
        let base = self.bases[self.turn % self.bases.len()].clone();
        self.turn += 1;
        base
    }

    /// Takes one request from the budget; `false` once it is spent.
    fn spend(&self) -> bool {
        if self.budget.fetch_sub(1, Ordering::Relaxed) == 0 {
            self.budget.store(0, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Sends the request `make` builds for an instance, waiting out and sending again each
    /// `503`/`429` (counted apart); `None` once the budget or the time is spent, or the
    /// transport failed.
    async fn send(
        &mut self,
        kind: Kind,
        make: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Option<Answer> {
        let mut retries: u32 = 0;
        loop {
            if !self.spend() {
                return None;
            }
            let base = self.base();
            let sent = Instant::now();
            let reply = match make(&base).send().await {
                Ok(res) => read(res).await,
                Err(e) => {
                    self.stats.unexpected.push(format!("transport error: {e}"));
                    return None;
                }
            };
            let Some(reply) = reply else {
                self.stats.unexpected.push("transport error: body".into());
                return None;
            };
            let us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
            self.stats.latencies_us[kind as usize].push(us);
            if is_shed(reply.status) {
                if reply.status == StatusCode::SERVICE_UNAVAILABLE {
                    self.stats.unavailable[kind as usize] += 1;
                } else {
                    self.stats.throttled[kind as usize] += 1;
                }
                // Spread the clients told the same `Retry-After` over a quarter second, so
                // they do not all come back at once.
                let spread = (self.turn as u64 * 37 + u64::from(retries) * 11) % 250;
                let wait = retry_after(&reply) + Duration::from_millis(spread);
                // Waited out until the run's end: not a failure of the server, which answered
                // correctly each time (a run with no flow at all fails, see `soak`).
                if Instant::now() + wait >= self.deadline {
                    return None;
                }
                tokio::time::sleep(wait).await;
                retries += 1;
                continue;
            }
            let json = reply.try_json().unwrap_or(Value::Null);
            return Some(Answer { reply, json, sent });
        }
    }

    fn unexpected(&mut self, what: &str, reply: &Answer) {
        self.stats
            .unexpected
            .push(format!("{what}: {} {}", reply.status, reply.json));
    }

    async fn login(&mut self, n: usize) -> Option<(String, String, Instant)> {
        let (username, password) = USERS[n % USERS.len()];
        let body = json!({ "username": username, "password": password });
        let client = self.client;
        let reply = self
            .send(Kind::Login, |base| {
                client.post(format!("{base}/login")).json(&body)
            })
            .await?;
        match pair(&reply) {
            Some((at, rt)) if reply.status == StatusCode::OK => Some((at, rt, reply.sent)),
            _ => {
                self.unexpected("login", &reply);
                None
            }
        }
    }

    /// A `POST` of `token` in a JSON body to `path` (`/token` or `/logout`) on `base`.
    fn token_request(
        client: &Client,
        base: &str,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(refresh_body(token))
    }

    /// A protected call; a `401` is expected only once the token may have expired.
    async fn call(&mut self, access: &str, issued: Instant) -> Option<bool> {
        let client = self.client;
        let reply = self
            .send(Kind::Api, |base| {
                client
                    .get(format!("{base}/api/dashboard"))
                    .bearer_auth(access)
            })
            .await?;
        // `exp` is whole seconds after a truncated `iat`: a token lives at least TTL - 1 s.
        let may_have_expired =
            reply.sent.duration_since(issued) + Duration::from_secs(1) >= ACCESS_TTL;
        match reply.status {
            StatusCode::OK => Some(true),
            StatusCode::UNAUTHORIZED if may_have_expired => Some(false),
            _ => {
                self.unexpected("api call", &reply);
                Some(false)
            }
        }
    }

    /// A refresh of the pair issued at `issued`: it must succeed unless the session may have
    /// expired meanwhile (a server so loaded that a flow idled for a refresh-token lifetime).
    async fn refresh(&mut self, token: &str, issued: Instant) -> Option<(String, String, Instant)> {
        let client = self.client;
        let reply = self
            .send(Kind::Refresh, |base| {
                Self::token_request(client, base, "/token", token)
            })
            .await?;
        let may_have_expired =
            reply.sent.duration_since(issued) + Duration::from_secs(1) >= REFRESH_TTL;
        match pair(&reply) {
            Some((at, rt)) if reply.status == StatusCode::OK => Some((at, rt, reply.sent)),
            _ if may_have_expired && reply.json["error"] == "invalid_grant" => None,
            _ => {
                self.unexpected("refresh", &reply);
                None
            }
        }
    }

    /// A refresh that must be refused with `invalid_grant`.
    async fn refused(&mut self, what: &str, token: &str) -> Option<()> {
        let client = self.client;
        let reply = self
            .send(Kind::Refresh, |base| {
                Self::token_request(client, base, "/token", token)
            })
            .await?;
        if reply.status != StatusCode::BAD_REQUEST || reply.json["error"] != "invalid_grant" {
            self.unexpected(what, &reply);
        }
        Some(())
    }

    async fn logout(&mut self, token: &str) -> Option<()> {
        let client = self.client;
        let reply = self
            .send(Kind::Logout, |base| {
                Self::token_request(client, base, "/logout", token)
            })
            .await?;
        if reply.status != StatusCode::NO_CONTENT {
            self.unexpected("logout", &reply);
        }
        Some(())
    }

    async fn normal(&mut self, n: usize) -> Option<()> {
        let (mut access, mut refresh, mut issued) = self.login(n).await?;
        for _ in 0..3 {
            for _ in 0..3 {
                if !self.call(&access, issued).await? {
                    // The dashboard's behaviour: refresh on a 401 and retry once.
                    (access, refresh, issued) = self.refresh(&refresh, issued).await?;
                    if !self.call(&access, issued).await? {
                        return Some(());
                    }
                }
            }
            (access, refresh, issued) = self.refresh(&refresh, issued).await?;
        }
        self.logout(&refresh).await?;
        self.refused("refresh after logout", &refresh).await
    }

    /// Two refreshes with one token at once, one to each instance when there are two.
    async fn race(&mut self, n: usize) -> Option<()> {
        let (_, token, _) = self.login(n).await?;
        if !(self.spend() && self.spend()) {
            return None;
        }
        let (first, second) = (self.base(), self.base());
        let started = Instant::now();
        let (a, b) = tokio::join!(
            Self::token_request(self.client, &first, "/token", &token).send(),
            Self::token_request(self.client, &second, "/token", &token).send(),
        );
        let elapsed = started.elapsed();
        let mut successors = Vec::new();
        for res in [a, b] {
            let us = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
            self.stats.latencies_us[Kind::Refresh as usize].push(us);
            let reply = match res {
                Ok(res) => read(res).await,
                Err(_) => None,
            };
            let Some(reply) = reply else {
                self.stats.unexpected.push("race: transport error".into());
                return None;
            };
            if reply.status == StatusCode::SERVICE_UNAVAILABLE {
                // A store that shed the load: the race says nothing then.
                self.stats.unavailable[Kind::Refresh as usize] += 1;
                return Some(());
            }
            let successor = reply
                .try_json()
                .and_then(|json| json["refreshToken"].as_str().map(str::to_owned));
            successors.push((reply.status, successor));
        }
        match (&successors[0], &successors[1]) {
            ((StatusCode::OK, Some(x)), (StatusCode::OK, Some(y))) if x == y => {
                self.refresh(x, started).await?;
            }
            ((StatusCode::OK, Some(_)), (StatusCode::OK, Some(_))) => {
                self.stats
                    .unexpected
                    .push("race: two different live successors".into());
            }
            // One of them came more than the grace window after the other: reuse, which is
            // the documented outcome then.
            _ if elapsed >= GRACE => {}
            other => self.stats.unexpected.push(format!("race: {other:?}")),
        }
        Some(())
    }

    async fn thief(&mut self, n: usize) -> Option<()> {
        let (_, stolen, issued) = self.login(n).await?;
        let (_, current, _) = self.refresh(&stolen, issued).await?;
        tokio::time::sleep(GRACE + Duration::from_millis(200)).await;
        self.refused("replay after the grace window", &stolen)
            .await?;
        self.refused("the family after a reuse", &current).await
    }

    async fn abandon(&mut self, n: usize) -> Option<()> {
        let (access, _, issued) = self.login(n).await?;
        self.call(&access, issued).await.map(|_| ())
    }
}

fn pair(reply: &Answer) -> Option<(String, String)> {
    Some((
        reply.json["accessToken"].as_str()?.to_owned(),
        reply.json["refreshToken"].as_str()?.to_owned(),
    ))
}

async fn client_loop(
    id: usize,
    client: Client,
    bases: Arc<[String]>,
    deadline: Instant,
    budget: Arc<AtomicU64>,
) -> Stats {
    let mut stats = Stats::default();
    let mut flow = Flow {
        client: &client,
        bases: &bases,
        turn: id,
        budget: &budget,
        deadline,
        stats: &mut stats,
    };
    let mut n = id;
    while Instant::now() < deadline && budget.load(Ordering::Relaxed) > 0 {
        let scenario = n % 8;
        let outcome = match scenario {
            0..=4 => flow.normal(n).await,
            5 => flow.race(n).await,
            6 => flow.thief(n).await,
            _ => flow.abandon(n).await,
        };
        if outcome.is_some() {
            flow.stats.scenarios[scenario.saturating_sub(4).min(3)] += 1;
        }
        n += 1;
    }
    stats
}

fn percentile(sorted: &[u32], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Duration::from_micros(u64::from(sorted[i]))
}

/// One soak of `binary` on `store`; returns how many statuses were unexpected.
async fn soak(settings: &Settings, binary: &Path, store: &Store) -> Result<u64, String> {
    let servers = (0..store.instances)
        .map(|_| Server::start(binary, store))
        .collect::<Result<Vec<_>, _>>()?;
    let bases: Arc<[String]> = servers
        .iter()
        .map(|s| format!("http://{}", s.addr))
        .collect();
    let pids: Vec<u32> = servers.iter().map(|s| s.child.id()).collect();
    let client = Client::builder()
        .pool_max_idle_per_host(settings.clients)
        .build()
        .map_err(|e| e.to_string())?;
    let kib = |v: Option<u64>| v.map_or("?".to_owned(), |v| format!("{v} KiB"));
    let rss_all = || {
        pids.iter()
            .map(|&pid| kib(rss_kib(pid)))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let rss_start = rss_all();
    println!(
        "\nsoak: {} on {} ({} instance{} at {}) for {} s with {} clients (access {:?}, refresh {:?}, grace {:?})",
        binary.display(),
        store.name,
        store.instances,
        if store.instances == 1 { "" } else { "s" },
        bases.join(", "),
        settings.secs,
        settings.clients,
        ACCESS_TTL,
        REFRESH_TTL,
        GRACE
    );

    let started = Instant::now();
    let deadline = started + Duration::from_secs(settings.secs);
    let budget = Arc::new(AtomicU64::new(settings.max_requests));
    let tasks: Vec<_> = (0..settings.clients)
        .map(|id| {
            tokio::spawn(client_loop(
                id,
                client.clone(),
                Arc::clone(&bases),
                deadline,
                Arc::clone(&budget),
            ))
        })
        .collect();

    // Memory every five seconds while the clients run.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let samples = Arc::clone(&samples);
        let pids = pids.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let rss: Vec<Option<u64>> = pids.iter().map(|&pid| rss_kib(pid)).collect();
                samples
                    .lock()
                    .await
                    .push((started.elapsed().as_secs(), rss));
            }
        })
    };

    let mut all = Stats::default();
    for task in tasks {
        all.add(task.await.map_err(|e| format!("a client panicked: {e}"))?);
    }
    let elapsed = started.elapsed();
    sampler.abort();
    let rss_end = rss_all();

    let mut every: Vec<u32> = all.latencies_us.iter().flatten().copied().collect();
    every.sort_unstable();
    let requests = every.len();
    println!(
        "requests: {requests} in {:.1} s ({:.0}/s); flows: {} normal, {} race, {} thief, {} abandon",
        elapsed.as_secs_f64(),
        f64::from(u32::try_from(requests).unwrap_or(u32::MAX)) / elapsed.as_secs_f64(),
        all.scenarios[0],
        all.scenarios[1],
        all.scenarios[2],
        all.scenarios[3],
    );
    let by_kind = |counts: &[u64; 4]| {
        KINDS
            .iter()
            .zip(counts)
            .filter(|(_, n)| **n > 0)
            .map(|(kind, n)| format!("{} {n}", format!("{kind:?}").to_lowercase()))
            .collect::<Vec<_>>()
    };
    let (unavailable, throttled) = (by_kind(&all.unavailable), by_kind(&all.throttled));
    println!(
        "shed, waited out (Retry-After) and sent again: 503 {} [{}]; 429 {} [{}]",
        all.unavailable.iter().sum::<u64>(),
        unavailable.join(", "),
        all.throttled.iter().sum::<u64>(),
        throttled.join(", "),
    );
    let line = |name: &str, sorted: &[u32]| {
        println!(
            "latency {name:<8} n={:<7} p50 {:>10.3?}  p99 {:>10.3?}  max {:>10.3?}",
            sorted.len(),
            percentile(sorted, 0.50),
            percentile(sorted, 0.99),
            percentile(sorted, 1.0),
        );
    };
    line("all", &every);
    for (kind, latencies) in KINDS.iter().zip(&mut all.latencies_us) {
        latencies.sort_unstable();
        line(&format!("{kind:?}").to_lowercase(), latencies);
    }
    let series: Vec<String> = samples
        .lock()
        .await
        .iter()
        .map(|(t, rss)| {
            let each: Vec<String> = rss.iter().map(|r| kib(*r)).collect();
            format!("{t}s {}", each.join(" + "))
        })
        .collect();
    println!(
        "server RSS: start {rss_start}, end {rss_end}; every 5 s: {}",
        series.join(", ")
    );

    if settings.settle > 0 {
        tokio::time::sleep(Duration::from_secs(settings.settle)).await;
        let before = rss_all();
        // A login creates a session, which lets the memory store sweep the expired ones.
        let budget = AtomicU64::new(store.instances as u64 * u64::from(SETTLE_RETRIES));
        let mut stats = Stats::default();
        let mut flow = Flow {
            client: &client,
            bases: &bases,
            turn: 0,
            budget: &budget,
            deadline: Instant::now() + MAX_RETRY_AFTER * SETTLE_RETRIES,
            stats: &mut stats,
        };
        for n in 0..store.instances {
            flow.login(n).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!(
            "after {} s idle: RSS {before}; after one login each (sweep): {}",
            settings.settle,
            rss_all()
        );
        all.unexpected.extend(stats.unexpected);
    }

    if all.scenarios.iter().sum::<u64>() == 0 {
        all.unexpected
            .push("no flow completed: the server answered nothing but 503/429".into());
    }
    println!("unexpected statuses: {}", all.unexpected.len());
    for line in all.unexpected.iter().take(20) {
        println!("  {line}");
    }
    Ok(u64::try_from(all.unexpected.len()).unwrap_or(u64::MAX))
}

/// Every server on every store, in turn; the number of runs with unexpected statuses.
async fn soak_all(settings: Settings) -> Result<u64, String> {
    let mut failed = Vec::new();
    for server in &settings.servers {
        for store in &settings.stores {
            match soak(&settings, server, store).await {
                Ok(0) => {}
                Ok(n) => failed.push(format!(
                    "{} on {}: {n} unexpected",
                    server.display(),
                    store.name
                )),
                Err(e) => failed.push(format!("{} on {}: {e}", server.display(), store.name)),
            }
        }
    }
    println!();
    if failed.is_empty() {
        println!(
            "soak passed: {} server(s) × {} store(s), no unexpected status",
            settings.servers.len(),
            settings.stores.len()
        );
    }
    for f in &failed {
        println!("soak FAILED: {f}");
    }
    Ok(u64::try_from(failed.len()).unwrap_or(u64::MAX))
}

fn main() -> ExitCode {
    let settings = match Settings::from_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(soak_all(settings)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}
