//! The DPoP policy of `docs/protocol.md` §10, a component of its own ([`DpopPolicy`]): a
//! login's and a refresh's proof (RFC 9449 §5), checked first and spent in the store only once
//! the request has shown it is worth remembering; the scheme, binding and proof of a
//! protected request (§7). What a proof *is* and how it is checked lives beside it, in
//! [`proof`](super::proof).

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, Uri};

use crate::clock::Clock;
use crate::clock::Throttled;
use crate::credentials::{self, Presented, Scheme};
use crate::dpop::{DpopMode, DpopSettings, Expected, ProofError, ProofRules, Verified};
use crate::error::{AuthError, DpopCode, DpopError, invalid_token};
use crate::session::DpopProof;
use crate::store::{DpopStore, RefreshStore, ReplayKey};
use crate::telemetry::{StoreOp, timed};
use crate::token::Claims;
use crate::token::access::VerifyAccess;

/// The log line of a refused proof, process-wide.
static REFUSED_LOG: Throttled = Throttled::new(Duration::from_secs(10));

/// `err` as a refusal of a login or refresh (`400`), or of a protected request (`401`).
fn refusal(err: ProofError, resource: bool) -> AuthError {
    let (code, description) = match err {
        ProofError::Invalid(why) => (DpopCode::InvalidProof, why),
        ProofError::UseNonce => (
            DpopCode::UseNonce,
            "the DPoP proof must carry the server's nonce",
        ),
    };
    if resource {
        DpopError::resource(code, description)
    } else {
        DpopError::grant(code, description)
    }
}

/// The DPoP policy of one built layer: its settings (none with DPoP off), and the store and
/// clock it spends proofs with.
#[derive(Debug)]
pub(crate) struct DpopPolicy {
    settings: Option<DpopSettings>,
    store: Arc<dyn RefreshStore>,
    clock: Arc<dyn Clock>,
}

impl DpopPolicy {
    pub(crate) fn new(
        settings: Option<DpopSettings>,
        store: Arc<dyn RefreshStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            settings,
            store,
            clock,
        }
    }

    /// The settings; `None` with DPoP off.
    pub(crate) fn settings(&self) -> Option<&DpopSettings> {
        self.settings.as_ref()
    }

    /// Whether DPoP is on (optional or required).
    pub(crate) fn is_on(&self) -> bool {
        self.settings.is_some()
    }

    /// The mode: [`DpopMode::Off`] without settings.
    pub(crate) fn mode(&self) -> DpopMode {
        self.settings.as_ref().map_or(DpopMode::Off, |d| d.mode)
    }

    /// The store's [`DpopStore`]; the builder refuses DPoP with a store that lacks it.
    pub(crate) fn store(&self) -> Result<&dyn DpopStore, AuthError> {
        self.store
            .dpop()
            .ok_or(AuthError::MissingCapability("DpopStore"))
    }

    /// The verified proof of a login or refresh request, its `jti` **not yet spent**; `None`
    /// when DPoP is off, or optional and the request has no proof.
    ///
    /// The proof is spent ([`spend_proof`](Self::spend_proof)) only once the request has
    /// shown it is worth remembering — a refresh token whose MAC verified, a login the
    /// application accepted — so a request from nobody (a key made for the purpose, no
    /// token, no password) costs a signature check and never a slot of the replay memory.
    ///
    /// # Errors
    ///
    /// `400 invalid_dpop_proof` for an invalid proof, or for none in required mode;
    /// `use_dpop_nonce`.
    pub(crate) async fn grant_proof(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Option<Verified>, AuthError> {
        let Some(dpop) = &self.settings else {
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
        Ok(Some(verified))
    }

    /// Remembers the proof's `jti` in the store; a proof seen before is refused (so is one
    /// past its key's share of the memory, `docs/protocol.md` §10).
    ///
    /// It is remembered past the last second this instance accepts it by the skew the
    /// deployment tolerates between instances (the acceptance window again): an instance
    /// whose clock lags this one's by up to the window still accepts the proof's `iat`, and
    /// must still find it spent.
    pub(crate) async fn spend_proof(
        &self,
        proof: &Verified,
        resource: bool,
    ) -> Result<(), AuthError> {
        let skew = self
            .settings
            .as_ref()
            .map_or(Duration::ZERO, |d| d.rules.window);
        spend_proof(self.store()?, skew, &*self.clock, proof, resource).await
    }

    /// In required mode, a session must be bound: refuses a grant without a proof.
    pub(crate) fn require_proof(&self, proof: Option<&str>) -> Result<(), AuthError> {
        match (&self.settings, proof) {
            (Some(dpop), None) if dpop.mode == DpopMode::Required => Err(DpopError::grant(
                DpopCode::InvalidProof,
                "a DPoP proof is required",
            )),
            _ => Ok(()),
        }
    }
}

/// The verified proof a [`DpopProof`] was made from.
impl From<&DpopProof> for Verified {
    fn from(proof: &DpopProof) -> Self {
        let (partition, replay, expires_at) = proof.replay_parts();
        Self {
            jkt: proof.thumbprint().to_owned(),
            replay: ReplayKey::from_parts(partition, replay),
            expires_at,
        }
    }
}

/// A verified proof as the application holds it, for a login or a refresh.
impl From<Verified> for DpopProof {
    fn from(v: Verified) -> Self {
        DpopProof::new(
            v.jkt,
            *v.replay.partition(),
            *v.replay.as_bytes(),
            v.expires_at,
        )
    }
}

/// The request's method and URL, for the proof's `htm` and `htu`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
}

