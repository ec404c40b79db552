//! DPoP on a protected request (RFC 9449 §7): which scheme the token came with, whether it
//! is bound, and the proof that must come with a bound one.

use http::{HeaderMap, Method, Uri};

use super::grant::refusal;
use super::{DpopMode, Expected, ProofError, ProofRules, Verified};
use crate::credentials::{self, Scheme};
use crate::error::{AuthError, DpopCode, DpopError, invalid_token};
use crate::shared::Shared;
use crate::token::Claims;

/// The request's method and URL, for the proof's `htm` and `htu`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
}

impl Shared {
    /// Reads the request's access token, verifies it with `verify`, and with DPoP on, the
    /// scheme and the proof: a bound token needs `Authorization: DPoP` and a proof by its key
    /// (returned, its `jti` still to be spent), an unbound one needs `Bearer`.
    pub(crate) fn verify_presented<C>(
        &self,
        target: Target<'_>,
        headers: &HeaderMap,
        verify: impl FnOnce(&str) -> Result<Claims<C>, AuthError>,
    ) -> Result<(Claims<C>, Option<Verified>), AuthError> {
        let cookie = self.access_cookie.as_deref();
        let Some(dpop) = &self.dpop else {
            let claims = verify(credentials::access_token(headers, cookie)?)?;
            if claims.cnf.is_some() {
                // Bound elsewhere (or before DPoP was turned off): without a proof it is a
                // stolen token as far as anyone can tell.
                return Err(invalid_token("the token is DPoP-bound, and DPoP is off"));
            }
            return Ok((claims, None));
        };
        match credentials::presented(headers, cookie, true)? {
            (Scheme::Bearer, _) if dpop.mode == DpopMode::Required => Err(DpopError::resource(
                DpopCode::InvalidToken,
                "DPoP is required: send the token as `Authorization: DPoP` with a proof",
            )),
            (Scheme::Bearer, token) => {
                let claims = verify(token)?;
                if claims.cnf.is_some() {
                    // RFC 9449 §7.2: a bound token is no bearer token.
                    return Err(invalid_token(
                        "the token is DPoP-bound: send it as `Authorization: DPoP` with a proof",
                    ));
                }
                Ok((claims, None))
            }
            (Scheme::Dpop, token) => {
                let claims = verify(token).map_err(|err| match err {
                    AuthError::InvalidToken(why) => {
                        DpopError::resource(DpopCode::InvalidToken, why)
                    }
                    other => other,
                })?;
                let Some(cnf) = &claims.cnf else {
                    return Err(DpopError::resource(
                        DpopCode::InvalidToken,
                        "the token is not DPoP-bound: send it as `Authorization: Bearer`",
                    ));
                };
                let proof = ProofRules::header(headers)
                    .map_err(|e| refusal(e, true))?
                    .ok_or_else(|| refusal(ProofError::Invalid("the request has no DPoP proof"), true))?;
                let expected = Expected {
                    method: target.method,
                    uri: target.uri,
                    headers,
                    access_token: Some(token),
                };
                let verified = dpop
                    .rules
                    .verify(proof, &expected, self.clock.now())
                    .map_err(|e| refusal(e, true))?;
                if verified.jkt != cnf.jkt {
                    return Err(refusal(
                        ProofError::Invalid("the DPoP proof is not by the token's key"),
                        true,
                    ));
                }
                Ok((claims, Some(verified)))
            }
        }
    }
}
