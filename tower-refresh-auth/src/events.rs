//! Security events: what an application may want to act on — a stolen refresh token replayed,
//! two tabs racing, a session ended — handed to a callback set with
//! [`on_security_event`](crate::RefreshAuthBuilder::on_security_event).
//!
//! An event names the session and its subject, never a token. A grace replay (a benign race
//! inside the grace window) and a reuse (a spent token presented after it) are different
//! events, so a race is never reported as theft.

use std::sync::Arc;

use crate::session::SessionId;

/// Something that happened to a session that an application may want to log, alert on or
/// show its user. Never carries a token.
///
/// Subscribe with [`on_security_event`](crate::RefreshAuthBuilder::on_security_event):
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tower_refresh_auth::{NoClaims, RefreshAuth, events::RevocationReason, SecurityEvent};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .on_security_event(move |event: &SecurityEvent| {
///         if let SecurityEvent::ReuseDetected { session, subject } = event {
///             tracing::warn!(%session, user = %subject, "refresh token reuse");
///         }
///         sink.lock().unwrap().push(event.clone());
///     })
///     .build()?;
///
/// let pair = auth.issue("user1", NoClaims {}).await?;
/// auth.logout(&pair.refresh_token).await?;
///
/// let seen = seen.lock().unwrap();
/// assert!(matches!(
///     &seen[..],
///     [SecurityEvent::SessionRevoked { reason: RevocationReason::Logout, session, .. }]
///         if *session == pair.session_id
/// ));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityEvent {
    /// A spent refresh token was presented after the grace window: someone holds a copy of
    /// it. The whole session has been revoked (a
    /// [`SessionRevoked`](Self::SessionRevoked) with [`RevocationReason::Reuse`] follows).
    ReuseDetected {
        /// The session the token belonged to.
        session: SessionId,
        /// Its user.
        subject: String,
    },
    /// A spent refresh token was presented again inside the grace window and got the same
    /// successor: usually two tabs refreshing at once, not an attack. Nothing was revoked.
    GraceReplay {
        /// The session the token belongs to.
        session: SessionId,
        /// Its user.
        subject: String,
    },
    /// A genuine refresh token *ahead* of the store's counter arrived: the store had lost
    /// rotations it once acknowledged (an asynchronous failover, a restored backup), and the
    /// session was rolled forward from that token instead of being ended
    /// (`docs/protocol.md` §11). Only the server can mint a token that passes its MAC, so this
    /// is not an attack; it tells an operator that the store lost writes.
    RolledForward {
        /// The session.
        session: SessionId,
        /// Its user.
        subject: String,
        /// How many generations the store was behind the token (at least 1).
        generations: u64,
    },
    /// One session was revoked: none of its refresh tokens works any more.
    SessionRevoked {
        /// The session.
        session: SessionId,
        /// Its user. Always named when the session was live: a reuse and
        /// [`RevocationReason::SessionLimit`] know it; a logout's refresh token and
        /// [`revoke_session`](crate::RefreshAuth::revoke_session) name only the session, so
        /// with a callback installed the layer reads the record first (one more store call,
        /// only then, best effort). `None` only when there was no live, intact record to
        /// read it from (a session that had just expired, a record that failed its seal, a
        /// store that failed that read).
        subject: Option<String>,
        /// Why.
        reason: RevocationReason,
    },
    /// Every session of one user was revoked at once
    /// ([`revoke_subject`](crate::RefreshAuth::revoke_subject), "log out everywhere").
    SubjectRevoked {
        /// The user.
        subject: String,
        /// How many sessions were revoked.
        sessions: u64,
    },
    /// A resource server ([`crate::resource`]) could not fetch an issuer's key set: the last
    /// good set keeps verifying until the maximum staleness, then tokens of that issuer are
    /// answered `503`.
    KeySetFetchFailed {
        /// The issuer (its `iss`), or the JWKS URL when no `iss` is configured.
        issuer: String,
        /// Why, naming the URL.
        reason: String,
    },
    /// A resource server answered `503` for an issuer whose key set is past its maximum
    /// staleness (or never arrived). Reported once per fetch failure, not per request.
    KeySetUnavailable {
        /// The issuer (its `iss`), or the JWKS URL when no `iss` is configured.
        issuer: String,
    },
    /// A resource server refused tokens naming a `kid` its issuer's key set does not hold,
    /// and fetched the set for it no sooner than the cooldown allowed: a rotation it missed,
    /// or someone trying random kids.
    UnknownKid {
        /// The issuer (its `iss`), or the JWKS URL when no `iss` is configured.
        issuer: String,
    },
    /// This instance advanced the fleet's key ring (`key-rotation` feature): a new signing
    /// key is published now and signs from `signs_from`.
    KeyRotated {
        /// The new ring's version.
        version: u64,
        /// The new key's `kid`.
        kid: String,
        /// When it starts signing.
        signs_from: std::time::SystemTime,
    },
    /// This instance adopted a key ring another instance stored.
    KeyRingAdopted {
        /// The ring's version.
        version: u64,
    },
    /// The key ring in the store did not open under the key-encryption key, or was older
    /// than the one in use: changed or planted by someone without the key. It is refused and
    /// the last good ring stays in use.
    KeyRingRefused {
        /// The stored record's version.
        version: u64,
        /// Why, without any key material.
        reason: String,
    },
    /// A due step of the key ring was postponed because the store could not be reached;
    /// signing goes on with the current key, and the step is taken when the store answers.
    KeyRotationPostponed,
}

/// Why a session was revoked; also the `reason` label of `refresh_auth_sessions_revoked_total`
/// (`docs/protocol.md` §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationReason {
    /// Its user logged out (`POST /logout`, [`RefreshAuth::logout`](crate::RefreshAuth::logout)).
    Logout,
    /// A spent refresh token of it was replayed after the grace window.
    Reuse,
    /// Every session of its user was revoked at once
    /// ([`RefreshAuth::revoke_subject`](crate::RefreshAuth::revoke_subject)); reported as one
    /// [`SecurityEvent::SubjectRevoked`].
    Subject,
    /// It was revoked by id
    /// ([`RefreshAuth::revoke_session`](crate::RefreshAuth::revoke_session)).
    Session,
    /// It was its user's oldest live session when a login took the user past the
    /// [limit of sessions per subject](crate::RefreshAuthBuilder::max_sessions_per_subject);
    /// the event names the subject.
    SessionLimit,
}

impl RevocationReason {
    /// The reason as the metric label names it: `logout`, `reuse`, `subject`, `session` or
    /// `session_limit`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Reuse => "reuse",
            Self::Subject => "subject",
            Self::Session => "session",
            Self::SessionLimit => "session_limit",
        }
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The callback of [`on_security_event`](crate::RefreshAuthBuilder::on_security_event).
pub(crate) type EventFn = dyn Fn(&SecurityEvent) + Send + Sync;

/// Where events go: the application's callback, or nowhere.
#[derive(Clone, Default)]
pub(crate) struct Events(Option<Arc<EventFn>>);

impl Events {
    pub(crate) fn new(callback: Option<Arc<EventFn>>) -> Self {
        Self(callback)
    }

    /// Whether a callback is installed: what is worth a store call only to be reported.
    pub(crate) fn is_listening(&self) -> bool {
        self.0.is_some()
    }

    /// Hands the event made by `event` to the callback; without one, the event is not even
    /// made (no subject is copied).
    pub(crate) fn emit(&self, event: impl FnOnce() -> SecurityEvent) {
        if let Some(callback) = &self.0 {
            callback(&event());
        }
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Events(callback)"
        } else {
            "Events(none)"
        })
    }
}
