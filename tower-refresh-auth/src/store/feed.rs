//! The [`RevocationFeed`] capability: every revocation recorded in the store for as long as an
//! access token it affects can live, and pushed to every instance that follows the feed
//! ([`SessionChecking::Feed`](crate::SessionChecking::Feed)).
//!
//! A backend numbers each revocation it records with a **sequence number**, one more than the
//! one before, in the order it pushes them: an instance that receives `n + 2` after `n` knows
//! it missed `n + 1`, and reads it back with [`since`](RevocationFeed::since). The backends of
//! this crate:
//!
//! | store | recorded in | pushed by |
//! |---|---|---|
//! | [`MemoryStore`](super::MemoryStore) | a queue in the process | a tokio broadcast channel |
//! | [`RedisStore`](super::RedisStore) | a sorted set scored by sequence, beside a counter (one hash tag: one slot on a cluster) | `PUBLISH` from the same script (a cluster broadcasts it to every node) |
//! | [`PostgresStore`](super::PostgresStore) | a table, beside a one-row counter | `NOTIFY` in the same statement, received with `LISTEN` |
//! | [`SqliteStore`](super::SqliteStore) | a table | nothing: the subscription polls the table |

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::clock::to_millis;
use crate::session::SessionId;

/// What a revocation ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Revoked {
    /// One session, and so every access token carrying its id (`sid`).
    Session(SessionId),
    /// Every session of a subject ("log out everywhere"): every access token of that subject
    /// issued before the revocation's [`at`](Revocation::at).
    Subject(String),
}

/// One revocation, as it is recorded and pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// What was revoked.
    pub revoked: Revoked,
    /// When, by the revoking instance's clock (whole milliseconds): for a
    /// [`Revoked::Subject`], the cut-off before which its tokens were issued.
    pub at: SystemTime,
    /// Until when it matters: the revocation time plus the longest an access token issued
    /// before it can still verify (its lifetime and the verification leeway). A backend keeps
    /// the revocation at least until then and may forget it afterwards.
    pub expires_at: SystemTime,
}

impl Revocation {
    /// A revocation of `revoked` at `at` that matters for `lifetime` (an access token's
    /// lifetime plus leeway), times cut to whole milliseconds as stores keep them.
    pub fn new(revoked: Revoked, at: SystemTime, lifetime: Duration) -> Self {
        let at = UNIX_EPOCH + Duration::from_millis(to_millis(at));
        Self {
            revoked,
            at,
            expires_at: at + lifetime,
        }
    }
}

/// A recorded revocation with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Its place in the feed: one more than the revocation recorded before it.
    pub seq: u64,
    /// The revocation.
    pub revocation: Revocation,
}

/// What [`RevocationFeed::since`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPage {
    /// The recorded revocations after the cursor that have not expired, in sequence order.
    pub revocations: Vec<Recorded>,
    /// The sequence number of the latest revocation recorded (`0` when none ever was), read
    /// together with `revocations`: the cursor to follow the feed from.
    pub head: u64,
}

/// A store capability: the revocation feed (`docs/protocol.md` §14) that lets every instance
/// refuse a revoked session's access tokens from a local set, with no store call per request.
///
/// A store offers it by implementing this trait and
/// [`RefreshStore::revocation_feed`](super::RefreshStore::revocation_feed) as `Some(…)`;
/// [`SessionChecking::Feed`](crate::SessionChecking::Feed) on a store without it is refused
/// when the layer is built.
#[async_trait::async_trait]
pub trait RevocationFeed: Send + Sync {
    /// Records `revocation` until at least its [`expires_at`](Revocation::expires_at) and
    /// pushes it to every [subscription](Self::subscribe), atomically numbered one past the
    /// latest: two concurrent calls get two numbers, pushed in their order. Revocations that
    /// expired at `now` may be dropped on the way. Returns its sequence number.
    async fn publish(&self, revocation: &Revocation, now: SystemTime) -> Result<u64, StoreError>;

    /// The recorded revocations numbered after `after` that are live at `now`, in sequence
    /// order, and the latest sequence number, read at one instant (no revocation recorded
    /// after the head is returned, none before it is left out unless it expired).
    async fn since(&self, after: u64, now: SystemTime) -> Result<FeedPage, StoreError>;

    /// A subscription to the revocations published from now on, in sequence order. It yields
    /// an error once it may have missed one (its connection dropped, it fell behind), after
    /// which the follower reads the record with [`since`](Self::since) and subscribes again.
    async fn subscribe(&self) -> Result<Box<dyn FeedSubscription>, StoreError>;
}

/// A push subscription to a [`RevocationFeed`], from
/// [`subscribe`](RevocationFeed::subscribe).
#[async_trait::async_trait]
pub trait FeedSubscription: Send {
    /// The next revocation pushed. An error ends the subscription: it may have missed
    /// revocations (its connection dropped, it fell behind, the backend answered nonsense).
    async fn next(&mut self) -> Result<Recorded, StoreError>;
}

/// A recorded revocation as backends store and push it: compact JSON.
#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
#[derive(Serialize, Deserialize)]
struct Wire {
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<SessionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    at: u64,
    exp: u64,
}

#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
impl Recorded {
    /// The JSON form backends store and push.
    pub(crate) fn encode(&self) -> String {
        let (sid, sub) = match &self.revocation.revoked {
            Revoked::Session(id) => (Some(*id), None),
            Revoked::Subject(subject) => (None, Some(subject.clone())),
        };
        let wire = Wire {
            seq: self.seq,
            sid,
            sub,
            at: to_millis(self.revocation.at),
            exp: to_millis(self.revocation.expires_at),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Reads the form of [`encode`](Self::encode).
    pub(crate) fn decode(text: &str) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt("a recorded revocation is malformed".into());
        let wire: Wire = serde_json::from_str(text).map_err(|_| corrupt())?;
        let revoked = match (wire.sid, wire.sub) {
            (Some(id), None) => Revoked::Session(id),
            (None, Some(subject)) => Revoked::Subject(subject),
            _ => return Err(corrupt()),
        };
        Ok(Self {
            seq: wire.seq,
            revocation: Revocation {
                revoked,
                at: UNIX_EPOCH + Duration::from_millis(wire.at),
                expires_at: UNIX_EPOCH + Duration::from_millis(wire.exp),
            },
        })
    }
}

/// `revocation` as JSON without its sequence number and opening brace: what a backend that
/// numbers revocations itself (a Redis script, an SQL statement) completes with `{"seq":N,`.
#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
pub(crate) fn encode_unnumbered(revocation: &Revocation) -> String {
    let full = Recorded {
        seq: 0,
        revocation: revocation.clone(),
    }
    .encode();
    full.strip_prefix(r#"{"seq":0,"#)
        .map(str::to_owned)
        .unwrap_or_default()
}

#[cfg(all(test, any(feature = "redis", feature = "postgres", feature = "sqlite")))]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_revocation_round_trips_through_its_json() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        for revoked in [
            Revoked::Session(SessionId::random()),
            Revoked::Subject("al|ice \"quoted\"".into()),
        ] {
            let recorded = Recorded {
                seq: 42,
                revocation: Revocation::new(revoked, at, Duration::from_secs(90)),
            };
            assert_eq!(Recorded::decode(&recorded.encode()).unwrap(), recorded);
        }
        assert!(Recorded::decode(r#"{"seq":1,"at":0,"exp":0}"#).is_err());
        assert!(Recorded::decode("nonsense").is_err());
    }
}
