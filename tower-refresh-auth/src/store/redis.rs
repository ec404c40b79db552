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
//! | `tra:u:{<subject>}` | set | the ids of the subject's sessions, for [`revoke_subject`](RefreshStore::revoke_subject) |
//!
//! Times are integer milliseconds since the Unix epoch; the counter is a decimal integer.
//! Each key carries its own hash tag (the part in braces), and every script touches the keys
//! of exactly one tag, so the scripts run unchanged on Redis Cluster. (If the prefix itself
//! contains a `{…}` tag, that tag wins and every key lands in one slot, which also works.)
//!
//! # Round trips
//!
//! | operation | round trips | how |
//! |---|---|---|
//! | `create` | 1 | a pipeline of two scripts: add the id to the subject's set, then write the session |
//! | `load` | 1 | `HMGET`; liveness is checked against the caller's `now` |
//! | `rotate` | 1 | one script: the compare-and-swap |
//! | `revoke` | 1 | `DEL` |
//! | `revoke_subject` | 2 | `SMEMBERS` of the subject's set, then one pipeline: a script per session (each in its own slot) and `SREM` of the ids read |
//!
//! Scripts are sent by hash (`EVALSHA`) and loaded on a server that does not know them yet
//! (after a restart or `SCRIPT FLUSH`) automatically.
//!
//! # Expiry
//!
//! Every session key expires (`PEXPIREAT`) at the session's deadline, the earlier of its
//! sliding and absolute expiry, so Redis forgets dead sessions by itself; `rotate` moves the
//! expiry with the sliding deadline. Redis expires keys by *its* clock, the layer decides by
//! *its* [`Clock`](crate::clock::Clock), so the scripts also check liveness against the `now`
//! they are given: a session past its deadline is never returned, whichever clock is ahead.
//!
//! The subject's set cannot share a slot with its sessions, so it cannot follow their expiry
//! exactly. It expires at the latest absolute expiry of its sessions when they all have one,
//! and never otherwise; ids of sessions that expired or were revoked one by one stay in it
//! until the next [`revoke_subject`](RefreshStore::revoke_subject), or until a `create` finds
//! the set grown to a power of two of at least 32 ids and prunes the ones whose session is
//! gone (two more round trips, amortised over as many logins). A stale id is harmless: it
//! names a key that no longer exists.
//!
//! # Outages
//!
//! Each operation gives up after the [timeout](RedisStore::with_timeout) (default 2 s) with
//! [`StoreError::Timeout`]; a refused or dropped connection is [`StoreError::Unavailable`].
//! The layer answers both with `503` and `Retry-After`. The [`ConnectionManager`]
//! reconnects in the background as soon as the server is back; nothing needs rebuilding.
//! Sessions survive a Redis restart only as far as Redis persists them (AOF or RDB).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, Script, ServerErrorKind};

use super::{RefreshStore, Rotation, Session, SessionId, StoreError};
use crate::clock::to_millis;

/// How long an operation may take before it fails with [`StoreError::Timeout`], by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The key prefix used unless [`RedisStore::with_key_prefix`] sets another.
const DEFAULT_PREFIX: &str = "tra";

/// A subject's set is pruned when a `create` finds it at a power of two at least this big.
const PRUNE_FROM: u64 = 32;

/// The session hash's fields, in the order every script and `HMGET` uses.
const FIELDS: [&str; 7] = ["sub", "claims", "ctr", "cat", "rat", "exp", "abs"];

/// Adds a session id to its subject's set and sets the set's expiry; returns the set's size.
///
/// KEYS[1] the subject's set. ARGV[1] the session id; ARGV[2] the session's absolute expiry
/// in ms, or "" when it has none.
const INDEX_ADD: &str = r"
local ttl = redis.call('PTTL', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  redis.call('PERSIST', KEYS[1])
elseif ttl == -2 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
elseif ttl >= 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now + ttl < tonumber(ARGV[2]) then
    redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  end
end
return redis.call('SCARD', KEYS[1])
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
    create: Script,
    rotate: Script,
    revoke_of_subject: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            index_add: Script::new(INDEX_ADD),
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

    /// Sends a pipeline of script calls; if the server does not know a script yet, loads
    /// the scripts and sends it once more. Every pipeline sent this way is idempotent.
    async fn query_scripts<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        scripts: &[&Script],
    ) -> Result<T, RedisError> {
        let mut conn = self.conn.clone();
        match pipe.query_async(&mut conn).await {
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                for script in scripts {
                    script.load_async(&mut conn).await?;
                }
                pipe.query_async(&mut conn).await
            }
            result => result,
        }
    }

    /// Drops the ids of sessions that no longer exist from `subject`'s set.
    async fn prune_subject(&self, subject: &str) -> Result<(), RedisError> {
        let mut conn = self.conn.clone();
        let index = self.subject_key(subject);
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&index)
            .query_async(&mut conn)
            .await?;
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
            redis::cmd("SREM")
                .arg(&index)
                .arg(&gone)
                .exec_async(&mut conn)
                .await?;
        }
        Ok(())
    }
}

/// The key of a session's hash: tagged with the session id.
fn session_key(prefix: &str, id: &(impl fmt::Display + ?Sized)) -> String {
    format!("{prefix}:s:{{{id}}}")
}

/// The key of a subject's set of session ids: tagged with the subject.
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
        // The index first: if the session write is lost, a stale id in the set is harmless;
        // a session missing from its set would survive "log out everywhere".
        let mut pipe = redis::pipe();
        pipe.invoke_script(&index).invoke_script(&write);
        let scripts = [&self.scripts.index_add, &self.scripts.create];
        let (size, _): (u64, u8) = self.run(self.query_scripts(&pipe, &scripts)).await?;

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
        let mut members = redis::cmd("SMEMBERS");
        members.arg(&index);
        let ids: Vec<String> = self.run(members.query_async(&mut conn)).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        // One script per session, each in its own slot, then drop exactly the ids read: a
        // session created meanwhile keeps its place in the set.
        let invocations: Vec<_> = ids
            .iter()
            .map(|id| {
                let mut call = self.scripts.revoke_of_subject.prepare_invoke();
                call.key(self.session_key(id)).arg(subject);
                call
            })
            .collect();
        let mut pipe = redis::pipe();
        for call in &invocations {
            pipe.invoke_script(call);
        }
        pipe.cmd("SREM").arg(&index).arg(&ids).ignore();
        let deleted: Vec<u64> = self
            .run(self.query_scripts(&pipe, &[&self.scripts.revoke_of_subject]))
            .await?;
        Ok(deleted.into_iter().sum())
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

    #[test]
    fn keys_are_hash_tagged_per_session_and_per_subject() {
        let id = SessionId::from_bytes([0; 16]);
        assert_eq!(session_key("app", &id), "app:s:{AAAAAAAAAAAAAAAAAAAAAA}");
        assert_eq!(subject_key("app", "alice"), "app:u:{alice}");
    }
}
