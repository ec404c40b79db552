//! Soak harness for the example servers (SPEC §6).
//!
//! Run with:
//!
//! ```text
//! cargo build --release -p axum-dashboard            # or poem-dashboard
//! cargo run --release -p tower-refresh-auth-soak -- \
//!     --server target/release/axum-dashboard [--secs 30] [--clients 32] \
//!     [--max-requests 5000000] [--settle 0]
//! ```
//!
//! It starts the server binary on 127.0.0.1 with an ephemeral port and short lifetimes
//! (access tokens 2 s, refresh tokens 6 s, grace window 1 s, the memory store), drives it
//! with `--clients` concurrent clients for `--secs` seconds (or `--max-requests` requests),
//! and prints the number of requests, the unexpected statuses (which must be 0), p50/p99
//! latency and the server's resident memory (`VmRSS` from `/proc/<pid>/status`) over time.
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
use std::path::PathBuf;
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

#[derive(Debug)]
struct Settings {
    server: PathBuf,
    secs: u64,
    clients: usize,
    max_requests: u64,
    settle: u64,
}

impl Settings {
    fn from_args() -> Result<Self, String> {
        let mut settings = Self {
            server: PathBuf::new(),
            secs: 30,
            clients: 32,
            max_requests: 5_000_000,
            settle: 0,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            let number = |v: String| v.parse::<u64>().map_err(|e| format!("{arg}: {e}"));
            match arg.as_str() {
                "--server" => settings.server = value()?.into(),
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
        if settings.server.as_os_str().is_empty() {
            return Err("--server PATH (an example server binary) is required".into());
        }
        if settings.clients == 0 || settings.secs == 0 {
            return Err("--clients and --secs must be at least 1".into());
        }
        Ok(settings)
    }
}

/// The server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(binary: &PathBuf) -> Result<Self, String> {
        use std::io::{BufRead, BufReader};
        let mut cmd = Command::new(binary);
        for var in ["STORE_URL", "REFRESH_TRANSPORT"] {
            cmd.env_remove(var);
        }
        cmd.env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("JWT_SECRET", SECRET)
            .env("ACCESS_TOKEN_TTL", format!("{}s", ACCESS_TTL.as_secs()))
            .env("REFRESH_TOKEN_TTL", format!("{}s", REFRESH_TTL.as_secs()))
            .env("REFRESH_REUSE_GRACE", format!("{}s", GRACE.as_secs()))
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("reading the listening line: {e}"))?;
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected first line {line:?}"))?;
        if !addr.ip().is_loopback() {
            return Err(format!("the server listens on {addr}, not on loopback"));
        }
        Ok(Self { child, addr })
    }

    /// The server's resident set size in KiB.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
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
}

/// One client's flows against the server, counting what it sends.
struct Flow<'a> {
    client: &'a Client,
    base: &'a str,
    budget: &'a AtomicU64,
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

