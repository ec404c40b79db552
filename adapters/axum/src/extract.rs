//! [`AuthClaims`] and [`SharedClaims`]: the claims the layer verified, as extractors.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{StatusCode, header};
use tower_refresh_auth::{AuthError, AuthRejection, Claims, NoClaims};

/// The verified [`Claims`] of the request's access token.
///
/// Reads what the [`RefreshAuthLayer`](tower_refresh_auth::RefreshAuthLayer) — or, in a
/// service that only verifies tokens issued elsewhere, the
/// [`ResourceServerLayer`](tower_refresh_auth::resource::ResourceServerLayer) — put into the
/// request extensions, so the layer must run first (see
/// [`RouterExt::refresh_auth`](crate::RouterExt::refresh_auth)); `C` must be the claims type
/// of that layer's [`RefreshAuth<C>`](tower_refresh_auth::RefreshAuth).
///
/// On a guarded path the layer has already refused a request without a valid token, so the
/// extractor always succeeds there. On a public path, or with the layer in optional mode, the
/// layer lets the request through with the reason it could not authenticate it; this
/// extractor then refuses it with exactly the response the layer would have sent (`401` with a
/// `WWW-Authenticate` challenge, …). Take `Option<AuthClaims<C>>` instead to serve anonymous
/// requests: it is `None` when the request carries no token at all, and still refuses a token
/// that is present but invalid, so a client learns that its token went bad.
///
/// The layer puts the claims into the extensions as an `Arc<Claims<C>>`, shared with the
/// verified-token cache; this extractor clones them out of it (one copy of the claims per
/// request). [`SharedClaims`] hands out the `Arc` itself and copies nothing.
///
/// ```
/// use tower_refresh_auth_axum::AuthClaims;
///
/// async fn greet(claims: Option<AuthClaims>) -> String {
///     match claims {
///         Some(AuthClaims(claims)) => format!("hello, {}", claims.sub),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AuthClaims<C = NoClaims>(pub Claims<C>);

impl<C> AuthClaims<C> {
    /// The claims.
    pub fn into_inner(self) -> Claims<C> {
        self.0
    }
}

impl<C> Deref for AuthClaims<C> {
    type Target = Claims<C>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<C> DerefMut for AuthClaims<C> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// Why [`AuthClaims`] could not be extracted.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClaimsRejection {
    /// The layer could not authenticate the request; answered exactly as the layer answers a
    /// guarded path.
    Refused(AuthRejection),
    /// Neither claims nor a refusal are in the extensions: the layer did not run for this
    /// request (or runs with another claims type). A bug in the application: `500`.
    LayerMissing,
    /// [`StepUpClaims`](crate::StepUpClaims) found no [`StepUp`] requirement in the
    /// extensions: the route has none installed. A bug in the application: `500`.
    ///
    /// [`StepUp`]: tower_refresh_auth::step_up::StepUp
    StepUpMissing,
}

impl std::fmt::Display for ClaimsRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(rejection) => rejection.fmt(f),
            Self::LayerMissing => f.write_str(LAYER_MISSING),
            Self::StepUpMissing => f.write_str(STEP_UP_MISSING),
        }
    }
}

impl std::error::Error for ClaimsRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Refused(rejection) => Some(rejection),
            Self::LayerMissing | Self::StepUpMissing => None,
        }
    }
}

const LAYER_MISSING: &str = "no verified claims and no refusal in the request extensions: \
     is the RefreshAuthLayer installed? (In a verify-only service: the ResourceServerLayer.) \
     It must wrap this route (see `RouterExt::refresh_auth`) and be built for the claims type \
     the extractor asks for.";

const STEP_UP_MISSING: &str = "no step-up requirement in the request extensions: install \
     one on the route, `.route_layer(Extension(StepUp::max_age(…)))`, for StepUpClaims to \
     check.";

impl IntoResponse for ClaimsRejection {
    fn into_response(self) -> Response {
        let message = match self {
            Self::Refused(rejection) => return rejection.into_response().map(Body::from),
            Self::LayerMissing => LAYER_MISSING,
            Self::StepUpMissing => STEP_UP_MISSING,
        };
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            message,
        )
            .into_response()
    }
}

impl<S, C> FromRequestParts<S> for AuthClaims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        shared(parts).map(|claims| Self(Claims::clone(&claims)))
    }
}

impl<S, C> OptionalFromRequestParts<S> for AuthClaims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        optional(shared(parts)).map(|claims| claims.map(|c| Self(Claims::clone(&c))))
    }
}

/// The verified [`Claims`] of the request's access token, shared: the `Arc<Claims<C>>` the
/// layer put into the request extensions, which the verified-token cache also holds. Taking
/// it costs a reference count, where [`AuthClaims`] copies the claims.
///
/// Everything else is as with [`AuthClaims`]: the same rejections, and
/// `Option<SharedClaims<C>>` for routes where a token is optional.
///
/// ```
/// use tower_refresh_auth_axum::SharedClaims;
///
/// async fn greet(SharedClaims(claims): SharedClaims) -> String {
///     format!("hello, {}", claims.sub)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SharedClaims<C = NoClaims>(pub Arc<Claims<C>>);

impl<C> SharedClaims<C> {
    /// The shared claims.
    pub fn into_inner(self) -> Arc<Claims<C>> {
        self.0
    }
}

impl<C> Deref for SharedClaims<C> {
    type Target = Claims<C>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S, C> FromRequestParts<S> for SharedClaims<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        shared(parts).map(Self)
    }
}

