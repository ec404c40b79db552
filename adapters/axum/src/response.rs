//! [`TokenResponse`] and [`ErrorResponse`]: the core's responses as axum responses.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use tower_refresh_auth::{AuthError, AuthRejection, RefreshAuth, TokenPair};

/// The answer to a successful login: the pair as JSON (`accessToken`, `refreshToken`,
/// `tokenType`, `expiresIn`) with `Cache-Control: no-store`, or in cookie mode the refresh
/// token in `Set-Cookie` instead of the body — exactly what
/// [`RefreshAuth::token_response`] builds.
///
/// ```
/// use axum::extract::State;
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
/// use tower_refresh_auth_axum::{ErrorResponse, TokenResponse};
///
/// async fn login(State(auth): State<RefreshAuth>) -> Result<TokenResponse, ErrorResponse> {
///     let pair = auth.issue("user1", NoClaims {}).await?;
///     Ok(TokenResponse::new(&auth, &pair))
/// }
/// ```
#[derive(Debug)]
#[must_use = "a TokenResponse does nothing until it is returned from a handler"]
pub struct TokenResponse(Response);

impl TokenResponse {
    /// The response for `pair`, shaped by `auth`'s configuration.
    pub fn new<C>(auth: &RefreshAuth<C>, pair: &TokenPair) -> Self {
        Self(auth.token_response(pair).map(Body::from))
    }
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        self.0
    }
}

/// A refusal or a failure of the core, rendered as docs/protocol.md prescribes: status,
/// `WWW-Authenticate` challenge where one is due, `Cache-Control: no-store`, `Retry-After`
/// on a store failure, and the JSON body `{"error": …, "error_description": …}`.
///
/// Made with `?` from an [`AuthError`] (rendered with the default realm, see
/// [`AuthError::into_response`]) or from an [`AuthRejection`] (rendered with the realm of
/// the [`RefreshAuth`] that made it, see [`RefreshAuth::rejection`]).
#[derive(Debug)]
pub struct ErrorResponse(Response);

impl ErrorResponse {
    /// The answer to a refused login — an unknown user or a wrong password, one answer for
    /// both: `401 {"error": "invalid_credentials", "error_description": …}` with
    /// `Cache-Control: no-store` and no `WWW-Authenticate` challenge, in `auth`'s error format
    /// (its [`error_body`](tower_refresh_auth::RefreshAuthBuilder::error_body), when the
    /// application set one).
    ///
    /// Not [`AuthError::InvalidGrant`]: that is the refresh endpoint's `400 invalid_grant`.
    ///
    /// ```
    /// use axum::extract::State;
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    /// use tower_refresh_auth_axum::{ErrorResponse, TokenResponse};
    ///
    /// async fn login(State(auth): State<RefreshAuth>, password: String) -> Result<TokenResponse, ErrorResponse> {
    ///     if password != "password1" {
    ///         return Err(ErrorResponse::invalid_credentials(&auth));
    ///     }
    ///     let pair = auth.issue("user1", NoClaims {}).await?;
    ///     Ok(TokenResponse::new(&auth, &pair))
    /// }
    /// ```
    pub fn invalid_credentials<C>(auth: &RefreshAuth<C>) -> Self {
        Self::from(auth.rejection(AuthError::InvalidCredentials))
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> http::StatusCode {
        self.0.status()
    }
}

impl From<AuthError> for ErrorResponse {
    fn from(err: AuthError) -> Self {
        Self(err.into_response().map(Body::from))
    }
}

impl From<AuthRejection> for ErrorResponse {
    fn from(rejection: AuthRejection) -> Self {
        Self(rejection.into_response().map(Body::from))
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axum::body::to_bytes;
    use http::{StatusCode, header};
    use tower_refresh_auth::{NoClaims, transport::RefreshTransport};

    use super::*;

    fn auth(transport: RefreshTransport) -> RefreshAuth {
        RefreshAuth::<NoClaims>::builder()
            .hs256(b"an example secret of at least 32 bytes".to_vec())
            .transport(transport)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_token_response_is_the_cores_response() {
        let auth = auth(RefreshTransport::Body);
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let res = TokenResponse::new(&auth, &pair).into_response();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["accessToken"], pair.access_token.as_str());
        assert_eq!(json["refreshToken"], pair.refresh_token.as_str());
        assert_eq!(json["tokenType"], "Bearer");
    }

    #[tokio::test]
    async fn in_cookie_mode_the_refresh_token_is_a_cookie() {
        let auth = auth(RefreshTransport::cookie());
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let res = TokenResponse::new(&auth, &pair).into_response();
        let cookies: Vec<_> = res.headers().get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies.len(), 2);
        let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(json.get("refreshToken").is_none());
    }

    #[tokio::test]
    async fn a_refused_login_is_401_invalid_credentials_in_the_applications_format() {
        let res = ErrorResponse::invalid_credentials(&auth(RefreshTransport::Body)).into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));
        let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "invalid_credentials");
        assert_eq!(json["error_description"], "unknown user or wrong password");

        // The application's own error format applies.
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(b"an example secret of at least 32 bytes".to_vec())
            .error_body(|err: &AuthError| {
                tower_refresh_auth::error::ErrorBody::json(
                    &serde_json::json!({ "code": err.error_code(), "status": err.status().as_u16() }),
                )
            })
            .build()
            .unwrap();
        let res = ErrorResponse::invalid_credentials(&auth).into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        assert_eq!(
            body.as_ref(),
            br#"{"code":"invalid_credentials","status":401}"#
        );
    }

    #[tokio::test]
    async fn errors_keep_status_headers_and_body() {
        let res = ErrorResponse::from(AuthError::InvalidGrant).into_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "invalid_grant");

        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(b"an example secret of at least 32 bytes".to_vec())
            .realm("dashboard")
            .build()
            .unwrap();
        let res = ErrorResponse::from(auth.rejection(AuthError::MissingCredentials));
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.into_response().headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"dashboard\""
        );
    }
}
