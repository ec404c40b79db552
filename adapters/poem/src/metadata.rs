//! [`LoginMetadata`]: what a login handler records about the device, from the request.

use poem::{FromRequest, Request, RequestBody};
use tower_refresh_auth::session::SessionMetadata;

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
