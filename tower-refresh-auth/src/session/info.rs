//! A session as its user sees it ([`SessionInfo`]), and the listing of a subject's sessions a
//! page at a time ([`PageCursor`], [`SessionInfoPage`]), with the limit of sessions per
//! subject.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Session, SessionId, SessionMetadata};
use crate::clock::to_millis;

/// A live session as its user may see it: what [`RefreshAuth::sessions`](crate::RefreshAuth::sessions)
/// lists and `GET /sessions` answers with. Holds no token and no claims.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's id: the `sid` of its access tokens.
    pub id: SessionId,
    /// When it started (the login).
    pub created_at: SystemTime,
    /// When it was last refreshed; its start, before the first refresh.
    pub last_refreshed_at: SystemTime,
    /// When it ends unless refreshed again (or, with an absolute lifetime, at the latest).
    pub expires_at: SystemTime,
    /// What the application recorded at login.
    pub metadata: SessionMetadata,
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

impl From<Session> for SessionInfo {
    fn from(session: Session) -> Self {
        Self {
            id: session.id,
            created_at: session.created_at,
            last_refreshed_at: session.rotated_at,
            expires_at: session.deadline(),
            metadata: session.metadata,
        }
    }
}

/// How many live sessions one subject keeps unless
/// [`max_sessions_per_subject`](crate::RefreshAuthBuilder::max_sessions_per_subject) says otherwise.
pub const DEFAULT_MAX_SESSIONS_PER_SUBJECT: usize = 100;

/// The largest [`max_sessions_per_subject`](crate::RefreshAuthBuilder::max_sessions_per_subject):
/// every login reads that many sessions of its subject.
pub const MAX_SESSIONS_PER_SUBJECT: usize = 10_000;

/// Where the next page of a listing starts: just after the session with this creation time
/// and id. Its text form (for `?cursor=`) is 32 characters of base64url, opaque to clients.
///
/// A cursor only names a position: a client that forges one lists its own sessions from
/// elsewhere, nothing more.
///
/// ```
/// use tower_refresh_auth::session::PageCursor;
///
/// let cursor: PageCursor = "AAABjQAAAAAAAAAAAAAAAAAAAAAAAAAA".parse()?;
/// assert_eq!(cursor.to_string().len(), 32);
/// assert!("not a cursor".parse::<PageCursor>().is_err());
/// # Ok::<_, tower_refresh_auth::session::ParsePageCursorError>(())
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

/// `t` as the key a session sorts by, with `id`: creation in ms, then id.
#[cfg(feature = "memory-store")]
pub(crate) fn order_key(created_at: SystemTime, id: SessionId) -> PageCursor {
    PageCursor::new(to_millis(created_at), id)
}