impl Flow<'_> {
    /// Sends one request; `None` once the request budget is spent.
    async fn send(&mut self, kind: Kind, req: reqwest::RequestBuilder) -> Option<Answer> {
        if self.budget.fetch_sub(1, Ordering::Relaxed) == 0 {
            self.budget.store(0, Ordering::Relaxed);
            return None;
        }
        let sent = Instant::now();
        let reply = match req.send().await {
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
        let json = reply.try_json().unwrap_or(Value::Null);
        Some(Answer { reply, json, sent })
    }

    fn unexpected(&mut self, what: &str, reply: &Answer) {
        self.stats
            .unexpected
            .push(format!("{what}: {} {}", reply.status, reply.json));
    }

    async fn login(&mut self, n: usize) -> Option<(String, String, Instant)> {
        let (username, password) = USERS[n % USERS.len()];
        let req = self
            .client
            .post(format!("{}/login", self.base))
            .json(&json!({ "username": username, "password": password }));
        let reply = self.send(Kind::Login, req).await?;
        match pair(&reply) {
            Some((at, rt)) if reply.status == StatusCode::OK => Some((at, rt, reply.sent)),
            _ => {
                self.unexpected("login", &reply);
                None
            }
        }
    }

    /// A `POST` of `token` in a JSON body to `path` (`/token` or `/logout`).
    fn token_request(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(refresh_body(token))
    }

    fn refresh_request(&self, token: &str) -> reqwest::RequestBuilder {
        self.token_request("/token", token)
    }

    /// A protected call; a `401` is expected only once the token may have expired.
    async fn call(&mut self, access: &str, issued: Instant) -> Option<bool> {
        let req = self
            .client
            .get(format!("{}/api/dashboard", self.base))
            .bearer_auth(access);
        let reply = self.send(Kind::Api, req).await?;
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
        let req = self.refresh_request(token);
        let reply = self.send(Kind::Refresh, req).await?;
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
        let req = self.refresh_request(token);
        let reply = self.send(Kind::Refresh, req).await?;
        if reply.status != StatusCode::BAD_REQUEST || reply.json["error"] != "invalid_grant" {
            self.unexpected(what, &reply);
        }
        Some(())
    }

    async fn logout(&mut self, token: &str) -> Option<()> {
        let req = self.token_request("/logout", token);
        let reply = self.send(Kind::Logout, req).await?;
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

    async fn race(&mut self, n: usize) -> Option<()> {
        let (_, token, _) = self.login(n).await?;
        let started = Instant::now();
        let (a, b) = tokio::join!(
            self.refresh_request(&token).send(),
            self.refresh_request(&token).send(),
        );
        let elapsed = started.elapsed();
        let mut successors = Vec::new();
        for res in [a, b] {
            self.budget.fetch_sub(1, Ordering::Relaxed);
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
    base: Arc<str>,
    deadline: Instant,
    budget: Arc<AtomicU64>,
) -> Stats {
    let mut stats = Stats::default();
    let mut session = Flow {
        client: &client,
        base: &base,
        budget: &budget,
        stats: &mut stats,
    };
    let mut n = id;
    while Instant::now() < deadline && budget.load(Ordering::Relaxed) > 0 {
        let scenario = n % 8;
        let outcome = match scenario {
            0..=4 => session.normal(n).await,
            5 => session.race(n).await,
            6 => session.thief(n).await,
            _ => session.abandon(n).await,
        };
        if outcome.is_some() {
            session.stats.scenarios[scenario.saturating_sub(4).min(3)] += 1;
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

async fn soak(settings: Settings) -> Result<u64, String> {
    let server = Server::start(&settings.server)?;
    let base: Arc<str> = format!("http://{}", server.addr).into();
    let client = Client::builder()
        .pool_max_idle_per_host(settings.clients)
        .build()
        .map_err(|e| e.to_string())?;
    let rss_start = server.rss_kib();
    println!(
        "soak: {} on {} for {} s with {} clients (access {:?}, refresh {:?}, grace {:?})",
        settings.server.display(),
        server.addr,
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
                Arc::clone(&base),
                deadline,
                Arc::clone(&budget),
            ))
        })
        .collect();

    // Memory every five seconds while the clients run.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let samples = Arc::clone(&samples);
        let pid = server.child.id();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmRSS:"))
                            .and_then(|v| {
                                v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
                            })
                    });
                samples
                    .lock()
                    .await
                    .push((started.elapsed().as_secs(), rss));
            }
        })
    };

    let mut all = Stats::default();
    for task in tasks {
        let stats = task.await.map_err(|e| format!("a client panicked: {e}"))?;
        for (a, b) in all.latencies_us.iter_mut().zip(stats.latencies_us) {
            a.extend(b);
        }
        all.unexpected.extend(stats.unexpected);
        for (a, b) in all.scenarios.iter_mut().zip(stats.scenarios) {
            *a += b;
        }
    }
    let elapsed = started.elapsed();
    sampler.abort();
    let rss_end = server.rss_kib();

    let mut every: Vec<u32> = all.latencies_us.iter().flatten().copied().collect();
    every.sort_unstable();
    let requests = every.len();
    println!(
        "requests: {requests} in {:.1} s ({:.0}/s); scenarios: {} normal, {} race, {} thief, {} abandon",
        elapsed.as_secs_f64(),
        f64::from(u32::try_from(requests).unwrap_or(u32::MAX)) / elapsed.as_secs_f64(),
        all.scenarios[0],
        all.scenarios[1],
        all.scenarios[2],
        all.scenarios[3],
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
    let kib = |v: Option<u64>| v.map_or("?".to_owned(), |v| format!("{v} KiB"));
    let series: Vec<String> = samples
        .lock()
        .await
        .iter()
        .map(|(t, rss)| format!("{t}s {}", kib(*rss)))
        .collect();
    println!(
        "server RSS: start {}, end {}; every 5 s: {}",
        kib(rss_start),
        kib(rss_end),
        series.join(", ")
    );

    if settings.settle > 0 {
        tokio::time::sleep(Duration::from_secs(settings.settle)).await;
        let before = server.rss_kib();
        // A login creates a session, which lets the memory store sweep the expired ones.
        let budget = AtomicU64::new(1);
        let mut stats = Stats::default();
        let mut session = Flow {
            client: &client,
            base: &base,
            budget: &budget,
            stats: &mut stats,
        };
        session.login(0).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!(
            "after {} s idle: RSS {}; after one login (sweep): {}",
            settings.settle,
            kib(before),
            kib(server.rss_kib())
        );
        all.unexpected.extend(stats.unexpected);
    }

    println!("unexpected statuses: {}", all.unexpected.len());
    for line in all.unexpected.iter().take(20) {
        println!("  {line}");
    }
    Ok(u64::try_from(all.unexpected.len()).unwrap_or(u64::MAX))
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
    match runtime.block_on(soak(settings)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}
