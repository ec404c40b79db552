//! [`RedisStore`]: sessions in Redis, one Lua script per operation.
//!
//! # Configuration
//!
//! ```no_run
//! use std::time::Duration;
//! use tower_refresh_auth::store::RedisStore;
//!
//! # async fn run() -> Result<(), tower_refresh_auth::store::StoreError> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379")
//!     .await?
//!     .with_key_prefix("myapp:auth")
//!     .with_timeout(Duration::from_secs(1));
//! # let _ = store; Ok(()) }
//! ```
//!
//! [`RedisStore::new`] takes a [`ConnectionManager`] you built yourself instead, to set its
//! reconnection back-off or timeouts.
//!
//! # Key layout
//!
//! With the default prefix `tra`:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `tra:s:{<session id>}` | hash | `sub`, `claims`, `ctr`, `cat`, `rat`, `exp` and, if the session has one, `abs` |
//! | `tra:u:{<subject>}` | sorted set | the ids of the subject's sessions, scored by when they were added, for [`revoke_subject`](RefreshStore::revoke_subject) |
//!
//! Times are integer milliseconds since the Unix epoch; the counter is a decimal integer.
//! Each key carries its own hash tag (the part in braces), and every script touches the keys
//! of exactly one tag, as Redis Cluster requires. (If the prefix itself contains a `{…}`
//! tag, that tag wins and every key lands in one slot, which also works.) The store talks
//! to one server through a [`ConnectionManager`]; the layout is ready for a cluster
//! connection, which it does not offer yet.
//!
//! # Round trips
//!
//! | operation | round trips | how |
//! |---|---|---|
//! | `create` | 1 | a pipeline of two scripts: add the id to the subject's index, then write the session |
//! | `load` | 1 | `HMGET`; liveness is checked against the caller's `now` |
//! | `rotate` | 1 | one script: the compare-and-swap |
//! | `revoke` | 1 | `DEL` |
//! | `revoke_subject` | 2 | `ZRANGE` of the subject's index, then one pipeline: a script per session (each in its own slot) and one on the index |
//!
//! Scripts are sent by hash (`EVALSHA`) and loaded on a server that does not know them yet
//! (after a restart or `SCRIPT FLUSH`) automatically. They need Redis 5 or newer.
//!
//! Why `revoke_subject` takes two round trips: `load` and `rotate` know only the session id,
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
//! stay in it until the next [`revoke_subject`](RefreshStore::revoke_subject), or until a
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

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, Script, ScriptInvocation, ServerErrorKind, Value};

use super::{RefreshStore, Rotation, Session, SessionId, StoreError};
use crate::clock::to_millis;

/// How long an operation may take before it fails with [`StoreError::Timeout`], by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The key prefix used unless [`RedisStore::with_key_prefix`] sets another.
const DEFAULT_PREFIX: &str = "tra";

/// A subject's index is pruned when a `create` finds it at a power of two at least this big.
const PRUNE_FROM: u64 = 32;

/// How old (in ms, by the server's clock) an index entry must be before it may be dropped:
/// far longer than a `create` pipeline takes between its two scripts.
const INDEX_MIN_AGE_MS: u64 = 60_000;

/// The session hash's fields, in the order every script and `HMGET` uses.
const FIELDS: [&str; 7] = ["sub", "claims", "ctr", "cat", "rat", "exp", "abs"];

/// Adds a session id to its subject's index, scored by the server's time, and sets the
/// index's expiry; returns the index's size.
///
/// KEYS[1] the subject's index. ARGV[1] the session id; ARGV[2] the session's absolute
/// expiry in ms, or "" when it has none.
const INDEX_ADD: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = redis.call('PTTL', KEYS[1])
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[1])
if ARGV[2] == '' then
  redis.call('PERSIST', KEYS[1])
elseif ttl == -2 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
elseif ttl >= 0 and now + ttl < tonumber(ARGV[2]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return redis.call('ZCARD', KEYS[1])
";

/// The ids in a subject's index that are at least ARGV[1] ms old.
///
/// KEYS[1] the subject's index.
const INDEX_OLD: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - tonumber(ARGV[1])))
";

