//! [`LoginMetadata`]: what a login handler records about the device, from the request;
//! [`DpopLogin`]: the same, with the request's DPoP proof verified, to bind the session.

use std::convert::Infallible;
use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use tower_refresh_auth::session::{Login, SessionMetadata};
use tower_refresh_auth::{NoClaims, RefreshAuth};

use crate::ErrorResponse;

/// The [`SessionMetadata`] of the request — its `User-Agent`, bounded — for
/// [`RefreshAuth::issue_with`](tower_refresh_auth::RefreshAuth::issue_with), so the session
/// list (`GET /sessions`) can say which device a session is. Never fails.
///
/// ```
/// use axum::extract::State;
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
/// use tower_refresh_auth_axum::{ErrorResponse, LoginMetadata, TokenResponse};
///
/// async fn login(
///     State(auth): State<RefreshAuth>,
///     LoginMetadata(device): LoginMetadata,
/// ) -> Result<TokenResponse, ErrorResponse> {
///     // … check the user's credentials first …
///     let pair = auth.issue_with("user1", NoClaims {}, device).await?;
///     Ok(TokenResponse::new(&auth, &pair))
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct LoginMetadata(pub SessionMetadata);

impl<S: Send + Sync> FromRequestParts<S> for LoginMetadata {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(SessionMetadata::from_headers(&parts.headers)))
    }
}

/// The [`Login`] of a request: [`LoginMetadata`] plus the login request's DPoP proof, verified
/// (not yet spent) by [`RefreshAuth::login_metadata`]: [`issue_with`](RefreshAuth::issue_with)
/// then binds the new session to the client's key (`docs/protocol.md` §10). Needs the
/// `RefreshAuth<C>` in the router's state ([`FromRef`]).
///
/// Rejects an invalid proof — or none, in required mode — with `400 invalid_dpop_proof`;
/// with DPoP off it holds what [`LoginMetadata`] does. The proof is spent by
/// [`issue_with`](RefreshAuth::issue_with), once the handler has checked the credentials,
/// so a login with a wrong password takes no room in the store's replay memory; a replayed
/// login proof is refused there (`400 invalid_dpop_proof`, `docs/protocol.md` §10).
///
/// ```
/// use axum::extract::State;
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
/// use tower_refresh_auth_axum::{DpopLogin, ErrorResponse, TokenResponse};
///
/// async fn login(
///     State(auth): State<RefreshAuth>,
///     DpopLogin(device, ..): DpopLogin,
/// ) -> Result<TokenResponse, ErrorResponse> {
///     // … check the user's credentials first …
///     let pair = auth.issue_with("user1", NoClaims {}, device).await?;
///     Ok(TokenResponse::new(&auth, &pair)) // `tokenType: "DPoP"` for a bound session
/// }
/// # let _: axum::Router<RefreshAuth> = axum::Router::new().route("/login", axum::routing::post(login));
/// ```
#[derive(Debug, Clone)]
pub struct DpopLogin<C = NoClaims>(pub Login, pub PhantomData<fn() -> C>);

impl<S, C> FromRequestParts<S> for DpopLogin<C>
where
    S: Send + Sync,
    RefreshAuth<C>: FromRef<S>,
{
    type Rejection = ErrorResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = RefreshAuth::<C>::from_ref(state);
        let metadata = auth
            .login_metadata(&parts.method, &parts.uri, &parts.headers)
            .await
            .map_err(|err| ErrorResponse::from(auth.rejection(err)))?;
        Ok(Self(metadata, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn the_user_agent_is_read_and_bounded() {
        let long = "x".repeat(1000);
        let (mut parts, ()) = http::Request::builder()
            .header(http::header::USER_AGENT, &long)
            .body(())
            .unwrap()
            .into_parts();
        let LoginMetadata(metadata) = LoginMetadata::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        let recorded = metadata.user_agent().unwrap();
        assert!(recorded.len() <= SessionMetadata::USER_AGENT_MAX);
        assert!(long.starts_with(recorded));

        let (mut parts, ()) = http::Request::new(()).into_parts();
        let LoginMetadata(metadata) = LoginMetadata::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        assert_eq!(metadata.user_agent(), None);
    }
}
