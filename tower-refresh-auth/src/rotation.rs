//! The rotation policy (RFC 9700 §4.14.2): every refresh spends its token, a spent token
//! replayed inside the grace window gets the same successor, one replayed later revokes the
//! session. It is decided here, once; a store only does the compare-and-swap.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::error::{AuthError, invalid_token};
use crate::session::{Session, SessionId};
use crate::shared::Shared;
use crate::store::{Rotation, StoreError};
use crate::token::TokenPair;

/// What a presented refresh token is, given the session as the store has it after a
/// compare-and-swap that did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// The token was spent a moment ago by a concurrent refresh (another tab): it gets the
    /// very same successor, derived again.
    InsideGrace,
    /// A spent token after the grace window: someone holds a copy. The session is revoked.
    Reuse,
    /// Not a token this session ever issued, as far as the store knows.
    Unknown,
}

/// The policy for a token of counter `presented` when the session's counter is already
/// `session.counter`.
fn classify(session: &Session, presented: u64, now: SystemTime, grace: Duration) -> Replay {
    if session.counter == presented.wrapping_add(1)
        && now
            .duration_since(session.rotated_at)
            .map_or(true, |since| since <= grace)
    {
        Replay::InsideGrace
    } else if session.counter > presented {
        Replay::Reuse
    } else {
        Replay::Unknown
    }
}

impl Shared {
    /// Trades a refresh token for its successor and a new access token.
    pub(crate) async fn refresh(&self, token: &str) -> Result<TokenPair, AuthError> {
        // A forged or garbled token costs a MAC, never a store round trip.
        let presented = self
            .refresh_keys
            .verify(token)
            .ok_or(AuthError::InvalidGrant)?;
        let now = self.clock.now();
        let id = presented.session;
        let session = match self
            .store
            .rotate(&id, presented.counter, now, now + self.refresh_ttl)
            .await?
        {
            Rotation::Rotated(session) => session,
            Rotation::Conflict(session) => {
                match classify(&session, presented.counter, now, self.grace) {
                    Replay::InsideGrace => {
                        tracing::debug!(session = %id, "spent refresh token replayed inside the grace window");
                        session
                    }
                    Replay::Reuse => {
                        // The legitimate user logs in again.
                        self.revoke(&id).await?;
                        tracing::warn!(
                            session = %id,
                            presented = presented.counter,
                            current = session.counter,
                            "refresh token reuse detected; session revoked"
                        );
                        return Err(AuthError::InvalidGrant);
                    }
                    Replay::Unknown => return Err(AuthError::InvalidGrant),
                }
            }
            Rotation::NotFound => return Err(AuthError::InvalidGrant),
        };
        let custom: Map<String, Value> = serde_json::from_str(&session.claims)
            .map_err(|e| AuthError::Store(StoreError::Corrupt(e.to_string())))?;
        let access_token = self.access.sign(&session.subject, &id, &custom, now)?;
        Ok(TokenPair {
            access_token,
            refresh_token: self.refresh_keys.mint(&id, session.counter),
            expires_in: self.access.ttl_secs(),
            session_id: id,
        })
    }

    /// Revokes the whole session of a genuine refresh token (spent or not); anything else is
    /// ignored, so the answer is no oracle (RFC 7009 §2.2).
    pub(crate) async fn logout(&self, token: &str) -> Result<(), AuthError> {
        if let Some(presented) = self.refresh_keys.verify(token)
            && self.revoke(&presented.session).await?
        {
            tracing::debug!(session = %presented.session, "session logged out");
        }
        Ok(())
    }

    /// Deletes a session from the store and its tokens from the verified-token cache.
    pub(crate) async fn revoke(&self, id: &SessionId) -> Result<bool, AuthError> {
        let existed = self.store.revoke(id).await?;
        if let Some(cache) = &self.cache {
            cache.forget_session(id);
        }
        Ok(existed)
    }

    /// With session checking on: the session must still be live.
    pub(crate) async fn check_session(&self, id: &SessionId) -> Result<(), AuthError> {
        match self.store.load(id, self.clock.now()).await? {
            Some(_) => Ok(()),
            None => Err(invalid_token("the session has been revoked")),
        }
    }
}
