//! Session checking: whether an access token's session is still live, asked of the store per
//! request, of a local set that follows the store's [`RevocationFeed`], or not at all
//! ([`SessionChecking`]); and the recording of every revocation the layer performs in that
//! feed.
//!
//! [`RevocationFeed`]: crate::store::RevocationFeed

mod follower;
mod local;

use std::sync::Arc;
use std::time::Duration;

use self::follower::Follower;
use self::local::Local;
use crate::clock::Clock;
use crate::error::{AuthError, ConfigError, invalid_token};
use crate::session::SessionId;
use crate::store::{RefreshStore, Revocation};

/// How the layer makes sure an access token's session has not ended
/// ([`RefreshAuthBuilder::check_sessions`](crate::RefreshAuthBuilder::check_sessions)).
///
/// `true` and `false` convert into [`PerRequest`](Self::PerRequest) and [`Off`](Self::Off).
///
/// ```
/// use tower_refresh_auth::{NoClaims, RefreshAuth, SessionChecking};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .check_sessions(SessionChecking::Feed) // the default store, MemoryStore, has a feed
///     .build()
///     .expect("valid configuration");
/// # let _ = auth;
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionChecking {
    /// No check: an ended session's access tokens work until they expire (the access-token
    /// lifetime, one minute by default). The default.
    #[default]
    Off,
    /// One store read ([`RefreshStore::load`]) per authenticated request: an ended session's
    /// tokens are refused at the next request, and every request waits on the store.
    PerRequest,
    /// The instance follows the store's [`RevocationFeed`](crate::store::RevocationFeed) into
    /// a local set, checked with no store call: an ended session's tokens are refused once
    /// its revocation has arrived (within milliseconds). While the instance may have missed
    /// part of the feed (at start, after a dropped subscription or a skipped sequence
    /// number), it checks the store per request instead, and answers `503` with
    /// `Retry-After` when the store cannot say. Needs a store with the capability and a
    /// tokio runtime when the layer is built.
    Feed,
}

impl From<bool> for SessionChecking {
    fn from(on: bool) -> Self {
        if on { Self::PerRequest } else { Self::Off }
    }
}

/// What a built layer checks, with the follower when it follows a feed.
#[derive(Debug)]
pub(crate) enum SessionCheck {
    Off,
    PerRequest,
    Feed(Follower),
}

/// What a guarded request with a verified token still needs.
#[derive(Debug)]
pub(crate) enum Ask {
    /// Nothing: the token's session is not known to have ended.
    Nothing,
    /// A store read of its session.
    Store,
    /// A refusal: its session has ended.
    Refuse,
}

impl SessionCheck {
    /// Where the follower stands; `None` unless following a feed.
    pub(crate) fn status(&self) -> Option<FeedStatus> {
        match self {
            Self::Feed(follower) => {
                let (sessions, subjects) = follower.set.len();
                let (gaps, resyncs) = follower.gaps_and_resyncs();
                Some(FeedStatus {
                    following: follower.set.is_certain(),
                    cursor: follower.cursor(),
                    sessions,
                    subjects,
                    gaps,
                    resyncs,
                })
            }
            Self::Off | Self::PerRequest => None,
        }
    }

    /// A receiver woken at each change of the local set; `None` unless following a feed.
    pub(crate) fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        match self {
            Self::Feed(follower) => Some(follower.set.subscribe()),
            Self::Off | Self::PerRequest => None,
        }
    }

    /// Takes a revocation made on this instance into its own set at once.
    pub(crate) fn revoked_here(&self, revocation: &Revocation, now: std::time::SystemTime) {
        if let Self::Feed(follower) = self {
            follower.set.apply([revocation], now, None);
        }
    }

    /// Starts what `mode` needs on `store`; refuses a feed the store does not keep.
    pub(crate) fn start(
        mode: SessionChecking,
        store: &Arc<dyn RefreshStore>,
        clock: &Arc<dyn Clock>,
        skew: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(match mode {
            SessionChecking::Off => Self::Off,
            SessionChecking::PerRequest => Self::PerRequest,
            SessionChecking::Feed => {
                if store.revocation_feed().is_none() {
                    return Err(ConfigError::MissingCapability {
                        needed_by: "`check_sessions(SessionChecking::Feed)`",
                        capability: "RevocationFeed",
                    });
                }
                let skew_ms = u64::try_from(skew.as_millis()).unwrap_or(u64::MAX);
                Self::Feed(Follower::spawn(
                    Arc::clone(store),
                    Arc::clone(clock),
                    skew_ms,
                )?)
            }
        })
    }

    /// The hot path: what a token of session `sid` and `subject`, issued at `iat`, needs.
    /// A token without a session (only another issuer's can be) is left to the store, which
    /// refuses it.
    pub(crate) fn ask(&self, sid: Option<&SessionId>, subject: &str, iat: u64) -> Ask {
        match self {
            Self::Off => Ask::Nothing,
            Self::PerRequest => Ask::Store,
            Self::Feed(follower) => match sid.map(|sid| follower.set.check(sid, subject, iat)) {
                None => Ask::Store,
                Some(Local::Live) => Ask::Nothing,
                Some(Local::Unsure) => Ask::Store,
                Some(Local::Revoked) => Ask::Refuse,
            },
        }
    }
}

/// The refusal of a token whose session has ended.
pub(crate) fn revoked() -> AuthError {
    invalid_token("the session has been revoked")
}

/// Where an instance stands in following the revocation feed
/// ([`RefreshAuth::revocation_feed_status`](crate::RefreshAuth::revocation_feed_status)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedStatus {
    /// Whether the local set holds every revocation up to [`cursor`](Self::cursor), so
    /// requests are checked without the store; `false` at start and while a gap is being
    /// repaired, when every request asks the store.
    pub following: bool,
    /// The sequence number of the latest revocation the set is known to hold (as of the
    /// last time the follower read the record or a gap interrupted it).
    pub cursor: u64,
    /// How many revoked sessions the set holds (entries leave it when the access tokens
    /// they could affect have expired).
    pub sessions: usize,
    /// How many subjects with a "log out everywhere" cut-off the set holds.
    pub subjects: usize,
    /// How many times the instance may have missed part of the feed and fell back to
    /// checking the store per request.
    pub gaps: u64,
    /// How many times it read the record and followed the feed, the first time included.
    pub resyncs: u64,
}
