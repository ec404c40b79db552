//! [`RedisStore`]: sessions in Redis — one server or a Redis Cluster, plain or TLS — one Lua
//! script per operation.
//!
//! # Configuration
//!
//! ```no_run
//! use std::time::Duration;
//! use tower_refresh_auth::store::RedisStore;
//!
//! # async fn run() -> Result<(), tower_refresh_auth::store::StoreError> {
//! // One server (`rediss://` for TLS).
//! let store = RedisStore::connect("redis://127.0.0.1:6379")
//!     .await?
//!     .with_key_prefix("myapp:auth")
//!     .with_timeout(Duration::from_secs(1));
//! // A Redis Cluster, from any of its nodes (`rediss+cluster://` for TLS).
//! let clustered = RedisStore::connect("redis+cluster://10.0.0.1:6379,10.0.0.2:6379").await?;
//! # let _ = (store, clustered); Ok(()) }
//! ```
//!
//! [`RedisStore::new`] takes a [`ConnectionManager`] you built yourself instead, to set its
//! reconnection back-off or timeouts; [`RedisStore::new_cluster`] a [`ClusterConnection`]
//! (say, with TLS under a private CA); [`RedisStore::connect_cluster`] takes seed nodes from
//! code. TLS is rustls with the aws-lc-rs provider, verified against the system's roots
//! unless you build the connection with roots of your own.
//!
//! rustls chooses its provider process-wide. With the `remote-jwks` feature, whose HTTP client
//! compiles `ring` in beside aws-lc-rs, it can no longer choose by itself: [`connect`] and
//! [`connect_cluster`] install aws-lc-rs when the application has installed none, and an
//! application that builds its TLS connections itself ([`new`], [`new_cluster`]) installs one
//! at start, before the first connection:
//! `rustls::crypto::aws_lc_rs::default_provider().install_default()`.
//!
//! [`connect`]: RedisStore::connect
//! [`connect_cluster`]: RedisStore::connect_cluster
//! [`new`]: RedisStore::new
//! [`new_cluster`]: RedisStore::new_cluster
//!
//! # Key layout
//!
//! With the default prefix `tra`:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `tra:s:{<session id>}` | hash | `sub`, `claims`, `ctr`, `cat`, `rat`, `exp`, `seal` and, if the session has them, `abs`, `ua` (user agent), `lbl` (label) and `jkt` (its DPoP key's thumbprint) |
//! | `tra:pk:{<partition>}` | sorted set | the spent DPoP proofs of one key ([`ReplayKey`], by its [partition](ReplayKey::partition)), each scored by when it may be forgotten, at most [`with_proofs_per_key`](RedisStore::with_proofs_per_key) of them; the set expires with its last proof ([`remember_proof`](DpopStore::remember_proof): one script) |
//! | `tra:u:{<subject>}` | sorted set | the ids of the subject's sessions, scored by when they were added, for [`revoke_subject`](SubjectIndex::revoke_subject) and [`list`](SubjectIndex::list) |
//! | `tra:ring` | hash | the fleet's sealed key ring ([`KeyRingStore`]): `v` its version, `d` the sealed data; swapped by one script |
//! | `tra:rf:{tra}:seq` | string | the [revocation feed](RevocationFeed)'s latest sequence number (tagged with the prefix) |
//! | `tra:rf:{tra}:log` | sorted set | the recorded revocations, JSON scored by sequence number; the expired ones dropped from the head at each `publish`, the set expiring a minute after its latest; pushed on the channel `tra:revocations` by the same script |
//!
//! Times are integer milliseconds since the Unix epoch; the counter is a decimal integer;
//! `seal` is the session's [seal](crate::session::Session::seal). A hash written before
//! sessions were sealed has no `seal` field: it reads as an empty seal, which never
//! verifies, so that session is refused and its user logs in again.
//! Each key carries its own hash tag (the part in braces), and every script touches the keys
//! of exactly one tag, as Redis Cluster requires. (If the prefix itself contains a `{…}`
//! tag, that tag wins and every key lands in one slot, which also works.)
//!
//! # Redis Cluster
//!
//! On a cluster every command goes to the primary of its key's slot, and a pipeline may hold
//! the keys of one slot only. So `load`, `rotate`, `revoke` and `reseal` are exactly as on one
//! server (one command or script on the session's slot); the operations that span slots send
//! one call per slot, all at once: `create` writes the subject's index, then the session (two
//! round trips, in that order); `revoke_subject` deletes the sessions, then drops them from
//! the index; `list` reads every session at once; index pruning checks every id at once.
//! The cluster connection follows `MOVED` and a failover by itself; while a slot has no
//! primary its operations fail with [`StoreError::Timeout`] or [`StoreError::Unavailable`]
//! within the [timeout](RedisStore::with_timeout), which the layer answers with `503`.
//!
//! Redis replicates asynchronously: a rotation a primary acknowledged can be lost when a
//! replica that had not received it takes over. The layer then sees a refresh token ahead of
//! the store and rolls the session forward (`docs/protocol.md` §11) rather than logging the
//! user out; [`with_durability`](RedisStore::with_durability) trades that case for a `503`.
//!
//! # Round trips
//!
//! | operation | round trips | how |
//! |---|---|---|
//! | `create` | 1 (2 on a cluster) | a pipeline of two scripts: add the id to the subject's index, then write the session |
//! | `load` | 1 | `HMGET`; liveness is checked against the caller's `now` |
//! | `rotate` | 1 | one script: the compare-and-swap |
//! | `revoke` | 1 | `DEL` |
//! | `remember_proof` | 1 | one script on the key's partition: drop its expired proofs, refuse a replay or a full partition, else add |
//! | `revoke_subject` | 2 (3 on a cluster) | `ZRANGE` of the subject's index, then one pipeline: a script per session (each in its own slot) and one on the index |
//! | `list` | 2, or 3 | `ZRANGE` of the subject's index, then one pipeline of `HMGET`s (on a cluster, one `HMGET` per slot, at once); a third, only when some ids in the index name no live session, drops them |
//! | `list_page` | 3, or 4 | as `list`, but the first pipeline reads only `sub`, `cat`, `exp` and `abs` of each session (to sort them and judge them live), and a second reads the page's sessions whole |
//!
//! With [durability](RedisStore::with_durability) on, `WAIT` joins the pipeline of `create`,
//! `rotate` and `revoke`: no extra round trip, but the reply waits for the replicas.
//!
//! Scripts are sent by hash (`EVALSHA`) and loaded on a server that does not know them yet
//! (after a restart or `SCRIPT FLUSH`) automatically. They need Redis 5 or newer.
//!
//! Why `revoke_subject` and `list` take two round trips: `load` and `rotate` know only the session id,
//! so a session's key must be found from its id alone, and tagged with it; a subject's
//! index then lives in another slot, and Redis Cluster runs no script across slots. Tagging
//! every key with the subject instead would make `rotate` look the subject up first: two
//! round trips on the hot path instead of on "log out everywhere".
//!
//! # Expiry
//!
//! Every session key expires (`PEXPIREAT`) at the session's deadline, the earlier of its
//! sliding and absolute expiry, so Redis forgets dead sessions by itself; `rotate` moves the
//! expiry with the sliding deadline. Redis expires keys by *its* clock, the layer decides by
//! *its* [`Clock`](crate::clock::Clock), so the scripts also check liveness against the `now`
//! they are given: a session past its deadline is never returned, whichever clock is ahead.
//!
//! The subject's index cannot share a slot with its sessions, so it cannot follow their
//! expiry exactly. It expires at the latest absolute expiry of its sessions when they all
//! have one, and never otherwise. Ids of sessions that expired or were revoked one by one
//! stay in it until the next [`list`](SubjectIndex::list) or
//! [`revoke_subject`](SubjectIndex::revoke_subject) of the subject, or until a
//! `create` finds the index grown to a power of two of at least 32 ids and prunes the ids
//! whose session is gone (three more round trips, amortised over as many logins). A stale
//! id is harmless: it names a key that no longer exists.
//!
//! `create` adds the id to the index *before* it writes the session, so no session ever
//! exists unindexed; but for a moment an id may be indexed before its session exists.
//! That is why an id leaves the index only once it is a minute old (by the Redis server's
//! clock): `revoke_subject` and pruning never drop the entry of a session still being
//! written, which would leave it out of the next "log out everywhere".
//!
//! # Outages
//!
//! Each operation gives up after the [timeout](RedisStore::with_timeout) (default 2 s) with
//! [`StoreError::Timeout`]; a refused or dropped connection is [`StoreError::Unavailable`].
//! The layer answers both with `503` and `Retry-After`. The [`ConnectionManager`]
//! reconnects by itself once the server is back (with a back-off of up to a second), so
//! nothing needs rebuilding. A script cut off by the timeout may still have run: a refresh
//! retried after that finds the counter moved and, inside the grace window, gets the same
//! successor. Sessions survive a Redis restart only as far as Redis persists them (AOF or
//! RDB).

