//! [`SessionPage`] and [`PageCursor`]: a subject's sessions a page at a time, newest first
//! ([`SubjectIndex::list_page`](super::SubjectIndex::list_page); `docs/protocol.md` §8).
//!
//! The order is by creation time in milliseconds (the precision every store keeps), newest
//! first, and among sessions created in the same millisecond by id, largest first (the 16
//! bytes compared as unsigned bytes, as SQL compares `BYTEA`/`BLOB`). A cursor names the last
//! session of a page; the next page holds the sessions strictly after it in that order, so a
//! session created or ended between two pages never shifts the others (keyset paging).

use crate::session::{PageCursor, Session};

/// One page of a subject's live sessions, newest first, as
/// [`SubjectIndex::list_page`](super::SubjectIndex::list_page) returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionPage {
    /// At most the page's limit of sessions, newest first.
    pub sessions: Vec<Session>,
    /// Where the next page starts (after the last session here), or `None` when no live
    /// session of the subject follows.
    pub next: Option<PageCursor>,
}

impl SessionPage {
    /// The page of `sessions` (live sessions of one subject, in any order) that holds the
    /// first `limit` after `after`: what a store that cannot order or bound its listing
    /// returns from all of them. `limit` is at least 1.
    pub fn from_unordered(
        mut sessions: Vec<Session>,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Self {
        if let Some(after) = after {
            sessions.retain(|s| after.precedes(s));
        }
        sessions.sort_unstable_by_key(|s| std::cmp::Reverse(PageCursor::after(s)));
        Self::from_ordered(sessions, limit)
    }

    /// The page of `sessions`, already in order and holding the first `limit + 1` (or fewer)
    /// sessions after the cursor: the extra one only tells that a next page exists.
    pub fn from_ordered(mut sessions: Vec<Session>, limit: usize) -> Self {
        let limit = limit.max(1);
        let next = if sessions.len() > limit {
            sessions.truncate(limit);
            sessions.last().map(PageCursor::after)
        } else {
            None
        };
        Self { sessions, next }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::session::SessionId;

    fn at(ms: u64, id: u8) -> Session {
        let t = UNIX_EPOCH + Duration::from_millis(ms);
        Session {
            id: SessionId::from_bytes([id; 16]),
            subject: "a".into(),
            claims: "{}".into(),
            counter: 0,
            created_at: t,
            rotated_at: t,
            expires_at: t + Duration::from_secs(60),
            absolute_expires_at: None,
            seal: String::new(),
            jkt: None,
            metadata: crate::session::SessionMetadata::new(),
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = PageCursor::new(1_800_000_000_123, SessionId::from_bytes([0xfe; 16]));
        let text = c.to_string();
        assert_eq!(text.len(), PageCursor::ENCODED_LEN);
        assert_eq!(text.parse::<PageCursor>().unwrap(), c);
        for bad in ["", "x", &"A".repeat(31), &"A".repeat(33), &"*".repeat(32)] {
            assert!(bad.parse::<PageCursor>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pages_are_newest_first_and_ties_go_by_id() {
        let all = vec![at(5, 1), at(9, 2), at(5, 3), at(7, 4), at(5, 200)];
        let first = SessionPage::from_unordered(all.clone(), 2, None);
        let ids = |p: &SessionPage| {
            p.sessions
                .iter()
                .map(|s| s.id.as_bytes()[0])
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&first), [2, 4]);
        let second = SessionPage::from_unordered(all.clone(), 2, first.next.as_ref());
        assert_eq!(ids(&second), [200, 3]);
        let last = SessionPage::from_unordered(all.clone(), 2, second.next.as_ref());
        assert_eq!(ids(&last), [1]);
        assert_eq!(last.next, None);
        // Exactly a page: no next.
        assert_eq!(SessionPage::from_unordered(all, 5, None).next, None);
    }
}
