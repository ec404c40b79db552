//! [`TokenResponse`] and [`ErrorResponse`]: the core's responses as poem responses.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use poem::IntoResponse;
use poem::error::ResponseError;
use tower_refresh_auth::{AuthError, AuthRejection, RefreshAuth, TokenPair};

/// Turns one of the core's responses into a poem response, status, headers and bytes
/// untouched — and with a `Content-Length`, as the tower layer's responses have.
pub(crate) fn from_core(res: http::Response<Bytes>) -> poem::Response {
    let (parts, body) = res.into_parts();
    let mut res = poem::Response::builder()
        .status(parts.status)
        .body(poem::Body::from_bytes(body));
    *res.headers_mut() = parts.headers;
    res
}

/// The answer to a successful login: the pair as JSON (`accessToken`, `refreshToken`,
/// `tokenType`, `expiresIn`) with `Cache-Control: no-store`, or in cookie mode the refresh
/// token in `Set-Cookie` instead of the body — exactly what
/// [`RefreshAuth::token_response`] builds.
///
/// ```
/// use poem::{handler, web::Data};
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
/// use tower_refresh_auth_poem::{ErrorResponse, TokenResponse};
///
/// #[handler]
/// async fn login(auth: Data<&RefreshAuth>) -> Result<TokenResponse, ErrorResponse> {
///     let pair = auth.issue("user1", NoClaims {}).await?;
///     Ok(TokenResponse::new(&auth, &pair))
/// }
/// ```
#[derive(Debug)]
#[must_use = "a TokenResponse does nothing until it is returned from a handler"]
pub struct TokenResponse(http::Response<Bytes>);

impl TokenResponse {
    /// The response for `pair`, shaped by `auth`'s configuration.
    pub fn new<C>(auth: &RefreshAuth<C>, pair: &TokenPair) -> Self {
        Self(auth.token_response(pair))
    }
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> poem::Response {
        from_core(self.0)
    }
}

/// A refusal or a failure of the core, rendered as docs/protocol.md prescribes: status,
/// `WWW-Authenticate` challenge where one is due, `Cache-Control: no-store`, `Retry-After`
/// on a store failure, and the JSON body `{"error": …, "error_description": …}`.
///
/// A [`poem::error::ResponseError`], so it converts into a [`poem::Error`] and a handler can
/// return `Result<_, ErrorResponse>`. Made with `?` from an [`AuthError`] (rendered with the
/// default realm, see [`AuthError::into_response`]) or from an [`AuthRejection`] (rendered
/// with the realm of the [`RefreshAuth`] that made it, see [`RefreshAuth::rejection`]).
#[derive(Debug, Clone)]
pub struct ErrorResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    message: String,
}

impl ErrorResponse {
    fn new(message: String, res: http::Response<Bytes>) -> Self {
        let (parts, body) = res.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body,
            message,
        }
    }
}

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
    /// use poem::{handler, web::Data};
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    /// use tower_refresh_auth_poem::{ErrorResponse, TokenResponse};
    ///
    /// #[handler]
    /// async fn login(auth: Data<&RefreshAuth>, password: String) -> Result<TokenResponse, ErrorResponse> {
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
}

impl From<AuthError> for ErrorResponse {
    fn from(err: AuthError) -> Self {
        Self::new(err.to_string(), err.into_response())
    }
}

impl From<AuthRejection> for ErrorResponse {
    fn from(rejection: AuthRejection) -> Self {
        Self::new(rejection.to_string(), rejection.into_response())
    }
}

impl std::fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ErrorResponse {}

impl ResponseError for ErrorResponse {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> poem::Response {
        let mut res = http::Response::new(self.body.clone());
        *res.status_mut() = self.status;
        *res.headers_mut() = self.headers.clone();
        from_core(res)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use http::header;
    use tower_refresh_auth::{NoClaims, transport::RefreshTransport};

    use super::*;

    fn auth(transport: RefreshTransport) -> RefreshAuth {
        RefreshAuth::<NoClaims>::builder()
            .hs256(b"an example secret of at least 32 bytes".to_vec())
            .transport(transport)
            .build()
            .unwrap()
    }

    async fn json(res: poem::Response) -> serde_json::Value {
        serde_json::from_slice(&res.into_body().into_bytes().await.unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_token_response_is_the_cores_response() {
        let auth = auth(RefreshTransport::Body);
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let res = TokenResponse::new(&auth, &pair).into_response();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        let json = json(res).await;
        assert_eq!(json["accessToken"], pair.access_token.as_str());
        assert_eq!(json["refreshToken"], pair.refresh_token.as_str());
    }

    #[test]
    fn the_bytes_and_their_exact_length_survive() {
        use http_body::Body as _;

        let core = AuthError::InvalidGrant.into_response();
        let len = core.body().len() as u64;
        assert!(len > 0);
        // What poem hands to hyper: an exact size, so a `Content-Length`, not chunks.
        let res: http::Response<http_body_util::combinators::BoxBody<Bytes, std::io::Error>> =
            from_core(core).into();
        assert_eq!(res.body().size_hint().exact(), Some(len));
    }

    #[tokio::test]
    async fn in_cookie_mode_the_refresh_token_is_a_cookie() {
        let auth = auth(RefreshTransport::cookie());
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let res = TokenResponse::new(&auth, &pair).into_response();
        assert_eq!(res.headers().get_all(header::SET_COOKIE).iter().count(), 2);
        assert!(json(res).await.get("refreshToken").is_none());
    }

    #[tokio::test]
    async fn a_refused_login_is_401_invalid_credentials_in_the_applications_format() {
        let err = ErrorResponse::invalid_credentials(&auth(RefreshTransport::Body));
        // Through poem's own error type, as a handler's `Err` travels.
        let res = poem::Error::from(err).into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));
        let json = json(res).await;
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
        let res = ErrorResponse::invalid_credentials(&auth).as_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body = res.into_body().into_bytes().await.unwrap();
        assert_eq!(
            body.as_ref(),
            br#"{"code":"invalid_credentials","status":401}"#
        );
    }

    #[tokio::test]
    async fn errors_keep_status_headers_and_body_every_time() {
        let err = ErrorResponse::from(AuthError::InvalidGrant);
        assert_eq!(ResponseError::status(&err), StatusCode::BAD_REQUEST);
        for _ in 0..2 {
            let res = err.as_response();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
            assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
            assert_eq!(json(res).await["error"], "invalid_grant");
        }
        // Through poem's own error type, as a handler's `Err` travels.
        let res = poem::Error::from(err).into_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json(res).await["error"], "invalid_grant");
    }
}
