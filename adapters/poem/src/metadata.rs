//! [`LoginMetadata`]: what a login handler records about the device, from the request;
//! [`DpopLogin`]: the same, with the request's DPoP proof verified, to bind the session.

use std::marker::PhantomData;

use poem::{FromRequest, Request, RequestBody};
use tower_refresh_auth::session::{Login, SessionMetadata};
use tower_refresh_auth::{NoClaims, RefreshAuth};

use crate::ErrorResponse;

/// The [`SessionMetadata`] of the request — its `User-Agent`, bounded — for
/// [`RefreshAuth::issue_with`](tower_refresh_auth::RefreshAuth::issue_with), so the session
/// list (`GET /sessions`) can say which device a session is. Never fails.
///
/// ```
/// use poem::{handler, web::Data};
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
/// use tower_refresh_auth_poem::{ErrorResponse, LoginMetadata, TokenResponse};
///
/// #[handler]
/// async fn login(
///     auth: Data<&RefreshAuth>,
///     LoginMetadata(device): LoginMetadata,
/// ) -> Result<TokenResponse, ErrorResponse> {
///     // … check the user's credentials first …
///     let pair = auth.issue_with("user1", NoClaims {}, device).await?;
///     Ok(TokenResponse::new(&auth, &pair))
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct LoginMetadata(pub SessionMetadata);

impl<'a> FromRequest<'a> for LoginMetadata {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(SessionMetadata::from_headers(req.headers())))
    }
}

/// The [`Login`] of a request: [`LoginMetadata`] plus the login request's DPoP proof, verified
/// (not yet spent) by [`RefreshAuth::login_metadata`]: [`issue_with`](RefreshAuth::issue_with)
/// then binds the new session to the client's key (`docs/protocol.md` §10). Reads the
/// `RefreshAuth<C>` from the endpoint's data (`.data(auth)`).
///
/// Rejects an invalid proof — or none, in required mode — with `400 invalid_dpop_proof`;
/// with DPoP off it holds what [`LoginMetadata`] does. The proof is spent by
/// [`issue_with`](RefreshAuth::issue_with), once the handler has checked the credentials,
/// so a login with a wrong password takes no room in the store's replay memory; a replayed
/// login proof is refused there (`400 invalid_dpop_proof`, `docs/protocol.md` §10).
///
/// ```
/// use poem::{handler, web::Data};
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
/// use tower_refresh_auth_poem::{DpopLogin, ErrorResponse, TokenResponse};
///
/// #[handler]
/// async fn login(
///     auth: Data<&RefreshAuth>,
///     DpopLogin(device, ..): DpopLogin,
/// ) -> Result<TokenResponse, ErrorResponse> {
///     // … check the user's credentials first …
///     let pair = auth.issue_with("user1", NoClaims {}, device).await?;
///     Ok(TokenResponse::new(&auth, &pair)) // `tokenType: "DPoP"` for a bound session
/// }
/// ```
#[derive(Debug, Clone)]
pub struct DpopLogin<C = NoClaims>(pub Login, pub PhantomData<fn() -> C>);

impl<'a, C: Send + Sync + 'static> FromRequest<'a> for DpopLogin<C> {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let Some(auth) = req.data::<RefreshAuth<C>>() else {
            return Err(poem::Error::from_string(
                "DpopLogin needs the RefreshAuth in the endpoint's data: add `.data(auth.clone())`",
                http::StatusCode::INTERNAL_SERVER_ERROR,
            ));
        };
        let metadata = auth
            .login_metadata(req.method(), req.uri(), req.headers())
            .await
            .map_err(|err| poem::Error::from(ErrorResponse::from(auth.rejection(err))))?;
        Ok(Self(metadata, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn the_user_agent_is_read() {
        let req = Request::builder()
            .header(http::header::USER_AGENT, "Firefox/150")
            .finish();
        let LoginMetadata(metadata) = LoginMetadata::from_request_without_body(&req)
            .await
            .unwrap();
        assert_eq!(metadata.user_agent(), Some("Firefox/150"));
    }
}
