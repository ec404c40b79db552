//! DPoP at a login and at the refresh endpoint (RFC 9449 §5): reading the proof, spending
//! its `jti`, and the binding rules of `docs/protocol.md` §10.

use http::{HeaderMap, Method, Uri};

use super::{DpopMode, Expected, ProofError, ProofRules, Verified};
use crate::error::{AuthError, DpopCode, DpopError};
use crate::shared::Shared;
use crate::telemetry::{StoreOp, timed};

/// `err` as a refusal of a login or refresh (`400`), or of a protected request (`401`).
pub(crate) fn refusal(err: ProofError, resource: bool) -> AuthError {
    let (code, description) = match err {
        ProofError::Invalid(why) => (DpopCode::InvalidProof, why),
        ProofError::UseNonce => (DpopCode::UseNonce, "the DPoP proof must carry the server's nonce"),
    };
    if resource {
        DpopError::resource(code, description)
    } else {
        DpopError::grant(code, description)
    }
}

impl Shared {
    /// The verified proof of a login or refresh request, its `jti` spent; `None` when DPoP is
    /// off, or optional and the request has no proof.
    ///
    /// # Errors
    ///
    /// `400 invalid_dpop_proof` for an invalid or replayed proof, or for none in required
    /// mode; `use_dpop_nonce`; a store failure.
    pub(crate) async fn grant_proof(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Option<Verified>, AuthError> {
        let Some(dpop) = &self.dpop else {
            return Ok(None);
        };
        let Some(proof) = ProofRules::header(headers).map_err(|e| refusal(e, false))? else {
            return match dpop.mode {
                DpopMode::Required => Err(DpopError::grant(
                    DpopCode::InvalidProof,
                    "a DPoP proof is required",
                )),
                _ => Ok(None),
            };
        };
        let expected = Expected {
            method,
            uri,
            headers,
            access_token: None,
        };
        let verified = dpop
            .rules
            .verify(proof, &expected, self.clock.now())
            .map_err(|e| refusal(e, false))?;
        self.spend_proof(&verified, false).await?;
        Ok(Some(verified))
    }

    /// Remembers the proof's `jti` in the store; a proof seen before is refused.
    pub(crate) async fn spend_proof(&self, proof: &Verified, resource: bool) -> Result<(), AuthError> {
        let fresh = timed(
            StoreOp::RememberProof,
            self.store
                .remember_proof(&proof.replay, proof.expires_at, self.clock.now()),
        )
        .await?;
        if fresh {
            Ok(())
        } else {
            tracing::warn!("DPoP proof replayed; refused");
            Err(refusal(
                ProofError::Invalid("the DPoP proof has been used before"),
                resource,
            ))
        }
    }

    /// In required mode, a session must be bound: refuses a grant without a proof.
    pub(crate) fn require_proof(&self, proof: Option<&str>) -> Result<(), AuthError> {
        match (&self.dpop, proof) {
            (Some(dpop), None) if dpop.mode == DpopMode::Required => Err(DpopError::grant(
                DpopCode::InvalidProof,
                "a DPoP proof is required",
            )),
            _ => Ok(()),
        }
    }
}
