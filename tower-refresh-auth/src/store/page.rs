//! [`SessionPage`] and [`PageCursor`]: a subject's sessions a page at a time, newest first
//! ([`RefreshStore::list_page`](super::RefreshStore::list_page); `docs/protocol.md` §8).
//!
//! The order is by creation time in milliseconds (the precision every store keeps), newest
//! first, and among sessions created in the same millisecond by id, largest first (the 16
//! bytes compared as unsigned bytes, as SQL compares `BYTEA`/`BLOB`). A cursor names the last
//! session of a page; the next page holds the sessions strictly after it in that order, so a
//! session created or ended between two pages never shifts the others (keyset paging).

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::to_millis;
use crate::session::{Session, SessionId, SessionInfo};

/// Where the next page of a listing starts: just after the session with this creation time
/// and id. Its text form (for `?cursor=`) is 32 characters of base64url, opaque to clients.
///
/// A cursor only names a position: a client that forges one lists its own sessions from
/// elsewhere, nothing more.
///
/// ```
/// use tower_refresh_auth::store::PageCursor;
///
/// let cursor: PageCursor = "AAABjQAAAAAAAAAAAAAAAAAAAAAAAAAA".parse()?;
/// assert_eq!(cursor.to_string().len(), 32);
/// assert!("not a cursor".parse::<PageCursor>().is_err());
/// # Ok::<_, tower_refresh_auth::store::ParsePageCursorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageCursor {
    created_at_ms: u64,
    id: SessionId,
}

impl PageCursor {
    /// The length of a cursor's text form.
    pub const ENCODED_LEN: usize = 32;

    /// The cursor just after `session`.
    pub fn after(session: &Session) -> Self {
        Self {
            created_at_ms: to_millis(session.created_at),
            id: session.id,
        }
    }

    /// A cursor from the creation time (ms since the Unix epoch) and id of a session.
    pub const fn new(created_at_ms: u64, id: SessionId) -> Self {
        Self { created_at_ms, id }
    }

    /// The creation time, in milliseconds since the Unix epoch, of the session it follows.
    pub const fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    /// The id of the session it follows.
    pub const fn id(&self) -> &SessionId {
        &self.id
    }

    /// Whether `session` comes after this cursor in the newest-first order (is older).
    pub fn precedes(&self, session: &Session) -> bool {
        Self::after(session) < *self
    }
}

impl fmt::Display for PageCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 24];
        raw[..8].copy_from_slice(&self.created_at_ms.to_be_bytes());
        raw[8..].copy_from_slice(self.id.as_bytes());
        let mut buf = [0u8; Self::ENCODED_LEN];
        let n = URL_SAFE_NO_PAD
            .encode_slice(raw, &mut buf)
            .map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

/// The text was not a [`PageCursor`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a page cursor: expected the 32 characters of a `next` the server gave")]
pub struct ParsePageCursorError(());

impl FromStr for PageCursor {
    type Err = ParsePageCursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != Self::ENCODED_LEN {
            return Err(ParsePageCursorError(()));
        }
        let mut raw = [0u8; 24];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut raw) {
            Ok(24) => {}
            _ => return Err(ParsePageCursorError(())),
        }
        let (time, id) = raw.split_at(8);
        let time: [u8; 8] = time.try_into().map_err(|_| ParsePageCursorError(()))?;
        let id: [u8; 16] = id.try_into().map_err(|_| ParsePageCursorError(()))?;
        Ok(Self {
            created_at_ms: u64::from_be_bytes(time),
            id: SessionId::from_bytes(id),
        })
    }
}

/// One page of a subject's live sessions, newest first, as
/// [`RefreshStore::list_page`](super::RefreshStore::list_page) returns it.
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

/// One page of a subject's live sessions, newest first: what
/// [`RefreshAuth::sessions_page`](crate::RefreshAuth::sessions_page) returns and
/// `GET /sessions` answers with (`docs/protocol.md` §8).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfoPage {
    /// At most a page of sessions, newest first.
    pub sessions: Vec<SessionInfo>,
    /// Where the next page starts, or `None` on the last page.
    pub next: Option<PageCursor>,
}

/// `t` as the key a session sorts by, with `id`: creation in ms, then id.
pub(crate) fn order_key(created_at: SystemTime, id: SessionId) -> PageCursor {
    PageCursor::new(to_millis(created_at), id)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

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