/// Drops the given ids from a subject's index, those at least ARGV[1] ms old only; returns
/// how many it dropped.
///
/// KEYS[1] the subject's index. ARGV[1] the minimum age; ARGV[2..] the ids.
const INDEX_FORGET: &str = r"
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local dropped = 0
for i = 2, #ARGV do
  local added = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if added and tonumber(added) <= cutoff then
    dropped = dropped + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return dropped
";

/// Writes a session, replacing any earlier one with the same id.
///
/// KEYS[1] the session. ARGV: sub, claims, ctr, cat, rat, exp, abs ("" for none), deadline.
const CREATE: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'claims', ARGV[2], 'ctr', ARGV[3],
  'cat', ARGV[4], 'rat', ARGV[5], 'exp', ARGV[6])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'abs', ARGV[7])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[8])
return 1
";

/// The compare-and-swap. Returns `{}` when no live session exists, else
/// `{'rotated' | 'conflict', sub, claims, ctr, cat, rat, exp, abs or ''}`.
///
/// KEYS[1] the session. ARGV[1] the expected counter; ARGV[2] now; ARGV[3] the new sliding
/// expiry (all decimal). Counters are compared as strings, so they stay exact past 2^53.
const ROTATE: &str = r"
local s = redis.call('HMGET', KEYS[1], 'sub', 'claims', 'ctr', 'cat', 'rat', 'exp', 'abs')
if not s[3] then
  return {}
end
local now = tonumber(ARGV[2])
if not (now < tonumber(s[6]) and (not s[7] or now < tonumber(s[7]))) then
  return {}
end
local status = 'conflict'
if s[3] == ARGV[1] then
  status = 'rotated'
  redis.call('HINCRBY', KEYS[1], 'ctr', 1)
  redis.call('HSET', KEYS[1], 'rat', ARGV[2], 'exp', ARGV[3])
  local deadline = ARGV[3]
  if s[7] and tonumber(s[7]) < tonumber(deadline) then
    deadline = s[7]
  end
  redis.call('PEXPIREAT', KEYS[1], deadline)
  s = redis.call('HMGET', KEYS[1], 'sub', 'claims', 'ctr', 'cat', 'rat', 'exp', 'abs')
end
return {status, s[1], s[2], s[3], s[4], s[5], s[6], s[7] or ''}
";

/// Deletes a session if it belongs to the subject; returns how many were deleted.
///
/// KEYS[1] the session. ARGV[1] the subject.
const REVOKE_OF_SUBJECT: &str = r"
if redis.call('HGET', KEYS[1], 'sub') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// The scripts, hashed once per store and sent by hash.
struct Scripts {
    index_add: Script,
    index_old: Script,
    index_forget: Script,
    create: Script,
    rotate: Script,
    revoke_of_subject: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            index_add: Script::new(INDEX_ADD),
            index_old: Script::new(INDEX_OLD),
            index_forget: Script::new(INDEX_FORGET),
            create: Script::new(CREATE),
            rotate: Script::new(ROTATE),
            revoke_of_subject: Script::new(REVOKE_OF_SUBJECT),
        }
    }
}