// One file per capability: the record (`record.rs`), the per-subject index
// (`subject_index.rs`), DPoP binding and replay memory (`dpop.rs`), re-authentication
// (`reauth.rs`), the key ring (`key_ring.rs`), the revocation feed (`feed.rs`); and what they
// share: the connection, the scripts, pipelines across slots, decoding, durability.
mod connection;
mod decode;
mod dpop;
mod durability;
mod feed;
mod key_ring;
mod pipeline;
mod reauth;
mod record;
mod scripts;
mod subject_index;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Client, IntoConnectionInfo};

use self::connection::{Address, Conn, cluster_builder};
use self::durability::Durability;
use self::feed::Feed;
use self::scripts::Scripts;

use super::StoreError;
#[cfg(doc)]
use super::{DpopStore, KeyRingStore, RefreshStore, ReplayKey, RevocationFeed, SubjectIndex};
use crate::store::DEFAULT_PROOFS_PER_KEY;

/// How long an operation may take before it fails with [`StoreError::Timeout`], by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The key prefix used unless [`RedisStore::with_key_prefix`] sets another.
const DEFAULT_PREFIX: &str = "tra";

/// A subject's index is pruned when a `create` finds it at a power of two at least this big.
const PRUNE_FROM: u64 = 32;

/// How old (in ms, by the server's clock) an index entry must be before it may be dropped:
/// far longer than a `create` pipeline takes between its two scripts.
const INDEX_MIN_AGE_MS: u64 = 60_000;

