//! Sending commands: one timeout and one error mapping for every operation, and script
//! pipelines that survive a server that forgot its scripts.

use redis::{ErrorKind, RedisError, Script, ScriptInvocation, ServerErrorKind, Value};

use super::RedisStore;
use crate::store::StoreError;

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

    /// Sends script calls as one pipeline and returns their replies, in order.
    ///
    /// A call whose script the server does not know (after a restart or `SCRIPT FLUSH`) is
    /// sent again, once, right after loading the script, in one more round trip. Only the
    /// calls that failed are repeated, so each call runs exactly once and its reply counts.
    pub(super) async fn invoke_all(
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
