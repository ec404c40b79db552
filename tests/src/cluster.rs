//! A throwaway Redis Cluster of its own for a test: `tests/redis-cluster.sh` on ports of
//! the test's choosing (3 masters and 3 replicas), torn down when dropped, and the
//! `redis-cli` look-ups and faults a failover test needs.

use std::path::PathBuf;
use std::process::Command;

/// A local cluster on `base..base + 6`, stopped (every node, its directory removed) on drop.
#[derive(Debug)]
pub struct LocalCluster {
    /// Its first port.
    pub base: u16,
    url: String,
    tls: bool,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct Node {
    /// The node id.
    pub id: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Whether it is a master.
    pub master: bool,
    /// The id of its master, for a replica.
    pub master_id: Option<String>,
    /// The slot ranges it serves, for a master.
    pub slots: Vec<(u16, u16)>,
}

fn script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/redis-cluster.sh"))
}

impl LocalCluster {
    /// Starts a cluster on `base..base + 6` (`tls`: TLS only, with a CA of its own), and
    /// waits until it is ready. A cluster left on those ports by an earlier, killed run
    /// is stopped first.
    ///
    /// # Panics
    ///
    /// When `redis-server` or `redis-cli` is missing or the cluster does not come up.
    pub fn start(base: u16, tls: bool) -> Self {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &base.to_string()])
            .status();
        let mut start = Command::new("bash");
        start.arg(script()).args(["start", &base.to_string()]);
        if tls {
            start.arg("--tls");
        }
        let out = start.output().expect("run tests/redis-cluster.sh");
        assert!(
            out.status.success(),
            "tests/redis-cluster.sh start {base} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Self { base, url, tls }
    }

    /// Its seed URL (`redis+cluster://…`, or `rediss+cluster://…` with TLS).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The directory the script runs it in.
    pub fn dir(&self) -> PathBuf {
        std::env::temp_dir().join(format!("tra-redis-cluster-{}", self.base))
    }

    /// The CA certificate (PEM) of a TLS cluster.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir().join("tls/ca.crt")).expect("the cluster's CA certificate")
    }

    /// `redis-cli -p port args…`, its standard output; `None` if it failed.
    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let mut cli = Command::new("redis-cli");
        if self.tls {
            cli.arg("--tls")
                .arg("--cacert")
                .arg(self.dir().join("tls/ca.crt"));
        }
        let out = cli
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `redis-cli -p port` reading `commands` (one a line) on one connection, its output.
    pub fn cli_lines(&self, port: u16, commands: &str) -> Option<String> {
        use std::io::Write as _;
        let mut cli = Command::new("redis-cli");
        if self.tls {
            cli.arg("--tls")
                .arg("--cacert")
                .arg(self.dir().join("tls/ca.crt"));
        }
        let mut child = cli
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(commands.as_bytes()).ok()?;
        let out = child.wait_with_output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The nodes as a live node at `via` sees them (the failed ones left out).
    pub fn nodes(&self, via: u16) -> Vec<Node> {
        let text = self.cli(via, &["cluster", "nodes"]).unwrap_or_default();
        text.lines()
            .filter(|l| !l.contains("fail") && !l.contains("noaddr"))
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let port = f.get(1)?.split(['@', ':']).nth(1)?.parse().ok()?;
                let master = f.get(2)?.contains("master");
                let slots = f
                    .iter()
                    .skip(8)
                    .filter_map(|r| match r.split_once('-') {
                        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                        None => r.parse().ok().map(|s| (s, s)),
                    })
                    .collect();
                Some(Node {
                    id: (*f.first()?).to_owned(),
                    port,
                    master,
                    master_id: (!master)
                        .then(|| f.get(3).map(|s| (*s).to_owned()))
                        .flatten(),
                    slots,
                })
            })
            .collect()
    }

    /// The master serving `key` and one replica of it, as the node at `via` sees them.
    pub fn owners(&self, via: u16, key: &str) -> Option<(Node, Node)> {
        let slot: u16 = self
            .cli(via, &["cluster", "keyslot", key])?
            .trim()
            .parse()
            .ok()?;
        let nodes = self.nodes(via);
        let master = nodes
            .iter()
            .find(|n| n.master && n.slots.iter().any(|&(a, b)| a <= slot && slot <= b))?
            .clone();
        let replica = nodes
            .iter()
            .find(|n| n.master_id.as_deref() == Some(master.id.as_str()))?
            .clone();
        Some((master, replica))
    }

    /// A port of the cluster other than `port`.
    pub fn other_port(&self, port: u16) -> u16 {
        (self.base..self.base + 6)
            .find(|&p| p != port)
            .expect("six ports")
    }

    /// Kills the node on `port` with SIGKILL: no goodbye to the cluster.
    pub fn kill(&self, port: u16) {
        let pid = std::fs::read_to_string(self.dir().join(format!("{port}/redis.pid")))
            .expect("the node's pid file");
        let status = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill the node on {port}");
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.base.to_string()])
            .status();
    }
}
