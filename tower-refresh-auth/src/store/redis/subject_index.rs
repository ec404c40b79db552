//! The [`RedisStore`]'s [`SubjectIndex`]: a sorted set of session ids per subject, read and
//! pruned across slots (see the module docs of [`store::redis`](super)).

use std::time::SystemTime;

use redis::{RedisError, Value};

use super::decode::{FIELDS, decode};
use super::{INDEX_MIN_AGE_MS, RedisStore};
use crate::clock::to_millis;
use crate::session::{PageCursor, Session, SessionId};
use crate::store::{SessionPage, StoreError, SubjectIndex};

impl RedisStore {
    /// Every id in the subject's `index` (`ZRANGE`).
    async fn indexed(&self, index: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let mut members = redis::cmd("ZRANGE");
        members.arg(index).arg(0).arg(-1);
        self.run(members.query_async(&mut conn)).await
    }

    /// The fields of each session named, in one pipeline (one `HMGET` per slot at once on a
    /// cluster); a missing key reads as all-nil fields.
    async fn read_whole<'a, D>(
        &self,
        ids: impl Iterator<Item = &'a D>,
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError>
    where
        D: std::fmt::Display + ?Sized + 'a,
    {
        let mut reads = redis::pipe();
        for id in ids {
            reads
                .cmd("HMGET")
                .arg(self.session_key(id))
                .arg(&FIELDS[..]);
        }
        let replies = self.run(self.query_all(&reads)).await?;
        redis::from_redis_value(Value::Array(replies))
            .map_err(|err| StoreError::Corrupt(err.to_string()))
    }

    /// Drops `stale` ids from the subject's `index`. Bounded: what is dropped now costs
    /// nothing next time. Only ids a minute old go (see the module docs); housekeeping, so a
    /// failure is logged, not the caller's.
    async fn forget_stale(&self, index: &str, stale: &[&String]) {
        if stale.is_empty() {
            return;
        }
        let mut conn = self.conn.clone();
        let mut forget = self.scripts.index_forget.prepare_invoke();
        forget.key(index).arg(INDEX_MIN_AGE_MS).arg(stale);
        if let Err(err) = self.run(forget.invoke_async::<u64>(&mut conn)).await {
            tracing::warn!(error = %err, "redis store could not prune a subject's index");
        }
    }

    /// Drops from `subject`'s index the ids, a minute old or more, whose session is gone.
    pub(super) async fn prune_subject(&self, subject: &str) -> Result<(), RedisError> {
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
        let found: Vec<bool> =
            redis::from_redis_value(Value::Array(self.query_all(&exists).await?))?;
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

#[async_trait::async_trait]
impl SubjectIndex for RedisStore {
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        let index = self.subject_key(subject);
        let ids = self.indexed(&index).await?;
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
        // The index only once every session is gone: on a cluster, in a second step.
        let replies = self
            .run(self.invoke_in_turn(&calls, ids.len(), false))
            .await?;
        // Every reply but the last (the index's) is a count of deleted sessions.
        let counts = replies.iter().take(ids.len()).map(|reply| {
            redis::from_redis_value_ref::<u64>(reply)
                .map_err(|err| StoreError::Corrupt(err.to_string()))
        });
        counts.sum()
    }

    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError> {
        let index = self.subject_key(subject);
        let ids = self.indexed(&index).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let replies = self.read_whole(ids.iter()).await?;
        let mut live = Vec::new();
        let mut stale = Vec::new();
        for (text, fields) in ids.iter().zip(replies) {
            // An id that is not a session id was never written by this store: dropped too.
            let Ok(id) = text.parse::<SessionId>() else {
                stale.push(text);
                continue;
            };
            // A missing key reads as all-nil fields.
            if fields.iter().all(Option::is_none) {
                stale.push(text);
                continue;
            }
            let session = decode(id, fields)?;
            if session.subject == subject && session.is_live(now) {
                live.push(session);
            } else {
                stale.push(text);
            }
        }
        self.forget_stale(&index, &stale).await;
        Ok(live)
    }

    /// Three round trips (four when it finds stale ids): the subject's index; the four small
    /// fields each session is sorted and judged live by (`sub`, `cat`, `exp`, `abs`), in one
    /// pipeline; the whole of the page's sessions only, in another.
    async fn list_page(
        &self,
        subject: &str,
        now: SystemTime,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Result<SessionPage, StoreError> {
        const HEAD: [&str; 4] = ["sub", "cat", "exp", "abs"];
        let limit = limit.max(1);
        let index = self.subject_key(subject);
        let ids = self.indexed(&index).await?;
        if ids.is_empty() {
            return Ok(SessionPage::default());
        }
        let mut heads = redis::pipe();
        for id in &ids {
            heads.cmd("HMGET").arg(self.session_key(id)).arg(&HEAD[..]);
        }
        let replies = self.run(self.query_all(&heads)).await?;
        let replies: Vec<Vec<Option<String>>> = redis::from_redis_value(Value::Array(replies))
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let now_ms = to_millis(now);
        let mut stale = Vec::new();
        let mut candidates = Vec::new();
        for (text, head) in ids.iter().zip(replies) {
            let Ok(id) = text.parse::<SessionId>() else {
                stale.push(text);
                continue;
            };
            let [sub, cat, exp, abs]: [Option<String>; 4] = head.try_into().map_err(|_| {
                StoreError::Corrupt(format!("session {id}: wrong number of fields"))
            })?;
            let ms = |field: Option<String>, name: &str| {
                field.and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| {
                    StoreError::Corrupt(format!("session {id}: `{name}` is not an integer"))
                })
            };
            // A missing key reads as all-nil fields.
            let Some(sub) = sub else {
                stale.push(text);
                continue;
            };
            let created = ms(cat, "cat")?;
            let live = now_ms < ms(exp, "exp")?
                && match abs.filter(|a| !a.is_empty()) {
                    None => true,
                    abs => now_ms < ms(abs, "abs")?,
                };
            if sub != subject || !live {
                stale.push(text);
                continue;
            }
            let cursor = PageCursor::new(created, id);
            if after.is_none_or(|after| cursor < *after) {
                candidates.push(cursor);
            }
        }
        self.forget_stale(&index, &stale).await;
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        // The next page is known from the heads: a session of this page that ends before it
        // is read makes the page shorter, never the listing.
        let next = (candidates.len() > limit).then(|| candidates[limit - 1]);
        candidates.truncate(limit);
        if candidates.is_empty() {
            return Ok(SessionPage::default());
        }
        let replies = self
            .read_whole(candidates.iter().map(|cursor| cursor.id()))
            .await?;
        let mut sessions = Vec::with_capacity(candidates.len());
        for (cursor, fields) in candidates.iter().zip(replies) {
            if fields.iter().all(Option::is_none) {
                continue;
            }
            let session = decode(*cursor.id(), fields)?;
            if session.subject == subject && session.is_live(now) {
                sessions.push(session);
            }
        }
        Ok(SessionPage { sessions, next })
    }
}