/// Sessions in Redis; see the [module docs](self) for the key layout, round trips and
/// outage behaviour.
///
/// Cloning is cheap and shares the connection.
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
    scripts: Arc<Scripts>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis server at `url` (`redis://[user:password@]host[:port][/db]`).
    ///
    /// The connection is made before this returns, so a wrong address fails here, at start,
    /// rather than on the first request. Its [`ConnectionManager`] reconnects by itself and
    /// times out a connection attempt or a response after 2 s, which also makes it drop a
    /// connection that went silent.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::unavailable)?;
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
        Ok(Self::new(conn))
    }

    /// A store on a connection you made, with the default prefix and timeout.
    pub fn new(conn: ConnectionManager) -> Self {
        Self {
            conn,
            prefix: Arc::from(DEFAULT_PREFIX),
            timeout: DEFAULT_TIMEOUT,
            scripts: Arc::new(Scripts::new()),
        }
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

    /// Runs `op` under the store's timeout and maps its errors.
    async fn run<T>(
        &self,
        op: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, op).await {
            Err(_) => Err(StoreError::Timeout(self.timeout)),
            Ok(Err(err)) if err.is_timeout() => Err(StoreError::Timeout(self.timeout)),
            Ok(Err(err))
                if matches!(
                    err.kind(),
                    ErrorKind::Parse | ErrorKind::UnexpectedReturnType
                ) =>
            {
                Err(StoreError::Corrupt(err.to_string()))
            }
            Ok(Err(err)) => Err(StoreError::unavailable(err)),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// Sends script calls as one pipeline and returns their replies, in order.
    ///
    /// A call whose script the server does not know (after a restart or `SCRIPT FLUSH`) is
    /// sent again, once, right after loading the script, in one more round trip. Only the
    /// calls that failed are repeated, so each call runs exactly once and its reply counts.
    async fn invoke_all(
        &self,
        calls: &[(&Script, ScriptInvocation<'_>)],
    ) -> Result<Vec<Value>, RedisError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for (_, call) in calls {
            pipe.invoke_script(call);
        }
        let mut replies: Vec<Value> = pipe.query_async(&mut conn).await?;

        let unknown: Vec<usize> = (0..replies.len())
            .filter(|&i| matches!(&replies[i], Value::ServerError(e) if e.kind() == Some(ServerErrorKind::NoScript)))
            .collect();
        if !unknown.is_empty() {
            let mut retry = redis::pipe();
            retry.ignore_errors();
            let mut loaded: Vec<&str> = Vec::new();
            for &i in &unknown {
                let script = calls[i].0;
                if !loaded.contains(&script.get_hash()) {
                    loaded.push(script.get_hash());
                    retry.load_script(script).ignore();
                }
            }
            for &i in &unknown {
                retry.invoke_script(&calls[i].1);
            }
            let again: Vec<Value> = retry.query_async(&mut conn).await?;
            for (i, reply) in unknown.into_iter().zip(again) {
                replies[i] = reply;
            }
        }
        replies
            .into_iter()
            .map(|reply| match reply {
                Value::ServerError(err) => Err(err.into()),
                reply => Ok(reply),
            })
            .collect()
    }

    /// Drops from `subject`'s index the ids, a minute old or more, whose session is gone.
    async fn prune_subject(&self, subject: &str) -> Result<(), RedisError> {
        let mut conn = self.conn.clone();
        let index = self.subject_key(subject);
        let mut old = self.scripts.index_old.prepare_invoke();
        old.key(&index).arg(INDEX_MIN_AGE_MS);
        let ids: Vec<String> = old.invoke_async(&mut conn).await?;
        if ids.is_empty() {
            return Ok(());
        }
        let mut exists = redis::pipe();
        for id in &ids {
            exists.cmd("EXISTS").arg(self.session_key(id));
        }
        let found: Vec<bool> = exists.query_async(&mut conn).await?;
        let gone: Vec<&String> = ids
            .iter()
            .zip(found)
            .filter_map(|(id, found)| (!found).then_some(id))
            .collect();
        if !gone.is_empty() {
            let mut forget = self.scripts.index_forget.prepare_invoke();
            forget.key(&index).arg(INDEX_MIN_AGE_MS).arg(&gone);
            forget.invoke_async::<u64>(&mut conn).await?;
        }
        Ok(())
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

/// Decodes the seven [`FIELDS`] of a session hash; `abs` may be absent or empty.
fn decode(id: SessionId, fields: Vec<Option<Vec<u8>>>) -> Result<Session, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("session {id}: {what}"));
    let [sub, claims, ctr, cat, rat, exp, abs]: [Option<Vec<u8>>; 7] = fields
        .try_into()
        .map_err(|_| corrupt("wrong number of fields"))?;
    let text = |field: Option<Vec<u8>>, name: &str| {
        let bytes = field.ok_or_else(|| corrupt(&format!("`{name}` missing")))?;
        String::from_utf8(bytes).map_err(|_| corrupt(&format!("`{name}` is not UTF-8")))
    };
    let int = |field: Option<Vec<u8>>, name: &str| {
        text(field, name)?
            .parse::<u64>()
            .map_err(|_| corrupt(&format!("`{name}` is not an integer")))
    };
    let time = |field: Option<Vec<u8>>, name: &str| {
        int(field, name).map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    };
    Ok(Session {
        id,
        subject: text(sub, "sub")?,
        claims: text(claims, "claims")?,
        counter: int(ctr, "ctr")?,
        created_at: time(cat, "cat")?,
        rotated_at: time(rat, "rat")?,
        expires_at: time(exp, "exp")?,
        absolute_expires_at: match abs {
            None => None,
            Some(bytes) if bytes.is_empty() => None,
            Some(bytes) => Some(time(Some(bytes), "abs")?),
        },
    })
}

#[async_trait::async_trait]
impl RefreshStore for RedisStore {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        let absolute = session
            .absolute_expires_at
            .map(|t| to_millis(t).to_string())
            .unwrap_or_default();
        let mut index = self.scripts.index_add.prepare_invoke();
        index
            .key(self.subject_key(&session.subject))
            .arg(session.id.to_string())
            .arg(&absolute);
        let mut write = self.scripts.create.prepare_invoke();
        write
            .key(self.session_key(&session.id))
            .arg(&session.subject)
            .arg(&session.claims)
            .arg(session.counter)
            .arg(to_millis(session.created_at))
            .arg(to_millis(session.rotated_at))
            .arg(to_millis(session.expires_at))
            .arg(&absolute)
            .arg(to_millis(session.deadline()));
        // The index first: if the session write is lost, a stale id in the index is
        // harmless; a session missing from its index would survive "log out everywhere".
        let calls = [
            (&self.scripts.index_add, index),
            (&self.scripts.create, write),
        ];
        let replies = self.run(self.invoke_all(&calls)).await?;
        let size = match replies.first() {
            Some(reply) => redis::from_redis_value_ref::<u64>(reply)
                .map_err(|err| StoreError::Corrupt(err.to_string()))?,
            None => return Err(StoreError::Corrupt("no reply to create".into())),
        };

        if size >= PRUNE_FROM && size.is_power_of_two() {
            // Housekeeping only: the session is stored, so a failure here is not the
            // caller's failure.
            if let Err(err) = self.run(self.prune_subject(&session.subject)).await {
                tracing::warn!(error = %err, "redis store could not prune a subject's index");
            }
        }
        Ok(())
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.session_key(id)).arg(&FIELDS[..]);
        let fields: Vec<Option<Vec<u8>>> = self.run(cmd.query_async(&mut conn)).await?;
        // A missing key reads as all-nil fields.
        if fields.iter().all(Option::is_none) {
            return Ok(None);
        }
        let session = decode(*id, fields)?;
        Ok(session.is_live(now).then_some(session))
    }

    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        let mut conn = self.conn.clone();
        let mut rotate = self.scripts.rotate.prepare_invoke();
        rotate
            .key(self.session_key(id))
            .arg(expected)
            .arg(to_millis(now))
            .arg(to_millis(expires_at));
        let mut reply: Vec<Vec<u8>> = self.run(rotate.invoke_async(&mut conn)).await?;
        if reply.is_empty() {
            return Ok(Rotation::NotFound);
        }
        let status = reply.remove(0);
        let session = decode(*id, reply.into_iter().map(Some).collect())?;
        match status.as_slice() {
            b"rotated" => Ok(Rotation::Rotated(session)),
            b"conflict" => Ok(Rotation::Conflict(session)),
            _ => Err(StoreError::Corrupt(format!(
                "session {id}: unexpected rotate status"
            ))),
        }
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.session_key(id));
        let deleted: u64 = self.run(cmd.query_async(&mut conn)).await?;
        Ok(deleted > 0)
    }

    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        let index = self.subject_key(subject);
        let mut conn = self.conn.clone();
        let mut members = redis::cmd("ZRANGE");
        members.arg(&index).arg(0).arg(-1);
        let ids: Vec<String> = self.run(members.query_async(&mut conn)).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        // One script per session, each in its own slot, then drop the ids read from the
        // index (those old enough that their session cannot still be on its way: see the
        // module docs). A session created meanwhile keeps its place.
        let mut calls: Vec<_> = ids
            .iter()
            .map(|id| {
                let mut call = self.scripts.revoke_of_subject.prepare_invoke();
                call.key(self.session_key(id)).arg(subject);
                (&self.scripts.revoke_of_subject, call)
            })
            .collect();
        let mut forget = self.scripts.index_forget.prepare_invoke();
        forget.key(&index).arg(INDEX_MIN_AGE_MS).arg(&ids);
        calls.push((&self.scripts.index_forget, forget));
        let replies = self.run(self.invoke_all(&calls)).await?;
        // Every reply but the last (the index's) is a count of deleted sessions.
        let counts = replies.iter().take(ids.len()).map(|reply| {
            redis::from_redis_value_ref::<u64>(reply)
                .map_err(|err| StoreError::Corrupt(err.to_string()))
        });
        counts.sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(values: [&str; 7]) -> Vec<Option<Vec<u8>>> {
        values.iter().map(|v| Some(v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn decodes_a_session_with_and_without_absolute_expiry() {
        let id = SessionId::random();
        let s = decode(id, fields(["u", "{}", "7", "1000", "2000", "3000", ""])).unwrap();
        assert_eq!(s.counter, 7);
        assert_eq!(s.expires_at, UNIX_EPOCH + Duration::from_secs(3));
        assert_eq!(s.absolute_expires_at, None);
        let s = decode(id, fields(["u", "{}", "7", "1000", "2000", "3000", "4000"])).unwrap();
        assert_eq!(
            s.absolute_expires_at,
            Some(UNIX_EPOCH + Duration::from_secs(4))
        );
    }

    #[test]
    fn refuses_what_it_could_not_have_written() {
        let id = SessionId::random();
        let bad = decode(id, fields(["u", "{}", "seven", "1000", "2000", "3000", ""]));
        assert!(matches!(bad, Err(StoreError::Corrupt(_))));
        let mut missing = fields(["u", "{}", "7", "1000", "2000", "3000", ""]);
        missing[0] = None;
        assert!(matches!(decode(id, missing), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode(id, vec![]), Err(StoreError::Corrupt(_))));
    }

    /// `REDIS_URL`, or `None` to skip (never under `CI=true`).
    fn redis_url() -> Option<String> {
        match std::env::var("REDIS_URL") {
            Ok(url) => Some(url),
            Err(_) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
                panic!("REDIS_URL is not set, and CI=true: CI must run the Redis tests")
            }
            Err(_) => {
                eprintln!("skipped: REDIS_URL not set");
                None
            }
        }
    }

    #[tokio::test]
    async fn a_call_whose_script_was_unknown_runs_exactly_once() {
        let Some(url) = redis_url() else {
            return;
        };
        let store = RedisStore::connect(&url).await.unwrap();
        let mut conn = store.conn.clone();
        let key = format!("tra-unit:{{{}}}", SessionId::random());
        let known = Script::new("return redis.call('INCR', KEYS[1])");
        // A script no server has seen: its text is unique to this run.
        let unknown = Script::new(&format!(
            "-- {}\nreturn redis.call('INCR', KEYS[1])",
            SessionId::random()
        ));
        let first: i64 = known.key(&key).invoke_async(&mut conn).await.unwrap();
        assert_eq!(first, 1);

        let mut a = known.prepare_invoke();
        a.key(&key);
        let mut b = unknown.prepare_invoke();
        b.key(&key);
        let replies = store
            .invoke_all(&[(&known, a), (&unknown, b)])
            .await
            .unwrap();
        let replies: Vec<i64> = replies
            .iter()
            .map(|r| redis::from_redis_value_ref(r).unwrap())
            .collect();
        // The known script ran once, in the first pipeline; the unknown one once, after
        // being loaded. Resending the whole pipeline would have counted to 4.
        assert_eq!(replies, [2, 3]);
        let total: i64 = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(total, 3);
        redis::cmd("DEL")
            .arg(&key)
            .exec_async(&mut conn)
            .await
            .unwrap();
    }

    #[test]
    fn keys_are_hash_tagged_per_session_and_per_subject() {
        let id = SessionId::from_bytes([0; 16]);
        assert_eq!(session_key("app", &id), "app:s:{AAAAAAAAAAAAAAAAAAAAAA}");
        assert_eq!(subject_key("app", "alice"), "app:u:{alice}");
    }
}
