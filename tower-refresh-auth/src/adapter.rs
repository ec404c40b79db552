//! For adapter authors: what a request is, decided once for every framework — one of the
//! layer's own [`Endpoint`]s, a verified token (with or without a [`StoreCheck`] still to
//! do), an anonymous pass, or a refusal.
//!
//! An application never needs this module: it installs the layer (or a framework adapter)
//! and reads [`Claims`] in its handlers. A middleware for a framework that is not tower-based
//! is a short `match` over [`RefreshAuth::decide`](crate::RefreshAuth::decide), as the tower
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

use http::{Extensions, HeaderMap, Method, Uri};
use serde::de::DeserializeOwned;

use crate::dpop::Verified;
pub use crate::guard::Endpoint;
use crate::rejection::AuthRejection;
use crate::revocation::{self, Ask};
use crate::shared::Shared;
use crate::telemetry::{self, Verification};
use crate::token::Claims;
use crate::verification::{counted, counted_in_store};

/// What [`RefreshAuth::decide`](crate::RefreshAuth::decide) made of a request.
#[derive(Debug)]
pub enum Decision<C> {
    /// One of the layer's own routes: answer it with
    /// [`RefreshAuth::answer`](crate::RefreshAuth::answer); the inner service is not called.
    Endpoint(Endpoint),
    /// The request goes on or is refused, as the verdict says.
    Verdict(Verdict<C>),
    /// The token verified, and the store must still be asked (session checking, a DPoP
    /// proof to spend): [`StoreCheck::run`] gives the verdict.
    StoreCheck(StoreCheck<C>),
}

/// Whether a request goes on, and with what in its extensions.
#[derive(Debug)]
pub enum Verdict<C> {
    /// A verified token: the request goes on with its [`Claims`] in the extensions, as an
    /// `Arc<Claims<C>>`. Shared with the verified-token cache, so a cache hit copies nothing.
    Authenticated(Arc<Claims<C>>),
    /// No usable token on a path that does not need one (a public path, or optional mode):
    /// the request goes on with the [`AuthRejection`] in the extensions instead of claims.
    Anonymous(AuthRejection),
    /// Refused: answer with the rejection's response.
    Refused(AuthRejection),
}

impl<C: Clone + Send + Sync + 'static> Verdict<C> {
    /// Puts what the handler should see into `extensions` — the claims (an
    /// `Arc<Claims<C>>`), or the rejection of an anonymous pass — or, for a refusal, hands
    /// the rejection back to be answered with.
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
/// by [`RefreshAuth::decide`](crate::RefreshAuth::decide); owns what it needs, so its future
/// can outlive the request's borrow.
pub struct StoreCheck<C> {
    claims: Arc<Claims<C>>,
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
        let checked = self
            .shared
            .check_in_store(
                self.claims.sid.as_ref(),
                self.proof.as_ref(),
                self.check_session,
            )
            .await;
        match counted_in_store(checked) {
            Ok(()) => Verdict::Authenticated(self.claims),
            Err(err) if self.public => Verdict::Anonymous(self.shared.rejection(err)),
            Err(err) => Verdict::Refused(self.shared.rejection(err)),
        }
    }
}

impl Shared {
    /// What a request is: see [`RefreshAuth::decide`](crate::RefreshAuth::decide).
    pub(crate) fn decide<C>(
        self: &Arc<Self>,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Decision<C>
    where
        C: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let path = uri.path();
        if let Some(route) = self.http.guard.route(path) {
            return Decision::Endpoint(route);
        }
        match counted(self.verify_request(method, uri, headers)) {
            Ok((claims, proof)) => {
                let check_session = match self.ask(&claims) {
                    Ask::Nothing => false,
                    Ask::Store => true,
                    Ask::Refuse => {
                        telemetry::verified(Verification::Revoked);
                        let refused = self.rejection(revocation::revoked());
                        return Decision::Verdict(if self.http.guard.is_public(path) {
                            Verdict::Anonymous(refused)
                        } else {
                            Verdict::Refused(refused)
                        });
                    }
                };
                if !check_session && proof.is_none() {
                    telemetry::verified(Verification::Ok);
                    return Decision::Verdict(Verdict::Authenticated(claims));
                }
                Decision::StoreCheck(StoreCheck {
                    claims,
                    proof,
                    check_session,
                    public: self.http.guard.is_public(path),
                    shared: Arc::clone(self),
                })
            }
            Err(err) if self.http.guard.is_public(path) => {
                Decision::Verdict(Verdict::Anonymous(self.rejection(err)))
            }
            Err(err) => Decision::Verdict(Verdict::Refused(self.rejection(err))),
        }
    }
}
