//! The DPoP binding of a refresh (`docs/protocol.md` §10), on every instance whatever its
//! own DPoP mode: read by [`refresh`](super::refresh) before anything moves, only with
//! DPoP on.

use std::time::SystemTime;

use super::{Sessions, TARGET};
use crate::dpop::Verified;
use crate::error::{AuthError, DpopCode, DpopError};
use crate::session::SessionId;
use crate::telemetry::{StoreOp, timed};

impl Sessions {
    /// The binding (`docs/protocol.md` §10), before anything moves, on every instance
    /// whatever its own DPoP mode: a bound session refreshes only with a proof by its key,
    /// and is otherwise left exactly as it was (no rotation, so no reuse detection either: a
    /// thief without the key cannot log its owner out, even through an instance with DPoP
    /// off); an unbound session presented with its current token and a proof is bound to the
    /// proof's key, atomically ([`DpopStore::bind`](crate::store::DpopStore::bind));
    /// required mode refuses a refresh without a proof.
    ///
    /// The proof's `jti` is spent here, once the token's MAC has verified and the session is
    /// live and may take this key: a proof with a forged token, of an unknown session, or by
    /// the wrong key takes no room in the replay memory. It is spent before the bind and the
    /// rotation, so a replayed proof moves nothing.
    pub(super) async fn check_binding(
        &self,
        id: SessionId,
        presented: u64,
        proof: Option<&Verified>,
        now: SystemTime,
    ) -> Result<(), AuthError> {
        let verified = proof;
        let proof = verified.map(|p| p.jkt.as_str());
        self.dpop.require_proof(proof)?;
        let Some(session) = timed(StoreOp::Load, self.store.load(&id, now)).await? else {
            return Err(AuthError::InvalidGrant);
        };
        if !self.keys.is_sealed(&session) {
            return Err(AuthError::InvalidGrant);
        }
        if let Some(verified) = verified
            && session
                .jkt
                .as_deref()
                .is_none_or(|bound| bound == verified.jkt)
        {
            self.dpop.spend_proof(verified, false).await?;
        }
        match (session.jkt.as_deref(), proof) {
            (Some(bound), Some(jkt)) if bound == jkt => Ok(()),
            (Some(_), _) => {
                tracing::warn!(
                    target: TARGET,
                    "refresh of a DPoP-bound session without a proof by its key; refused"
                );
                Err(wrong_key())
            }
            (None, None) => Ok(()),
            // Only the current token binds: a spent one goes on to the reuse policy.
            (None, Some(_)) if session.counter != presented => Ok(()),
            (None, Some(jkt)) => {
                let mut bound = session;
                bound.jkt = Some(jkt.to_owned());
                let seal = self.keys.seal(&bound);
                match timed(StoreOp::Bind, self.dpop.store()?.bind(&id, jkt, &seal, now)).await? {
                    None => Err(AuthError::InvalidGrant),
                    Some(after) if after.jkt.as_deref() == Some(jkt) => {
                        tracing::debug!(target: TARGET, "session bound to a DPoP key");
                        Ok(())
                    }
                    // Bound a moment ago by a concurrent refresh, to another key.
                    Some(_) => Err(wrong_key()),
                }
            }
        }
    }
}

/// The refusal of a refresh of a bound session without a proof by its key.
pub(super) fn wrong_key() -> AuthError {
    DpopError::grant(
        DpopCode::InvalidProof,
        "the session is bound to a DPoP key: send a proof signed by it",
    )
}
