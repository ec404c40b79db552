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

use super::Sessions;
use crate::clock::to_secs;
use crate::error::{AuthError, invalid_token};
use crate::session::{Authentication, Session, SessionId};
use crate::store::StoreError;
use crate::telemetry::{StoreOp, timed};
use crate::token::{AuthenticationClaims, TokenPair};

/// How many compare-and-swaps one re-authentication tries before it gives up with a `503`:
/// each retry saw the session move on (a concurrent refresh), which is rare twice in a row.
const ATTEMPTS: usize = 4;

/// The target of this module's log lines and spans: the one they had before it moved.
const TARGET: &str = "tower_refresh_auth::reauthentication";

impl Sessions {
    /// Raises the authentication of the live session `id` to now, `how`, and rotates it.
    pub(crate) async fn reauthenticate(
        &self,
        id: &SessionId,
        how: Authentication,
    ) -> Result<TokenPair, AuthError> {
        let span = tracing::info_span!(target: TARGET, "reauthenticate", session = %id);
        async {
            let store = self
                .store
                .reauth()
                .ok_or(AuthError::MissingCapability("ReauthStore"))?;
            for _ in 0..ATTEMPTS {
                let now = self.clock.now();
                let current = timed(StoreOp::Load, self.store.load(id, now)).await?;
                // A record that fails its seal counts as no session at all, as on a refresh.
                let Some(current) = current.filter(|s| self.keys.is_sealed(s)) else {
                    return Err(invalid_token("the session has been revoked"));
                };
                let next = self.reauthenticated(&current, how.clone(), now)?;
                let swap = store.reauthenticate(&current, &next, now);
                if let Some(after) = timed(StoreOp::Rotate, swap).await? {
                    tracing::info!(target: TARGET, "session re-authenticated");
                    return Ok(TokenPair {
                        access_token: self.access.sign_session(&after, now)?,
                        refresh_token: self.keys.mint(id, after.counter),
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
            serde_json::from_str(&current.claims)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
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
        next.seal = self.keys.seal(&next);
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::store::{MemoryStore, RefreshStore};
    use crate::{NoClaims, RefreshAuth};

    /// A session sealed before `auth_time` existed: its claims hold the application's only.
    /// It keeps working — its tokens say it authenticated when it was created — and a
    /// re-authentication raises it like any other.
    #[tokio::test]
    async fn a_session_from_before_auth_time_refreshes_with_its_creation_time() {
        let store = MemoryStore::new();
        let clock = ManualClock::default();
        let auth = RefreshAuth::<serde_json::Value>::builder()
            .hs256(b"a secret of at least thirty-two bytes!".to_vec())
            .store(store.clone())
            .clock(clock.clone())
            .build()
            .unwrap();
        let created = clock.now();
        let pair = auth
            .issue("alice", serde_json::json!({ "role": "admin" }))
            .await
            .unwrap();
        // The record as the previous version wrote it, sealed by the previous version.
        let mut old = store
            .load(&pair.session_id, created)
            .await
            .unwrap()
            .unwrap();
        old.claims = r#"{"role":"admin"}"#.into();
        old.seal = auth.shared.sessions.keys.seal(&old);
        store.create(&old).await.unwrap();

        clock.advance(Duration::from_secs(90));
        let refreshed = auth.refresh(&pair.refresh_token).await.unwrap();
        let claims = auth.verify(&refreshed.access_token).unwrap();
        assert_eq!(claims.auth_time, Some(to_secs(created)));
        assert_eq!((claims.acr, claims.amr.len()), (None, 0));
        assert_eq!(claims.custom, serde_json::json!({ "role": "admin" }));

        let how = Authentication::new().acr("urn:example:mfa");
        let raised = auth.reauthenticate(&pair.session_id, how).await.unwrap();
        let claims = auth.verify(&raised.access_token).unwrap();
        assert_eq!(claims.auth_time, Some(to_secs(clock.now())));
        assert_eq!(claims.acr.as_deref(), Some("urn:example:mfa"));
        assert_eq!(claims.custom, serde_json::json!({ "role": "admin" }));
    }

    /// A store that lost the capability: a direct call says which trait is missing.
    #[tokio::test]
    async fn a_store_without_the_capability_is_named() {
        #[derive(Debug, Default)]
        struct CoreOnly(MemoryStore);
        #[async_trait::async_trait]
        impl RefreshStore for CoreOnly {
            async fn create(&self, s: &Session) -> Result<(), StoreError> {
                self.0.create(s).await
            }
            async fn load(
                &self,
                id: &SessionId,
                now: std::time::SystemTime,
            ) -> Result<Option<Session>, StoreError> {
                self.0.load(id, now).await
            }
            async fn rotate(
                &self,
                id: &SessionId,
                expected: u64,
                next: u64,
                now: std::time::SystemTime,
                expires_at: std::time::SystemTime,
            ) -> Result<crate::store::Rotation, StoreError> {
                self.0.rotate(id, expected, next, now, expires_at).await
            }
            async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
                self.0.revoke(id).await
            }
            async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
                self.0.reseal(id, seal).await
            }
        }
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(b"a secret of at least thirty-two bytes!".to_vec())
            .store(CoreOnly::default())
            .build()
            .unwrap();
        let pair = auth.issue("alice", NoClaims {}).await.unwrap();
        let err = auth
            .reauthenticate(&pair.session_id, Authentication::new())
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::MissingCapability("ReauthStore")));
        assert_eq!(err.status(), 500);
    }
}