impl DpopPolicy {
    /// Reads the request's access token (from the header, or the cookie named
    /// `access_cookie`), verifies it with `tokens`, and with DPoP on, the scheme and the proof:
    /// see [`verify_presented`].
    pub(crate) fn verify_presented<C>(
        &self,
        tokens: &impl VerifyAccess<C>,
        access_cookie: Option<&str>,
        target: Target<'_>,
        headers: &HeaderMap,
    ) -> Result<(Arc<Claims<C>>, Option<Verified>), AuthError> {
        let presentation = Presentation {
            access_cookie,
            dpop: self.settings.as_ref(),
            clock: &*self.clock,
        };
        verify_presented(&presentation, tokens, target, headers)
    }
}

/// How a layer reads tokens from requests: the optional access-token cookie, and DPoP.
/// Shared by the issuing layer and a resource server ([`crate::resource`]).
pub(crate) struct Presentation<'a> {
    pub(crate) access_cookie: Option<&'a str>,
    pub(crate) dpop: Option<&'a DpopSettings>,
    pub(crate) clock: &'a dyn Clock,
}

/// Reads the request's access token, verifies it with `tokens`, and with DPoP on, the
/// scheme and the proof: a bound token needs `Authorization: DPoP` and a proof by its key
/// (returned, its `jti` still to be spent), an unbound one needs `Bearer`.
pub(crate) fn verify_presented<C>(
    how: &Presentation<'_>,
    tokens: &impl VerifyAccess<C>,
    target: Target<'_>,
    headers: &HeaderMap,
) -> Result<(Arc<Claims<C>>, Option<Verified>), AuthError> {
    let cookie = how.access_cookie;
    let now = how.clock.now();
    let Some(dpop) = how.dpop else {
        let claims = tokens.verify_access(credentials::access_token(headers, cookie)?, now)?;
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
            let claims = tokens.verify_access(Presented::Text(token), now)?;
            if claims.cnf.is_some() {
                // RFC 9449 §7.2: a bound token is no bearer token.
                return Err(invalid_token(
                    "the token is DPoP-bound: send it as `Authorization: DPoP` with a proof",
                ));
            }
            Ok((claims, None))
        }
        (Scheme::Dpop, token) => {
            let verified = tokens.verify_access(Presented::Text(token), now);
            let claims = verified.map_err(|err| match err {
                AuthError::InvalidToken(why) => DpopError::resource(DpopCode::InvalidToken, why),
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
                .ok_or_else(|| {
                    refusal(ProofError::Invalid("the request has no DPoP proof"), true)
                })?;
            let expected = Expected {
                method: target.method,
                uri: target.uri,
                headers,
                access_token: Some(token),
            };
            let verified = dpop
                .rules
                .verify(proof, &expected, now)
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

/// Remembers the proof's `jti` in `store`, for its acceptance window plus `skew`; a proof seen
/// before is refused (so is one past its key's share of the memory, `docs/protocol.md` §10).
/// Shared by the issuing layer and a resource server ([`crate::resource`]).
pub(crate) async fn spend_proof(
    store: &dyn DpopStore,
    skew: Duration,
    clock: &dyn Clock,
    proof: &Verified,
    resource: bool,
) -> Result<(), AuthError> {
    let now = clock.now();
    let fresh = timed(
        StoreOp::RememberProof,
        store.remember_proof(&proof.replay, proof.expires_at + skew, now),
    )
    .await?;
    if fresh {
        Ok(())
    } else {
        // One line per interval however many are refused: a flood of replays (or of a
        // key over its share) must not become a flood of log lines.
        if let Some(suppressed) = REFUSED_LOG.allow(crate::clock::to_millis(now)) {
            tracing::warn!(
                suppressed,
                "DPoP proof replayed (or its key over its share of the replay memory); \
                 refused (at most one such line per 10 s)"
            );
        }
        Err(refusal(
            ProofError::Invalid("the DPoP proof has been used before"),
            resource,
        ))
    }
}