/// Sessions in Redis; see the [module docs](self) for the key layout, round trips and
/// outage behaviour.
///
/// Cloning is cheap and shares the connection.
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: Arc<str>,
    timeout: Duration,
    durability: Option<Durability>,
    scripts: Arc<Scripts>,
    proofs_per_key: u32,
    /// The revocation feed's scripts and servers to subscribe on.
    feed: Arc<Feed>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &self.conn.is_cluster())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("durability", &self.durability)
            .field("proofs_per_key", &self.proofs_per_key)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis server or cluster at `url`:
    ///
    /// - `redis://[user:password@]host[:port][/db]`: one server; `rediss://…` over TLS,
    ///   verified against the system's root certificates;
    /// - `redis+cluster://[user:password@]host:port[,host:port…]`: a Redis Cluster, from
    ///   any of its nodes (the seeds; the others are discovered); `rediss+cluster://…` over
    ///   TLS.
    ///
    /// The connection is made before this returns, so a wrong address fails here, at start,
    /// rather than on the first request. It reconnects by itself and times out a connection
    /// attempt or a response after 2 s, which also makes it drop a connection that went
    /// silent; a cluster connection also follows a failover (`MOVED`) by itself.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        connection::ensure_tls_provider();
        match Address::parse(url).map_err(StoreError::unavailable)? {
            Address::Server(url) => Self::connect_server(&url).await,
            Address::Cluster(seeds) => Self::connect_cluster(seeds).await,
        }
    }

    /// Connects to a Redis Cluster from its seed nodes (`redis://host:port` or
    /// `rediss://host:port` URLs, or anything else the `redis` crate takes as a node): the
    /// other nodes and the slot map are discovered from them. Timeouts as for
    /// [`connect`](Self::connect); to set others, or a private CA for TLS, build the
    /// [`ClusterConnection`] yourself and use [`new_cluster`](Self::new_cluster).
    ///
    /// ```no_run
    /// use tower_refresh_auth::store::RedisStore;
    ///
    /// # async fn run() -> Result<(), tower_refresh_auth::store::StoreError> {
    /// let store = RedisStore::connect_cluster([
    ///     "redis://10.0.0.1:6379",
    ///     "redis://10.0.0.2:6379",
    ///     "redis://10.0.0.3:6379",
    /// ])
    /// .await?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub async fn connect_cluster<T: IntoConnectionInfo>(
        seeds: impl IntoIterator<Item = T>,
    ) -> Result<Self, StoreError> {
        connection::ensure_tls_provider();
        let seeds = seeds
            .into_iter()
            .map(IntoConnectionInfo::into_connection_info)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::unavailable)?;
        let subscribers = seeds
            .iter()
            .map(|seed| Client::open(seed.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::unavailable)?;
        let client = cluster_builder(seeds, DEFAULT_TIMEOUT)
            .build()
            .map_err(StoreError::unavailable)?;
        let conn = tokio::time::timeout(DEFAULT_TIMEOUT, client.get_async_connection())
            .await
            .map_err(|_| StoreError::Timeout(DEFAULT_TIMEOUT))?
            .map_err(StoreError::unavailable)?;
        Ok(Self::new_cluster(conn).with_feed_subscribers(subscribers))
    }

    async fn connect_server(url: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(StoreError::unavailable)?;
        let subscriber = client.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(DEFAULT_TIMEOUT))
            .set_response_timeout(Some(DEFAULT_TIMEOUT))
            .set_max_delay(Duration::from_secs(1));
        let conn = tokio::time::timeout(
            DEFAULT_TIMEOUT,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StoreError::Timeout(DEFAULT_TIMEOUT))?
        .map_err(StoreError::unavailable)?;
        Ok(Self::new(conn).with_feed_subscribers([subscriber]))
    }

    /// A store on a connection you made, with the default prefix and timeout.
    pub fn new(conn: ConnectionManager) -> Self {
        Self::on(Conn::Server(conn))
    }

    /// A store on a Redis Cluster connection you made (from a
    /// [`ClusterClient`](redis::cluster::ClusterClient), say with TLS and a private CA),
    /// with the default prefix and timeout.
    pub fn new_cluster(conn: ClusterConnection) -> Self {
        Self::on(Conn::Cluster(conn))
    }

    fn on(conn: Conn) -> Self {
        Self {
            conn,
            prefix: Arc::from(DEFAULT_PREFIX),
            timeout: DEFAULT_TIMEOUT,
            durability: None,
            scripts: Arc::new(Scripts::new()),
            proofs_per_key: DEFAULT_PROOFS_PER_KEY,
            feed: Arc::new(Feed::new(Vec::new())),
        }
    }

    /// The servers the [revocation feed](RevocationFeed) subscribes on, each with a
    /// connection of its own (`SUBSCRIBE`), in turn after a failure: the one server, or any
    /// nodes of a cluster (a cluster delivers `PUBLISH` to the subscribers of every node).
    /// [`connect`](Self::connect) and [`connect_cluster`](Self::connect_cluster) set them; a
    /// store made with [`new`](Self::new) or [`new_cluster`](Self::new_cluster) offers the
    /// feed ([`RefreshStore::revocation_feed`]) only once they are set.
    ///
    /// ```no_run
    /// use redis::aio::ConnectionManager;
    /// use tower_refresh_auth::store::RedisStore;
    ///
    /// # async fn run() -> redis::RedisResult<()> {
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let store = RedisStore::new(ConnectionManager::new(client.clone()).await?)
    ///     .with_feed_subscribers([client]);
    /// # let _ = store; Ok(()) }
    /// ```
    pub fn with_feed_subscribers(mut self, servers: impl IntoIterator<Item = Client>) -> Self {
        self.feed = Arc::new(Feed::new(servers.into_iter().collect()));
        self
    }

    /// Sets how many spent DPoP proofs of one key the store remembers at once (default
    /// [`DEFAULT_PROOFS_PER_KEY`]): a key past it has its further proofs refused as replays
    /// until its older ones expire, and no other key is affected. With it, what one key can
    /// make Redis hold is bounded (about 60 bytes a proof); before, nothing was.
    pub fn with_proofs_per_key(mut self, per_key: u32) -> Self {
        self.proofs_per_key = per_key;
        self
    }

    /// Makes every `create`, `rotate` and `revoke` wait, before it is acknowledged, until
    /// at least `replicas` replicas of the primary that took it have it (`WAIT replicas
    /// timeout`, sent right after the write on the same connection, to the same primary of a
    /// cluster). When fewer acknowledge within `timeout` the operation fails with
    /// [`StoreError::Unavailable`] (a `503` with `Retry-After`): an operator who prefers a
    /// `503` to a rotation a failover could lose. Off by default.
    ///
    /// The write has happened on the primary even when it is reported as failed, and the
    /// client retries: a refresh retried inside the grace window gets the same successor,
    /// a logout retried deletes nothing more. `timeout` also counts against the
    /// [operation timeout](Self::with_timeout), which should be longer.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tower_refresh_auth::store::RedisStore;
    ///
    /// # async fn run() -> Result<(), tower_refresh_auth::store::StoreError> {
    /// let store = RedisStore::connect("redis+cluster://10.0.0.1:6379,10.0.0.2:6379")
    ///     .await?
    ///     .with_durability(1, Duration::from_millis(100));
    /// # let _ = store; Ok(()) }
    /// ```
    pub fn with_durability(mut self, replicas: u32, timeout: Duration) -> Self {
        self.durability = Some(Durability { replicas, timeout });
        self
    }

    /// Sets the prefix of every key (default `tra`), so several applications can share a
    /// Redis database.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// Sets how long one operation may take before it fails with [`StoreError::Timeout`]
    /// (default 2 s).
    ///
    /// This bounds the wait the store adds to a request while Redis is unreachable. The
    /// connection made by [`connect`](Self::connect) also drops a response after 2 s; to
    /// wait longer than that, build the [`ConnectionManager`] yourself and use
    /// [`new`](Self::new).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn session_key(&self, id: &(impl fmt::Display + ?Sized)) -> String {
        session_key(&self.prefix, id)
    }

    fn subject_key(&self, subject: &str) -> String {
        subject_key(&self.prefix, subject)
    }
}

/// The key of a session's hash: tagged with the session id.
fn session_key(prefix: &str, id: &(impl fmt::Display + ?Sized)) -> String {
    format!("{prefix}:s:{{{id}}}")
}

/// The key of a subject's index of session ids: tagged with the subject.
fn subject_key(prefix: &str, subject: &str) -> String {
    format!("{prefix}:u:{{{subject}}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionId;

    #[test]
    fn keys_are_hash_tagged_per_session_and_per_subject() {
        let id = SessionId::from_bytes([0; 16]);
        assert_eq!(session_key("app", &id), "app:s:{AAAAAAAAAAAAAAAAAAAAAA}");
        assert_eq!(subject_key("app", "alice"), "app:u:{alice}");
    }
}
