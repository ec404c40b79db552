//! [`RefreshAuthLayer`]: wraps a service in [`RefreshAuthService`].

use tower_layer::Layer;

use crate::service::RefreshAuthService;
use crate::shared::RefreshAuth;
use crate::token::NoClaims;

/// Applies refresh-token authentication to a service. Made by [`RefreshAuth::layer`].
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .build()
///     .unwrap();
/// let app = ServiceBuilder::new().layer(auth.layer()).service(service_fn(|_req: Request<String>| async {
///     Ok::<_, Infallible>(Response::new(String::from("hello")))
/// }));
///
/// // No token: 401 with a bare challenge.
/// let res = app.clone().oneshot(Request::new(String::new())).await.unwrap();
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
///
/// // A token from a login: through.
/// let pair = auth.issue("user1", NoClaims {}).await.unwrap();
/// let req = Request::builder()
///     .header("authorization", format!("Bearer {}", pair.access_token))
///     .body(String::new())
///     .unwrap();
/// assert_eq!(app.oneshot(req).await.unwrap().status(), StatusCode::OK);
/// # });
/// ```
pub struct RefreshAuthLayer<C = NoClaims> {
    auth: RefreshAuth<C>,
}

impl<C> RefreshAuthLayer<C> {
    pub(crate) fn new(auth: RefreshAuth<C>) -> Self {
        Self { auth }
    }

    /// The [`RefreshAuth`] this layer answers for.
    pub fn auth(&self) -> &RefreshAuth<C> {
        &self.auth
    }
}

impl<C> Clone for RefreshAuthLayer<C> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
        }
    }
}

impl<C> std::fmt::Debug for RefreshAuthLayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshAuthLayer")
            .field("auth", &self.auth)
            .finish()
    }
}

impl<S, C> Layer<S> for RefreshAuthLayer<C> {
    type Service = RefreshAuthService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RefreshAuthService::new(inner, self.auth.clone())
    }
}