impl<S, C> OptionalFromRequestParts<S> for SharedClaims<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        optional(shared(parts)).map(|claims| claims.map(Self))
    }
}

/// The claims the layer put into the extensions, or why there are none.
fn shared<C: Send + Sync + 'static>(parts: &Parts) -> Result<Arc<Claims<C>>, ClaimsRejection> {
    if let Some(claims) = parts.extensions.get::<Arc<Claims<C>>>() {
        return Ok(Arc::clone(claims));
    }
    match parts.extensions.get::<AuthRejection>() {
        Some(rejection) => Err(ClaimsRejection::Refused(rejection.clone())),
        None => Err(ClaimsRejection::LayerMissing),
    }
}

/// An extraction where a token is optional: none at all is `None`.
fn optional<T>(extracted: Result<T, ClaimsRejection>) -> Result<Option<T>, ClaimsRejection> {
    match extracted {
        Ok(claims) => Ok(Some(claims)),
        // RFC 6750 §3.1: a request without credentials is anonymous, not wrong.
        Err(ClaimsRejection::Refused(rejection))
            if matches!(rejection.error(), AuthError::MissingCredentials) =>
        {
            Ok(None)
        }
        Err(rejection) => Err(rejection),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use tower_refresh_auth::RefreshAuth;

    use super::*;

    async fn auth_and_claims() -> (RefreshAuth, Claims) {
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(b"an example secret of at least 32 bytes".to_vec())
            .build()
            .unwrap();
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let claims = auth.verify(&pair.access_token).unwrap();
        (auth, claims)
    }

    fn parts(extension: Option<impl Clone + Send + Sync + 'static>) -> Parts {
        let mut req = http::Request::new(());
        if let Some(extension) = extension {
            req.extensions_mut().insert(extension);
        }
        req.into_parts().0
    }

    async fn required(mut parts: Parts) -> Result<AuthClaims, ClaimsRejection> {
        <AuthClaims as FromRequestParts<()>>::from_request_parts(&mut parts, &()).await
    }

    async fn optional(mut parts: Parts) -> Result<Option<AuthClaims>, ClaimsRejection> {
        <AuthClaims as OptionalFromRequestParts<()>>::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn claims_in_the_extensions_are_extracted() {
        let (_, claims) = auth_and_claims().await;
        let extracted = required(parts(Some(Arc::new(claims.clone()))))
            .await
            .unwrap();
        assert_eq!(extracted.sub, "user1");
        assert_eq!(extracted.into_inner(), claims);
        let extracted = optional(parts(Some(Arc::new(claims)))).await.unwrap();
        assert!(extracted.is_some());
    }

    #[tokio::test]
    async fn shared_claims_are_the_extensions_own_arc() {
        let (auth, claims) = auth_and_claims().await;
        let arc = Arc::new(claims);
        let mut p = parts(Some(Arc::clone(&arc)));
        let SharedClaims(got) =
            <SharedClaims as FromRequestParts<()>>::from_request_parts(&mut p, &())
                .await
                .unwrap();
        assert!(Arc::ptr_eq(&got, &arc));
        // Its rejections are AuthClaims's.
        let mut p = parts(None::<()>);
        assert!(matches!(
            <SharedClaims as FromRequestParts<()>>::from_request_parts(&mut p, &()).await,
            Err(ClaimsRejection::LayerMissing)
        ));
        let mut p = parts(Some(auth.rejection(AuthError::MissingCredentials)));
        assert!(
            <SharedClaims as OptionalFromRequestParts<()>>::from_request_parts(&mut p, &())
                .await
                .unwrap()
                .is_none()
        );
        let mut p = parts(Some(
            auth.rejection(AuthError::InvalidToken("expired".into())),
        ));
        assert!(matches!(
            <SharedClaims as OptionalFromRequestParts<()>>::from_request_parts(&mut p, &()).await,
            Err(ClaimsRejection::Refused(_))
        ));
    }

    #[tokio::test]
    async fn a_refusal_in_the_extensions_is_answered_as_the_layer_would() {
        let (auth, _) = auth_and_claims().await;
        let refusal = auth.rejection(AuthError::InvalidToken("expired".into()));
        let err = required(parts(Some(refusal.clone()))).await.unwrap_err();
        let res = err.into_response();
        // docs/protocol.md §1, spelled out rather than rendered again.
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[http::header::WWW_AUTHENTICATE],
            r#"Bearer realm="api", error="invalid_token", error_description="expired""#
        );
        assert_eq!(res.headers()[http::header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            body.as_ref(),
            br#"{"error":"invalid_token","error_description":"expired"}"#
        );
        // An invalid token is refused even where the claims are optional.
        assert!(optional(parts(Some(refusal))).await.is_err());
        // No credentials at all: anonymous.
        let absent = auth.rejection(AuthError::MissingCredentials);
        assert!(optional(parts(Some(absent))).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn nothing_in_the_extensions_is_a_500_naming_the_layer() {
        let err = required(parts(None::<()>)).await.unwrap_err();
        assert!(matches!(err, ClaimsRejection::LayerMissing));
        assert!(
            err.to_string()
                .contains("is the RefreshAuthLayer installed?")
        );
        assert_eq!(
            err.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert!(matches!(
            optional(parts(None::<()>)).await,
            Err(ClaimsRejection::LayerMissing)
        ));
    }
}
