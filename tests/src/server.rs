//! Throwaway Redis and PostgreSQL servers that a test can stop and start again.
//!
//! Each runs on a spare port with its data in a temporary directory, and is killed when its
//! guard drops, whether the test passed or panicked.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
#[cfg(feature = "redis")]
use std::process::Child;
use std::process::{Command, Stdio};
#[cfg(feature = "redis")]
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A server a test can stop and restart with its data intact.
pub trait Restartable {
    /// Stops the server cleanly and waits until it is gone.
    fn stop(&mut self);
    /// Starts it again on the same port and data, and waits until it answers.
    fn start(&mut self);
}

/// A port nothing listened on a moment ago.
fn spare_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a spare port")
}

/// Runs `cmd` to completion, panicking with its output if it fails.
fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `ready` every 50 ms for up to 10 s.
#[cfg(feature = "redis")]
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The program `name`, found on `PATH` or in `extra` directories; `None` (after the
/// [`service_url`](crate::service_url)-style CI check) when it is not installed.
fn find_program(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!("{name} is not installed, and CI=true: CI must run the outage tests");
        }
        eprintln!("skipped: {name} not installed");
    }
    found
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
    /// Starts a server; `None` when `redis-server` is not installed (outside CI).
    pub fn start() -> Option<Self> {
        let program = find_program("redis-server", &[])?;
        let mut server = Self {
            program,
            port: spare_port(),
            dir: tempfile::tempdir().expect("a temporary directory"),
            child: None,
        };
        server.start();
        Some(server)
    }

    /// Its `redis://` URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn answers(&self) -> bool {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }
}

#[cfg(feature = "redis")]
impl Restartable for RedisServer {
    fn start(&mut self) {
        let child = Command::new(&self.program)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        wait_until("redis-server", || self.answers());
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
    /// Creates and starts a cluster; `None` when `initdb` is not installed (outside CI).
    pub fn start() -> Option<Self> {
        let versions = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"));
        let initdb = find_program("initdb", &versions.collect::<Vec<_>>())?;
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
        server.start();
        Some(server)
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
    fn start(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        run(self.pg_ctl(&["start", "-o", &options, "--log"]).arg(log));
        self.running = true;
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
