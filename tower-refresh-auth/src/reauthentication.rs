//! Re-authentication without a new session (`docs/protocol.md` §15): the user proved who they
//! are again (a password prompt, a second factor), so the session's `auth_time` — and its
//! `acr`/`amr` — rise, and the session rotates as on a refresh.
//!
//! The rotation is the refresh's: one compare-and-swap in the store
//! ([`ReauthStore::reauthenticate`](crate::store::ReauthStore::reauthenticate)) that moves the
//! counter and replaces the sealed claims together, so the refresh token the client held
//! before is spent. Replayed inside the grace window it gets the successor handed out here;
//! replayed later it is a reuse, and revokes the session — as for any spent token.

use tracing::Instrument;

use crate::clock::to_secs;
use crate::error::{AuthError, invalid_token};
use crate::session::{Authentication, Session, SessionId};
use crate::shared::Shared;
use crate::store::StoreError;
use crate::telemetry::{StoreOp, timed};
use crate::token::{AuthenticationClaims, TokenPair};

/// How many compare-and-swaps one re-authentication tries before it gives up with a `503`:
/// each retry saw the session move on (a concurrent refresh), which is rare twice in a row.
const ATTEMPTS: usize = 4;

impl Shared {
    /// Raises the authentication of the live session `id` to now, `how`, and rotates it.
    pub(crate) async fn reauthenticate(
        &self,
        id: &SessionId,
        how: Authentication,
    ) -> Result<TokenPair, AuthError> {
        let span = tracing::info_span!("reauthenticate", session = %id);
        async {
            let store = self
                .store
                .reauth()
                .ok_or(AuthError::MissingCapability("ReauthStore"))?;
            for _ in 0..ATTEMPTS {
                let now = self.clock.now();
                let current = timed(StoreOp::Load, self.store.load(id, now)).await?;
                // A record that fails its seal counts as no session at all, as on a refresh.
                let Some(current) = current.filter(|s| self.is_sealed(s)) else {
                    return Err(invalid_token("the session has been revoked"));
                };
                let next = self.reauthenticated(&current, how.clone(), now)?;
                let swap = store.reauthenticate(&current, &next, now);
                if let Some(after) = timed(StoreOp::Rotate, swap).await? {
                    tracing::info!("session re-authenticated");
                    return Ok(TokenPair {
                        access_token: self.access.sign_session(&after, now)?,
                        refresh_token: self.refresh_keys.mint(id, after.counter),
                        expires_in: self.access.ttl_secs(),
                        session_id: *id,
                        dpop_jkt: after.jkt,
                    });
                }
            }
            Err(StoreError::unavailable(
                "the session kept changing during a re-authentication; retry",
            )
            .into())
        }
        .instrument(span)
        .await
    }

    /// `current` authenticated again at `now`, `how`: its claims with the new authentication,
    /// its counter one on, its sliding expiry renewed, sealed again under the newest key.
    fn reauthenticated(
        &self,
        current: &Session,
        how: Authentication,
        now: std::time::SystemTime,
    ) -> Result<Session, AuthError> {
        let mut claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&current.claims).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // The old authentication goes; the application's claims stay as they were.
        AuthenticationClaims::take_from(&mut claims, to_secs(current.created_at));
        AuthenticationClaims::new(to_secs(now), how).put_into(&mut claims);
        let mut next = current.clone();
        next.claims = serde_json::Value::Object(claims).to_string();
        // At the largest counter there is no successor: the session has to log in again.
        next.counter = current
            .counter
            .checked_add(1)
            .ok_or_else(|| invalid_token("the session can no longer be renewed"))?;
        next.rotated_at = now;
        next.expires_at = now + self.refresh_ttl;
        next.seal = self.refresh_keys.seal(&next);
        Ok(next)
    }
}
