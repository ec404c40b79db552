//! For adapter authors: what a request is, decided once for every framework — one of the
//! layer's own [`Endpoint`]s, a verified token (with or without a [`StoreCheck`] still to
//! do), an anonymous pass, or a refusal.
//!
//! An application never needs this module: it installs the layer (or a framework adapter)
//! and reads [`Claims`] in its handlers. A middleware for a framework that is
//! not tower-based is a short `match` over [`RefreshAuth::decide`], as the tower
//! [`RefreshAuthService`](crate::RefreshAuthService) and the poem adapter are:
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use tower_refresh_auth::adapter::Decision;
//! use tower_refresh_auth::{NoClaims, RefreshAuth};
//!
//! /// What a middleware for any framework does with a request.
//! async fn handle(
//!     auth: &RefreshAuth<NoClaims>,
//!     mut req: Request<String>,
//!     next: impl AsyncFnOnce(Request<String>) -> Response<Bytes>,
//! ) -> Response<Bytes> {
//!     let verdict = match auth.decide(req.method(), req.uri(), req.headers()) {
//!         Decision::Endpoint(route) => return auth.answer(route, req).await,
//!         Decision::Verdict(verdict) => verdict,
//!         Decision::StoreCheck(check) => check.run().await,
//!     };
//!     match verdict.admit(req.extensions_mut()) {
//!         Ok(()) => next(req).await,
//!         Err(refused) => refused.response_to(req.headers()),
//!     }
//! }
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let auth = RefreshAuth::<NoClaims>::builder().hs256(b"an example secret of at least 32 bytes".to_vec()).build().unwrap();
//! # let res = handle(&auth, Request::new(String::new()), async |_| Response::new(Bytes::new())).await;
//! # assert_eq!(res.status(), 401);
//! # });
//! ```

use std::sync::Arc;

use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, Request, Response, Uri};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::authority::RefreshAuth;
use crate::dpop::Verified;
use crate::error::AuthError;
pub use crate::guard::Endpoint;
use crate::rejection::AuthRejection;
use crate::revocation::{self, Ask};
use crate::routes;
use crate::shared::Shared;
use crate::telemetry::{self, Verification};
use crate::token::Claims;

/// What [`RefreshAuth::decide`] made of a request.
#[derive(Debug)]
pub enum Decision<C> {
    /// One of the layer's own routes: answer it with [`RefreshAuth::answer`]; the inner
    /// service is not called.
    Endpoint(Endpoint),
    /// The request goes on or is refused, as the verdict says.
    Verdict(Verdict<C>),
    /// The token verified, and the store must still be asked (session checking, a DPoP
    /// proof to spend): [`StoreCheck::run`] gives the verdict.
    StoreCheck(StoreCheck<C>),
}

/// Whether a request goes on, and with what in its extensions.
// The claims are the common case and move on into the extensions at once: boxing them would
// cost an allocation per request on the hot path (STYLE.md §8) to shrink a value that never
// lives in a collection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Verdict<C> {
    /// A verified token: the request goes on with its [`Claims`] in the extensions.
    Authenticated(Claims<C>),
    /// No usable token on a path that does not need one (a public path, or optional mode):
    /// the request goes on with the [`AuthRejection`] in the extensions instead of claims.
    Anonymous(AuthRejection),
    /// Refused: answer with the rejection's response.
    Refused(AuthRejection),
}

impl<C: Clone + Send + Sync + 'static> Verdict<C> {
    /// Puts what the handler should see into `extensions` — the claims, or the rejection of
    /// an anonymous pass — or, for a refusal, hands the rejection back to be answered with.
    ///
    /// # Errors
    ///
    /// The rejection of a [`Verdict::Refused`].
    pub fn admit(self, extensions: &mut Extensions) -> Result<(), AuthRejection> {
        match self {
            Self::Authenticated(claims) => {
                extensions.insert(claims);
                Ok(())
            }
            Self::Anonymous(rejection) => {
                extensions.insert(rejection);
                Ok(())
            }
            Self::Refused(rejection) => Err(rejection),
        }
    }
}

