//! The [`MemoryStore`]'s [`SubjectIndex`]: each subject's sessions in a sorted `Vec`, so a
//! listing, a page and "log out everywhere" cost what that subject's sessions cost.

use std::time::SystemTime;

use super::MemoryStore;
use crate::session::{PageCursor, Session, order_key};
use crate::store::{SessionPage, StoreError, SubjectIndex};

impl MemoryStore {
    /// Adds a stored session to its subject's index.
    pub(super) fn index(&self, session: &Session) {
        let key = order_key(session.created_at, session.id);
        let insert = |keys: &mut Vec<PageCursor>| {
            if let Err(at) = keys.binary_search(&key) {
                keys.insert(at, key);
            }
        };
        match self.inner.subjects.get_mut(session.subject.as_str()) {
            Some(mut keys) => insert(&mut keys),
            None => insert(
                &mut self
                    .inner
                    .subjects
                    .entry(session.subject.clone())
                    // Most users hold one session: room for one, grown on a second login.
                    .or_insert_with(|| Vec::with_capacity(1)),
            ),
        }
    }

    /// Drops a session from its subject's index, and the index once empty.
    pub(super) fn unindex(&self, subject: &str, key: &PageCursor) {
        let empty = match self.inner.subjects.get_mut(subject) {
            Some(mut keys) => {
                if let Ok(at) = keys.binary_search(key) {
                    keys.remove(at);
                }
                keys.is_empty()
            }
            None => false,
        };
        if empty {
            self.inner
                .subjects
                .remove_if(subject, |_, keys| keys.is_empty());
        }
    }

    /// The live sessions of `subject` after `after`, newest first: `limit + 1` at most (the
    /// extra one tells that a next page exists). Reads the subject's index a chunk at a time,
    /// dropping the entries of sessions that are gone or dead on the way.
    pub(super) fn page(
        &self,
        subject: &str,
        now: SystemTime,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Vec<Session> {
        let want = limit.saturating_add(1);
        let mut bound = after.copied();
        let mut live = Vec::new();
        let mut stale = Vec::new();
        while live.len() < want {
            let missing = want - live.len();
            // The index guard is dropped before `sessions` is read.
            let keys: Vec<PageCursor> = match self.inner.subjects.get(subject) {
                None => break,
                Some(all) => {
                    let end = bound.map_or(all.len(), |b| all.partition_point(|k| *k < b));
                    all[..end].iter().rev().take(missing).copied().collect()
                }
            };
            let Some(last) = keys.last() else {
                break;
            };
            bound = Some(*last);
            for key in keys {
                match self.inner.sessions.get(key.id()) {
                    Some(s) if s.subject == subject && s.is_live(now) => live.push(s.clone()),
                    _ => stale.push(key),
                }
            }
        }
        for key in &stale {
            self.inner
                .sessions
                .remove_if(key.id(), |_, s| s.subject == subject && !s.is_live(now));
            self.unindex(subject, key);
        }
        live
    }
}

#[async_trait::async_trait]
impl SubjectIndex for MemoryStore {
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        let Some((_, keys)) = self.inner.subjects.remove(subject) else {
            return Ok(0);
        };
        let revoked = keys
            .iter()
            .filter(|key| {
                self.inner
                    .sessions
                    .remove_if(key.id(), |_, s| s.subject == subject)
                    .is_some()
            })
            .count();
        Ok(u64::try_from(revoked).unwrap_or(u64::MAX))
    }

    /// The subject's index, not a scan of every session; newest first.
    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError> {
        Ok(self.page(subject, now, usize::MAX, None))
    }

    /// The page's entries of the subject's index, and one more: O(page), plus the entries of
    /// dead sessions it drops on the way.
    async fn list_page(
        &self,
        subject: &str,
        now: SystemTime,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Result<SessionPage, StoreError> {
        let limit = limit.max(1);
        Ok(SessionPage::from_ordered(
            self.page(subject, now, limit, after),
            limit,
        ))
    }
}
