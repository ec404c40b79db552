//! Sending commands: one timeout and one error mapping for every operation, script
//! pipelines that survive a server that forgot its scripts, and on a cluster, one pipeline
//! per slot.

use futures_util::future::join_all;
use redis::{ErrorKind, Pipeline, RedisError, Script, ScriptInvocation, ServerErrorKind, Value};

use super::RedisStore;
use crate::store::StoreError;

/// Script calls, each with its script (to load it on a server that does not know it).
pub(super) type Calls<'a> = [(&'a Script, ScriptInvocation<'a>)];

impl RedisStore {
    /// Runs `op` under the store's timeout and maps its errors.
    pub(super) async fn run<T>(
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

    /// Sends script calls and returns their replies, in order: as one pipeline on one
    /// server; on a cluster, which runs no pipeline across slots, as one pipeline per call,
    /// all at once (each call touches the keys of one slot).
    pub(super) async fn invoke_all(&self, calls: &Calls<'_>) -> Result<Vec<Value>, RedisError> {
        if !self.conn.is_cluster() {
            return self.invoke_pipeline(calls, false).await;
        }
        let replies = join_all(
            calls
                .iter()
                .map(|call| self.invoke_pipeline(std::slice::from_ref(call), false)),
        )
        .await;
        let mut all = Vec::with_capacity(calls.len());
        for reply in replies {
            all.extend(reply?);
        }
        Ok(all)
    }

    /// [`invoke_all`](Self::invoke_all) of the first `first` calls, then of the rest: in one
    /// pipeline on one server (which runs it in order), in two steps on a cluster, so that
    /// nothing of the rest runs unless all of the first have. With `wait`, the store's `WAIT`
    /// follows the rest (which must then be of one slot) and its reply comes last.
    pub(super) async fn invoke_in_turn(
        &self,
        calls: &Calls<'_>,
        first: usize,
        wait: bool,
    ) -> Result<Vec<Value>, RedisError> {
        if !self.conn.is_cluster() {
            return self.invoke_pipeline(calls, wait).await;
        }
        let (first, then) = calls.split_at(first.min(calls.len()));
        let mut replies = self.invoke_all(first).await?;
        if wait {
            replies.extend(self.invoke_pipeline(then, true).await?);
        } else {
            replies.extend(self.invoke_all(then).await?);
        }
        Ok(replies)
    }

    /// One command that writes one key, under the store's timeout, made durable like
    /// [`invoke_write`](Self::invoke_write).
    pub(super) async fn query_write(&self, cmd: &redis::Cmd) -> Result<Value, StoreError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.add_command(cmd.clone());
        if let Some(durability) = &self.durability {
            durability.add_wait(&mut pipe);
        }
        let mut replies: Vec<Value> = self.run(pipe.query_async(&mut conn)).await?;
        if let (Some(durability), Some(acked)) = (&self.durability, replies.get(1)) {
            durability.check(acked)?;
        }
        match replies.is_empty() {
            true => Err(StoreError::Corrupt("no reply to a write".into())),
            false => Ok(replies.swap_remove(0)),
        }
    }

    /// One script call that writes, under the store's timeout, made
    /// [durable](RedisStore::with_durability) if the store is: `WAIT` follows it in the same
    /// pipeline, so on the same connection to the same primary, and the write answers
    /// [`NotReplicated`](super::durability::NotReplicated) when too few replicas acknowledged
    /// it.
    pub(super) async fn invoke_write(
        &self,
        script: &Script,
        call: ScriptInvocation<'_>,
    ) -> Result<Value, StoreError> {
        let durable = self.durability.is_some();
        let mut replies = self
            .run(self.invoke_pipeline(&[(script, call)], durable))
            .await?;
        if let (Some(durability), Some(acked)) = (&self.durability, replies.get(1)) {
            durability.check(acked)?;
        }
        match replies.is_empty() {
            true => Err(StoreError::Corrupt("no reply to a script".into())),
            false => Ok(replies.swap_remove(0)),
        }
    }

    /// Sends commands as one pipeline and returns their replies, in order: on a cluster the
    /// commands may name keys of different slots, so each is sent on its own, all at once.
    pub(super) async fn query_all(&self, pipe: &Pipeline) -> Result<Vec<Value>, RedisError> {
        let mut conn = self.conn.clone();
        if !conn.is_cluster() {
            return pipe.query_async(&mut conn).await;
        }
        let replies = join_all(pipe.cmd_iter().map(|cmd| {
            let mut conn = self.conn.clone();
            async move { cmd.query_async::<Value>(&mut conn).await }
        }))
        .await;
        replies.into_iter().collect()
    }

    /// Sends script calls as one pipeline and returns their replies, in order; with `wait`,
    /// the store's `WAIT` follows them and its reply comes last.
    ///
    /// A call whose script the server does not know (after a restart or `SCRIPT FLUSH`) is
    /// sent again, once, right after loading the script, in one more round trip. Only the
    /// calls that failed are repeated, so each call runs exactly once and its reply counts.
    async fn invoke_pipeline(
        &self,
        calls: &Calls<'_>,
        wait: bool,
    ) -> Result<Vec<Value>, RedisError> {
        let mut conn = self.conn.clone();
        let durability = self.durability.as_ref().filter(|_| wait);
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for (_, call) in calls {
            pipe.invoke_script(call);
        }
        if let Some(durability) = durability {
            durability.add_wait(&mut pipe);
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
            // The first `WAIT` saw no write of the calls that failed: wait for them again.
            if let Some(durability) = durability {
                durability.add_wait(&mut retry);
            }
            let mut again: Vec<Value> = retry.query_async(&mut conn).await?;
            if durability.is_some()
                && let (Some(last), Some(acked)) = (replies.last_mut(), again.pop())
            {
                *last = acked;
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionId;

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
}
