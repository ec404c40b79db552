//! The one path a request's access token is verified by, wherever it is verified: a guarded
//! path ([`RefreshAuth::decide`](crate::RefreshAuth::decide) and
//! [`StoreCheck::run`](crate::adapter::StoreCheck::run)),
//! [`RefreshAuth::authenticate`](crate::RefreshAuth::authenticate), and the sessions routes.
//!
//! In two steps, because the first is the hot path and makes no store call: the token
//! (through the verified-token cache) and, with DPoP on, its scheme and proof; then, when
//! needed, the store (the proof's `jti` spent, the session still live). Each verification is
//! counted once (`refresh_auth_verifications_total`), by [`counted`] and [`counted_in_store`].

use std::sync::Arc;

use http::{HeaderMap, Method, Uri};
use serde::de::DeserializeOwned;

use crate::dpop::{Target, Verified};
use crate::error::AuthError;
use crate::revocation::{self, Ask};
use crate::session::SessionId;
use crate::shared::Shared;
use crate::telemetry::{self, Verification};
use crate::token::Claims;
use crate::token::no_session;

impl Shared {
    /// Reads and verifies the request's token (and DPoP proof), without a store call: the
    /// hot path. A proof's `jti` is left for [`check_in_store`](Self::check_in_store) to
    /// spend. Not counted: see [`counted`].
    pub(crate) fn verify_request<C>(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<(Arc<Claims<C>>, Option<Verified>), AuthError>
    where
        C: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        self.dpop.verify_presented(
            &*self.access,
            self.http.access_cookie.as_deref(),
            Target { method, uri },
            headers,
        )
    }

    /// What the store must still say of a verified token: its DPoP proof spent, and with
    /// `check_session`, its session `sid` live (a token without one, which only another
    /// issuer's can be, is refused then). Not counted: see [`counted_in_store`].
    pub(crate) async fn check_in_store(
        &self,
        sid: Option<&SessionId>,
        proof: Option<&Verified>,
        check_session: bool,
    ) -> Result<(), AuthError> {
        if let Some(proof) = proof {
            self.dpop.spend_proof(proof, true).await?;
        }
        if check_session {
            self.sessions
                .check_session(sid.ok_or_else(no_session)?)
                .await?;
        }
        Ok(())
    }

    /// What the session checking asks of verified claims before any store call: nothing,
    /// the store, or a refusal (a revocation this instance holds from the feed).
    pub(crate) fn ask<C>(&self, claims: &Claims<C>) -> Ask {
        self.sessions
            .check_sessions
            .ask(claims.sid.as_ref(), &claims.sub, claims.iat)
    }

    /// Both steps, each counted: the request's verified claims. With `check_sessions`, the
    /// layer's session checking is applied (off, per request, or the revocation feed);
    /// without, only the DPoP proof is spent (the sessions routes read the session
    /// themselves).
    pub(crate) async fn authenticate<C>(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        check_sessions: bool,
    ) -> Result<Arc<Claims<C>>, AuthError>
    where
        C: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let verified = counted(self.verify_request(method, uri, headers));
        let (claims, proof) = verified?;
        let check_session = match check_sessions.then(|| self.ask(&claims)) {
            None | Some(Ask::Nothing) => false,
            Some(Ask::Store) => true,
            Some(Ask::Refuse) => {
                telemetry::verified(Verification::Revoked);
                return Err(revocation::revoked());
            }
        };
        if proof.is_none() && !check_session {
            telemetry::verified(Verification::Ok);
            return Ok(claims);
        }
        let checked = self
            .check_in_store(claims.sid.as_ref(), proof.as_ref(), check_session)
            .await;
        counted_in_store(checked).map(|()| claims)
    }
}

/// Counts the first step's failure; a success is counted once the store, if it is asked,
/// has answered (or at once, by the caller, when it is not).
pub(crate) fn counted<T>(verified: Result<T, AuthError>) -> Result<T, AuthError> {
    if let Err(err) = &verified {
        telemetry::verified(Verification::of(err));
    }
    verified
}

/// Counts the second step's outcome. A store that could not answer says nothing about the
/// token, and is not counted.
pub(crate) fn counted_in_store(checked: Result<(), AuthError>) -> Result<(), AuthError> {
    match &checked {
        Ok(()) => telemetry::verified(Verification::Ok),
        Err(AuthError::InvalidToken(_)) => telemetry::verified(Verification::Revoked),
        Err(AuthError::Dpop(_)) => telemetry::verified(Verification::Invalid),
        Err(_) => {}
    }
    checked
}
