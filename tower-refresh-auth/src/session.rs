//! A login session: its [`SessionId`] and the [`Session`] record a store keeps.
//!
//! The record holds no token. A refresh token is `session id + counter + MAC` (see
//! [`crate::token::refresh_token`]); the record holds the session's current counter, so a leaked
//! database yields nothing that can be presented.
//!
//! The record carries a [`seal`](Session::seal): a MAC under a server key over the fields
//! that make it *this* user's session, so that whoever can write to the store can end a
//! session but cannot turn it into someone else's. A record whose seal does not verify is
//! refused like an unknown session.
//!
//! A session is *live* at `now` when `now < expires_at` and, if it has one,
//! `now < absolute_expires_at`. Stores treat a session that is not live exactly as a missing
//! one, and may delete it whenever they like.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

mod authentication;
mod info;
mod login;

pub use self::authentication::Authentication;
#[cfg(feature = "memory-store")]
pub(crate) use self::info::order_key;
pub use self::info::{
    DEFAULT_MAX_SESSIONS_PER_SUBJECT, MAX_SESSIONS_PER_SUBJECT, PageCursor, ParsePageCursorError,
    SessionInfo, SessionInfoPage,
};
pub use self::login::Login;

/// A login session's identifier: 128 random bits.
///
/// It appears in access tokens (the `sid` claim) and inside refresh tokens. It is not a
/// secret on its own: nothing can be done with it without a refresh token's MAC.
/// Its text form is 22 characters of unpadded base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// The length of [`SessionId`]'s text form.
    pub const ENCODED_LEN: usize = 22;

    /// A new random session id from the thread-local CSPRNG.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// A session id from its 16 raw bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; Self::ENCODED_LEN];
        let n = URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut buf)
            .map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// The text was not a [`SessionId`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a session id: expected 22 characters of base64url")]
pub struct ParseSessionIdError(());

impl FromStr for SessionId {
    type Err = ParseSessionIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != Self::ENCODED_LEN {
            return Err(ParseSessionIdError(()));
        }
        let mut out = [0u8; 16];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut out) {
            Ok(16) => Ok(Self(out)),
            _ => Err(ParseSessionIdError(())),
        }
    }
}

impl serde::Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A verified DPoP proof of a login (or refresh) request: the key's thumbprint, and the
/// proof's `jti`, **not yet spent**. Made by
/// [`RefreshAuth::verify_dpop`](crate::RefreshAuth::verify_dpop) (the adapters' login
/// extractors call it), handed to [`issue_with`](crate::RefreshAuth::issue_with) through
/// [`SessionMetadata::with_dpop`] to bind the new session to the key.
///
/// The `jti` is spent in the store by [`issue_with`](crate::RefreshAuth::issue_with) (or
/// [`refresh_with_proof`](crate::RefreshAuth::refresh_with_proof)), that is once the
/// application has accepted the login: a proof sent with a wrong password, or by nobody at
/// all, never takes a slot of the store's replay memory (`docs/protocol.md` §10). A proof
/// is good for one session: a second `issue_with` with it (or with a replay of the request)
/// is refused as a replay.
///
/// It cannot be made any other way, so a session is bound only to a key whose holder signed
/// this very request.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DpopProof {
    jkt: String,
    /// The proof's replay key ([`crate::store::ReplayKey`]) as its partition and bytes, and
    /// until when it must be remembered: what spending it needs. (Raw here, so that this
    /// module needs neither the store's nor the proofs' module.)
    partition: [u8; 8],
    replay: [u8; 16],
    expires_at: SystemTime,
}

impl DpopProof {
    pub(crate) fn new(
        jkt: String,
        partition: [u8; 8],
        replay: [u8; 16],
        expires_at: SystemTime,
    ) -> Self {
        Self {
            jkt,
            partition,
            replay,
            expires_at,
        }
    }

    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url: what the session and its
    /// access tokens (`cnf.jkt`) are bound to.
    pub fn thumbprint(&self) -> &str {
        &self.jkt
    }

    /// The replay key's partition and bytes, and until when the proof is accepted.
    pub(crate) fn replay_parts(&self) -> ([u8; 8], [u8; 16], SystemTime) {
        (self.partition, self.replay, self.expires_at)
    }
}

impl fmt::Debug for DpopProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopProof")
            .field("jkt", &self.jkt)
            .finish_non_exhaustive()
    }
}

