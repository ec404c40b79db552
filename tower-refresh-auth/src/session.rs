//! A login session: its [`SessionId`] and the [`Session`] record a store keeps.
//!
//! The record holds no token. A refresh token is `session id + counter + MAC` (see
//! [`crate::token::refresh`]); the record holds the session's current counter, so a leaked
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

/// One login session, as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// The user it belongs to (the access token's `sub`).
    pub subject: String,
    /// The application's own claims, as a JSON object, copied into every access token the
    /// session is refreshed into.
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
}

impl Session {
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
        };
        assert!(s.is_live(t0 + Duration::from_secs(9)));
        assert!(!s.is_live(t0 + Duration::from_secs(10)));
        s.absolute_expires_at = Some(t0 + Duration::from_secs(5));
        assert!(!s.is_live(t0 + Duration::from_secs(5)));
        assert_eq!(s.deadline(), t0 + Duration::from_secs(5));
    }
}