/// A verified token for which the store must still be asked: whether its session is live
/// (with [session checking](crate::RefreshAuthBuilder::check_sessions) on), and whether its
/// DPoP proof is fresh (a `DPoP` request, [`dpop`](crate::RefreshAuthBuilder::dpop)). Made
/// by [`RefreshAuth::decide`]; owns what it needs, so its future can outlive the request's
/// borrow.
pub struct StoreCheck<C> {
    claims: Claims<C>,
    proof: Option<Verified>,
    /// Whether the token's session must be read from the store.
    check_session: bool,
    public: bool,
    shared: Arc<Shared>,
}

impl<C> std::fmt::Debug for StoreCheck<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCheck")
            .field("session", &self.claims.sid)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl<C> StoreCheck<C> {
    /// Asks the store: spends the DPoP proof's `jti`
    /// ([`remember_proof`](crate::store::DpopStore::remember_proof)), then, with session
    /// checking on, whether the token's session is still live
    /// ([`load`](crate::store::RefreshStore::load)).
    pub async fn run(self) -> Verdict<C> {
        let checked = match &self.proof {
            Some(proof) => self.shared.spend_proof(proof, true).await,
            None => Ok(()),
        };
        let checked = match checked {
            Ok(()) if self.check_session => self.shared.check_session(&self.claims.sid).await,
            other => other,
        };
        match &checked {
            Ok(()) => telemetry::verified(Verification::Ok),
            Err(AuthError::InvalidToken(_)) => telemetry::verified(Verification::Revoked),
            Err(AuthError::Dpop(_)) => telemetry::verified(Verification::Invalid),
            // A store that could not answer says nothing about the token.
            Err(_) => {}
        }
        match checked {
            Ok(()) => Verdict::Authenticated(self.claims),
            Err(err) if self.public => Verdict::Anonymous(self.shared.rejection(err)),
            Err(err) => Verdict::Refused(self.shared.rejection(err)),
        }
    }
}

impl<C> RefreshAuth<C>
where
    C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Decides what a request (its method, URI and headers) is. Synchronous and without a
    /// store call: a session check or a DPoP replay check, when one is needed, is left to
    /// [`StoreCheck::run`].
    pub fn decide(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Decision<C> {
        let shared = &self.shared;
        let path = uri.path();
        if let Some(route) = shared.guard.route(path) {
            return Decision::Endpoint(route);
        }
        let verified = self
            .verify_request(method, uri, headers)
            .map(|(claims, proof)| {
                let ask = (shared.check_sessions).ask(&claims.sid, &claims.sub, claims.iat);
                (claims, proof, ask)
            });
        match verified {
            Ok((_, _, Ask::Refuse)) => {
                telemetry::verified(Verification::Revoked);
                let refused = shared.rejection(revocation::revoked());
                if shared.guard.is_public(path) {
                    Decision::Verdict(Verdict::Anonymous(refused))
                } else {
                    Decision::Verdict(Verdict::Refused(refused))
                }
            }
            Ok((claims, proof, ask)) if matches!(ask, Ask::Store) || proof.is_some() => {
                Decision::StoreCheck(StoreCheck {
                    claims,
                    proof,
                    check_session: matches!(ask, Ask::Store),
                    public: shared.guard.is_public(path),
                    shared: Arc::clone(shared),
                })
            }
            Ok((claims, _, _)) => {
                telemetry::verified(Verification::Ok);
                Decision::Verdict(Verdict::Authenticated(claims))
            }
            Err(err) => {
                telemetry::verified(Verification::of(&err));
                if shared.guard.is_public(path) {
                    Decision::Verdict(Verdict::Anonymous(shared.rejection(err)))
                } else {
                    Decision::Verdict(Verdict::Refused(shared.rejection(err)))
                }
            }
        }
    }
}

impl<C> RefreshAuth<C> {
    /// Answers a request for one of the layer's routes exactly as the layer does (every error
    /// rendered as its response). For adapters of frameworks that are not tower-based.
    pub async fn answer<B>(&self, route: Endpoint, req: Request<B>) -> Response<Bytes>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        routes::answer(&self.shared, route, req).await
    }
}