/// One login session, as a store keeps it.
///
/// A store keeps every field as it was given and hands the record back as it was stored. A
/// store outside this crate makes one with [`Session::new`] and sets the other fields, which
/// are all public; the struct is `#[non_exhaustive]`, so a field added later is not a breaking
/// change for stores (a store that does not know it loses it, and the seal then tells).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_refresh_auth::session::{Session, SessionId};
///
/// // What a store reads back from its rows, field by field.
/// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let mut session = Session::new(SessionId::random(), "user1", "{}", t0, t0 + Duration::from_secs(3600), "seal");
/// session.counter = 3;
/// session.rotated_at = t0 + Duration::from_secs(60);
/// assert!(session.is_live(t0 + Duration::from_secs(61)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// The user it belongs to (the access token's `sub`).
    pub subject: String,
    /// The session's claims, as a JSON object, copied into every access token the session
    /// is refreshed into: the application's own, and how the user authenticated —
    /// `auth_time` (seconds since the Unix epoch), and `acr`/`amr` when the application set
    /// them (`docs/protocol.md` §15). The application cannot set those three names itself,
    /// so they are never its claims. A session from before they existed has none:
    /// its tokens carry `auth_time` = `created_at`.
    pub claims: String,
    /// The counter of the one refresh token that can currently be spent. Starts at `0`;
    /// each rotation adds one.
    pub counter: u64,
    /// When the session was created (the login).
    pub created_at: SystemTime,
    /// When `counter` last moved: the time the previous token was spent. Equal to
    /// `created_at` before the first rotation.
    pub rotated_at: SystemTime,
    /// The sliding expiry: pushed forward on every rotation.
    pub expires_at: SystemTime,
    /// The absolute expiry, if the session has one: never moves.
    pub absolute_expires_at: Option<SystemTime>,
    /// The seal: base64url (no padding) of an HMAC-SHA256, under a key derived from the
    /// refresh-token secret, over `id`, `subject`, `claims`, `created_at` and
    /// `absolute_expires_at` (times to the millisecond). The layer writes it when it creates
    /// the session and checks it on every refresh and session check; a record that fails is
    /// refused like an unknown session, and logged at `error`.
    ///
    /// `counter`, `rotated_at` and `expires_at` are not bound: every rotation changes them,
    /// and leaves the seal alone — except the first refresh after the refresh-token secret
    /// rotated, which seals the session again under the new secret
    /// ([`RefreshStore::reseal`](crate::store::RefreshStore::reseal)). A store keeps the seal
    /// as it was given, byte for byte; a record from before seals existed has an empty one,
    /// which never verifies.
    pub seal: String,
    /// The RFC 7638 thumbprint of the DPoP key the session is bound to, if it is
    /// (`docs/protocol.md` §10): its access tokens carry it as `cnf.jkt`, and its refreshes
    /// need a proof by that key. Bound by the seal, so a store writer cannot unbind a session
    /// (or bind it to their own key); set once, by a login with a proof or by
    /// [`DpopStore::bind`](crate::store::DpopStore::bind), never cleared.
    pub jkt: Option<String>,
    /// What the application recorded about the login (its user agent, a label), shown in
    /// session listings. Never part of a token, and not bound by the seal: a store writer
    /// could change how a session is described, not whose it is.
    pub metadata: SessionMetadata,
}

/// What an application records about a session when it starts it
/// ([`RefreshAuth::issue_with`](crate::RefreshAuth::issue_with)), for its user to recognise
/// the session in a listing (`GET /sessions`, [`RefreshAuth::sessions`](crate::RefreshAuth::sessions)).
///
/// Both values are bounded: a user agent to [`USER_AGENT_MAX`](Self::USER_AGENT_MAX) bytes,
/// a label to [`LABEL_MAX`](Self::LABEL_MAX), cut at a character boundary; control
/// characters are dropped. Neither ever goes into a token.
///
/// ```
/// use tower_refresh_auth::session::SessionMetadata;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".parse().unwrap());
/// let metadata = SessionMetadata::from_headers(&headers).with_label("work laptop");
/// assert_eq!(metadata.user_agent(), Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"));
/// assert_eq!(metadata.label(), Some("work laptop"));
///
/// let long = SessionMetadata::new().with_user_agent("x".repeat(10_000));
/// assert_eq!(long.user_agent().map(str::len), Some(SessionMetadata::USER_AGENT_MAX));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SessionMetadata {
    user_agent: Option<String>,
    label: Option<String>,
}

impl SessionMetadata {
    /// The longest user agent kept, in bytes.
    pub const USER_AGENT_MAX: usize = 256;
    /// The longest label kept, in bytes.
    pub const LABEL_MAX: usize = 64;

    /// No user agent, no label.
    pub const fn new() -> Self {
        Self {
            user_agent: None,
            label: None,
        }
    }

