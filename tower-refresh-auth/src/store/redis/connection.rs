//! The connection a [`RedisStore`](super::RedisStore) talks through: one server behind a
//! [`ConnectionManager`], or a Redis Cluster behind a [`ClusterConnection`]; and the
//! `STORE_URL`-style addresses that pick one.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// Where the store's commands go.
#[derive(Clone)]
pub(super) enum Conn {
    /// One server (it may be a primary with replicas; the store writes to it alone).
    Server(ConnectionManager),
    /// A Redis Cluster: every command goes to the primary of its key's slot.
    Cluster(ClusterConnection),
}

impl Conn {
    /// Whether a pipeline may only hold commands of one slot.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(conn) => conn.req_packed_commands(pipeline, offset, count),
            // The cluster connection routes a pipeline to the primary of its first keyed
            // command's slot; a command without a key (`WAIT`) goes along with it.
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// What a store URL names.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Address {
    /// `redis://…` or `rediss://…`: one server, as the `redis` crate parses it.
    Server(String),
    /// `redis+cluster://h:p,h:p…` or `rediss+cluster://…`: the seed nodes of a cluster, each
    /// as a `redis://` (or `rediss://`) URL with the credentials of the first.
    Cluster(Vec<String>),
}

impl Address {
    /// Parses a store URL: a cluster scheme into its seeds, anything else into a server URL
    /// handed to the `redis` crate as it is.
    pub(super) fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("redis+cluster://") {
            ("redis", rest)
        } else if let Some(rest) = url.strip_prefix("rediss+cluster://") {
            ("rediss", rest)
        } else {
            return Ok(Self::Server(url.to_owned()));
        };
        // The credentials, if any, come before the first host and hold for every seed.
        let (userinfo, hosts) = match rest.rsplit_once('@') {
            Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
            None => (String::new(), rest),
        };
        // What follows the hosts (a `/db` or `?query`) is kept on every seed.
        let (hosts, tail) = match hosts.find(['/', '?', '#']) {
            Some(at) => hosts.split_at(at),
            None => (hosts, ""),
        };
        let seeds: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(|host| format!("{scheme}://{userinfo}{host}{tail}"))
            .collect();
        if seeds.is_empty() {
            return Err(format!(
                "{scheme}+cluster:// names no seed node: write {scheme}+cluster://HOST:PORT[,HOST:PORT…]"
            ));
        }
        Ok(Self::Cluster(seeds))
    }
}

/// Makes aws-lc-rs rustls's process-wide provider, unless the application has chosen one.
/// rustls picks one from its crate features only when exactly one is compiled in, and the
/// `remote-jwks` feature's HTTP client (reqwest) brings `ring` beside our aws-lc-rs: without
/// this, the first `rediss://` connection would panic. An application that builds its own TLS
/// connections installs a provider itself, at start (see [`RedisStore`](super::RedisStore)).
pub(super) fn ensure_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may install one first; either is aws-lc-rs or the application's.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// A cluster client builder for `seeds` with the store's connection and response timeouts.
pub(super) fn cluster_builder<T: redis::IntoConnectionInfo>(
    seeds: impl IntoIterator<Item = T>,
    timeout: Duration,
) -> ClusterClientBuilder {
    ClusterClientBuilder::new(seeds)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        // Retries on MOVED, TRYAGAIN and lost nodes, with a back-off: a failover is waited
        // out within the operation's timeout, after which the store answers `Timeout`.
        .retries(8)
        .min_retry_wait(10)
        .max_retry_wait(250)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_names_its_seeds_with_the_first_ones_credentials() {
        assert_eq!(
            Address::parse("redis+cluster://127.0.0.1:7000,127.0.0.1:7001"),
            Ok(Address::Cluster(vec![
                "redis://127.0.0.1:7000".into(),
                "redis://127.0.0.1:7001".into()
            ]))
        );
        assert_eq!(
            Address::parse("rediss+cluster://u:p@a:1,b:2/0"),
            Ok(Address::Cluster(vec![
                "rediss://u:p@a:1/0".into(),
                "rediss://u:p@b:2/0".into()
            ]))
        );
        assert_eq!(
            Address::parse("rediss://h:6380"),
            Ok(Address::Server("rediss://h:6380".into()))
        );
        assert!(Address::parse("redis+cluster://").is_err());
        assert!(Address::parse("redis+cluster://u@,").is_err());
    }
}
