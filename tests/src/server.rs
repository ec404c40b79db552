//! Throwaway Redis and PostgreSQL servers that a test can stop and start again.
//!
//! Each runs on a spare port with its data in a temporary directory, and is killed when its
//! guard drops, whether the test passed or panicked. The port is drawn below the kernel's
//! ephemeral range, so no outgoing connection takes it while the server is down, and a start
//! that loses its port anyway is retried (on a new port when the server is new, on the same
//! port after a pause when it restarts).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
#[cfg(feature = "redis")]
use std::process::Child;
use std::process::{Command, Stdio};
use std::time::Duration;
#[cfg(feature = "redis")]
use std::time::Instant;

use tempfile::TempDir;
use tower_refresh_auth_test_support::require_program;

/// A server a test can stop and restart with its data intact.
pub trait Restartable {
    /// Stops the server cleanly and waits until it is gone.
    fn stop(&mut self);

    /// One attempt to start the server on its port; it fails when the port is taken.
    fn try_start(&mut self) -> Result<(), String>;

    /// Moves the server to `port` (before it first started).
    fn set_port(&mut self, port: u16);

    /// Starts it again on the same port and data, and waits until it answers. The store's
    /// URL names the port, so a taken port is waited for rather than left.
    fn start(&mut self) {
        with_retries(|attempt| {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(500));
            }
            self.try_start()
        });
    }

    /// Starts a new server, on another spare port when its first one is taken.
    fn start_first(&mut self) {
        with_retries(|attempt| {
            if attempt > 0 {
                self.set_port(spare_port());
            }
            self.try_start()
        });
    }
}

/// How many times a server start is tried before the test gives up.
const START_ATTEMPTS: usize = 5;

/// A port nothing listens on, below the ephemeral range the kernel hands to outgoing
/// connections (read from `/proc`, 32768 by default), so that nothing but another test that
/// chose it explicitly can take it while the server is down.
fn spare_port() -> u16 {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000_u16, ephemeral_low.max(20_000));
    let mut seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()));
    for _ in 0..1000 {
        // xorshift: any spread will do, the bind below is the real check.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = low + u16::try_from(seed % u64::from(high - low)).expect("fits in u16");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no spare port in {low}..{high}");
}

/// Runs `cmd` to completion; its output as the error if it fails.
fn try_run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs `cmd` to completion, panicking with its output if it fails.
fn run(cmd: &mut Command) {
    if let Err(e) = try_run(cmd) {
        panic!("{e}");
    }
}

/// Calls `start(attempt)` for attempts `0..START_ATTEMPTS` until one succeeds.
fn with_retries(mut start: impl FnMut(usize) -> Result<(), String>) {
    let mut errors = Vec::new();
    for attempt in 0..START_ATTEMPTS {
        match start(attempt) {
            Ok(()) => return,
            Err(e) => errors.push(e),
        }
    }
    panic!("the server did not start in {START_ATTEMPTS} attempts: {errors:#?}");
}

/// A `redis-server` with an append-only file, so its data survives a restart.
#[cfg(feature = "redis")]
#[derive(Debug)]
pub struct RedisServer {
    program: PathBuf,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

#[cfg(feature = "redis")]
impl RedisServer {
    /// Starts a server.
    ///
    /// # Panics
    ///
    /// When `redis-server` is not installed or does not start.
    pub fn start() -> Self {
        let mut server = Self {
            program: require_program("redis-server", &[]),
            port: spare_port(),
            dir: tempfile::tempdir().expect("a temporary directory"),
            child: None,
        };
        server.start_first();
        server
    }

    /// Its `redis://` URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether the server on the port is our child (not another test's server that took
    /// the port).
    fn answers_as(&self, pid: u32) -> bool {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("INFO").arg("server").query::<String>(&mut c))
            .is_ok_and(|info| {
                info.lines()
                    .any(|l| l.trim() == format!("process_id:{pid}"))
            })
    }
}

#[cfg(feature = "redis")]
impl Restartable for RedisServer {
    /// Spawns the server and waits until it answers, or fails if it exits first (its port
    /// was taken) or does not answer within 10 s.
    fn try_start(&mut self) -> Result<(), String> {
        let mut child = Command::new(&self.program)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.answers_as(child.id()) {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited: {status}",
                    self.port
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("redis-server on port {} did not answer", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: Redis flushes its append-only file and exits.
            run(Command::new("kill").args(["-TERM", &child.id().to_string()]));
            let _ = child.wait();
        }
    }
}

#[cfg(feature = "redis")]
impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A PostgreSQL cluster of its own, run as the `postgres` user when the tests run as root.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    port: u16,
    dir: TempDir,
    running: bool,
}

impl PostgresServer {
    /// Creates and starts a cluster.
    ///
    /// # Panics
    ///
    /// When `initdb` is not installed or the cluster does not start.
    pub fn start() -> Self {
        let versions = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"));
        let initdb = require_program("initdb", &versions.collect::<Vec<_>>());
        let bin = initdb.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = tempfile::tempdir().expect("a temporary directory");
        if is_root() {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        run(as_postgres(&initdb)
            .args([
                "--auth=trust",
                "--username=postgres",
                "--no-sync",
                "--pgdata",
            ])
            .arg(dir.path().join("data"))
            .stdout(Stdio::null()));
        let mut server = Self {
            bin,
            port: spare_port(),
            dir,
            running: false,
        };
        server.start_first();
        server
    }

    /// Its `postgres://` URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, action: &[&str]) -> Command {
        let mut cmd = as_postgres(&self.bin.join("pg_ctl"));
        cmd.arg("--pgdata")
            .arg(self.dir.path().join("data"))
            .args(["--wait", "--silent"])
            .args(action);
        cmd
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// `program` run as the `postgres` user when this process is root (PostgreSQL refuses to
/// run as root), else as the current user.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

impl Restartable for PostgresServer {
    /// `pg_ctl start --wait`: fails when the postmaster cannot bind its port.
    fn try_start(&mut self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        try_run(self.pg_ctl(&["start", "-o", &options, "--log"]).arg(log))?;
        self.running = true;
        Ok(())
    }

    fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    fn stop(&mut self) {
        // Fast shutdown: open connections are cut, as in a crash or failover.
        run(&mut self.pg_ctl(&["stop", "--mode=fast"]));
        self.running = false;
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self.pg_ctl(&["stop", "--mode=immediate"]).output();
        }
    }
}