    /// The request's `User-Agent`, if it sent one that is text: what a login handler
    /// records, in one call, from the request it has.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        match headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            Some(user_agent) => Self::new().with_user_agent(user_agent),
            None => Self::new(),
        }
    }

    /// Sets the user agent (bounded; empty is none).
    pub fn with_user_agent(mut self, user_agent: impl AsRef<str>) -> Self {
        self.user_agent = bounded(user_agent.as_ref(), Self::USER_AGENT_MAX);
        self
    }

    /// Sets a label of the application's choosing, such as a device name (bounded; empty is
    /// none).
    pub fn with_label(mut self, label: impl AsRef<str>) -> Self {
        self.label = bounded(label.as_ref(), Self::LABEL_MAX);
        self
    }

    /// The [`Login`] of this metadata and the login request's verified DPoP `proof` (from
    /// [`RefreshAuth::verify_dpop`](crate::RefreshAuth::verify_dpop)): see
    /// [`Login::with_dpop`].
    pub fn with_dpop(self, proof: Option<DpopProof>) -> Login {
        Login::from(self).with_dpop(proof)
    }

    /// The [`Login`] of this metadata and how the user authenticated: see
    /// [`Login::with_authentication`].
    pub fn with_authentication(self, authentication: Authentication) -> Login {
        Login::from(self).with_authentication(authentication)
    }

    /// The user agent recorded at login.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The label recorded at login.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }
}

/// `text` without control characters, cut to at most `max` bytes at a character boundary;
/// `None` when nothing is left.
fn bounded(text: &str, max: usize) -> Option<String> {
    let mut out = String::new();
    for c in text.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    let out = out.trim().to_owned();
    (!out.is_empty()).then_some(out)
}

impl Session {
    /// A session as created at `created_at` with sliding expiry `expires_at`, sealed with
    /// `seal`: counter `0`, `rotated_at == created_at`, no absolute expiry, not bound to a
    /// DPoP key, no metadata. Set the other fields (all public) to what the store kept.
    pub fn new(
        id: SessionId,
        subject: impl Into<String>,
        claims: impl Into<String>,
        created_at: SystemTime,
        expires_at: SystemTime,
        seal: impl Into<String>,
    ) -> Self {
        Self {
            id,
            subject: subject.into(),
            claims: claims.into(),
            counter: 0,
            created_at,
            rotated_at: created_at,
            expires_at,
            absolute_expires_at: None,
            seal: seal.into(),
            jkt: None,
            metadata: SessionMetadata::new(),
        }
    }

    /// Whether the session is live at `now` (see the [module docs](self)).
    pub fn is_live(&self, now: SystemTime) -> bool {
        now < self.expires_at && self.absolute_expires_at.is_none_or(|abs| now < abs)
    }

    /// The earliest time the session stops being live: when a backend may forget it.
    pub fn deadline(&self) -> SystemTime {
        match self.absolute_expires_at {
            Some(abs) if abs < self.expires_at => abs,
            _ => self.expires_at,
        }
    }

    /// How long from `now` until [`deadline`](Self::deadline), zero if already past.
    pub fn time_to_live(&self, now: SystemTime) -> Duration {
        self.deadline()
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_text_round_trips() {
        for _ in 0..100 {
            let id = SessionId::random();
            let text = id.to_string();
            assert_eq!(text.len(), SessionId::ENCODED_LEN);
            assert_eq!(text.parse::<SessionId>().unwrap(), id);
        }
    }

    #[test]
    fn session_id_rejects_garbage() {
        for bad in [
            "",
            "short",
            "!!!!!!!!!!!!!!!!!!!!!!",
            "AAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(bad.parse::<SessionId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_is_bounded_at_a_character_boundary_without_control_characters() {
        let ua = "é".repeat(200); // 400 bytes
        let m = SessionMetadata::new().with_user_agent(&ua);
        let kept = m.user_agent().unwrap();
        assert_eq!(kept.len(), SessionMetadata::USER_AGENT_MAX);
        assert!(ua.starts_with(kept));
        let m = SessionMetadata::new().with_label("phone\n\u{1b}[31m  ");
        assert_eq!(m.label(), Some("phone[31m"));
        assert_eq!(SessionMetadata::new().with_label(" \t ").label(), None);
        assert_eq!(
            SessionMetadata::from_headers(&http::HeaderMap::new()),
            SessionMetadata::new()
        );
    }

    #[test]
    fn liveness_honours_both_expiries() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut s = Session {
            id: SessionId::random(),
            subject: "u".into(),
            claims: "{}".into(),
            counter: 0,
            created_at: t0,
            rotated_at: t0,
            expires_at: t0 + Duration::from_secs(10),
            absolute_expires_at: None,
            seal: String::new(),
            jkt: None,
            metadata: SessionMetadata::new(),
        };
        assert!(s.is_live(t0 + Duration::from_secs(9)));
        assert!(!s.is_live(t0 + Duration::from_secs(10)));
        s.absolute_expires_at = Some(t0 + Duration::from_secs(5));
        assert!(!s.is_live(t0 + Duration::from_secs(5)));
        assert_eq!(s.deadline(), t0 + Duration::from_secs(5));
    }
}
