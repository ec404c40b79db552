//! [`ResourceServerMiddleware`]: a verify-only
//! [`ResourceServer`](tower_refresh_auth::resource::ResourceServer) as a native poem middleware.

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use serde::de::DeserializeOwned;
use tower_refresh_auth::resource::{Decision, ResourceServer};

use crate::response::from_core;

/// Verifies access tokens issued elsewhere, for a poem endpoint: the poem face of
/// [`ResourceServer`], with the same answers as its tower
/// [`ResourceServerLayer`](tower_refresh_auth::resource::ResourceServerLayer). Wrap a
/// [`Route`](poem::Route) with it via [`EndpointExt::with`](poem::EndpointExt::with); the
/// [`AuthClaims`](crate::AuthClaims) and [`OptionalAuthClaims`](crate::OptionalAuthClaims)
/// extractors read what it leaves in the request, as with [`RefreshAuthMiddleware`](crate::RefreshAuthMiddleware).
///
/// ```
/// use poem::{EndpointExt, Route, get, handler, test::TestClient};
/// use tower_refresh_auth::NoClaims;
/// use tower_refresh_auth::resource::{Issuer, ResourceServer};
/// use tower_refresh_auth_poem::{AuthClaims, ResourceServerMiddleware};
///
/// #[handler]
/// fn profile(AuthClaims(claims): AuthClaims) -> String {
///     claims.sub
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let server = ResourceServer::<NoClaims>::builder()
///     .issuer(Issuer::from_jwks(jwks))
///     .build()?;
/// let app = Route::new()
///     .at("/api/profile", get(profile))
///     .with(ResourceServerMiddleware::new(server));
/// TestClient::new(app).get("/api/profile").send().await.assert_status(http::StatusCode::UNAUTHORIZED);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct ResourceServerMiddleware<C> {
    server: ResourceServer<C>,
}

impl<C> ResourceServerMiddleware<C> {
    /// A middleware verifying for `server`.
    pub fn new(server: ResourceServer<C>) -> Self {
        Self { server }
    }
}

impl<C> Clone for ResourceServerMiddleware<C> {
    fn clone(&self) -> Self {
        Self {
            server: self.server.clone(),
        }
    }
}

impl<C> std::fmt::Debug for ResourceServerMiddleware<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServerMiddleware")
            .field("server", &self.server)
            .finish()
    }
}

impl<E, C> Middleware<E> for ResourceServerMiddleware<C>
where
    E: Endpoint,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Output = ResourceServerEndpoint<E, C>;

    fn transform(&self, inner: E) -> Self::Output {
        ResourceServerEndpoint {
            inner,
            server: self.server.clone(),
        }
    }
}

/// The endpoint made by [`ResourceServerMiddleware`].
pub struct ResourceServerEndpoint<E, C> {
    inner: E,
    server: ResourceServer<C>,
}

impl<E: std::fmt::Debug, C> std::fmt::Debug for ResourceServerEndpoint<E, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServerEndpoint")
            .field("inner", &self.inner)
            .field("server", &self.server)
            .finish()
    }
}

impl<E, C> Endpoint for ResourceServerEndpoint<E, C>
where
    E: Endpoint,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let server = &self.server;
        let verdict = match server.decide(req.method(), req.uri(), req.headers()) {
            Decision::Verdict(verdict) => verdict,
            Decision::Pending => {
                server
                    .authorize(req.method(), req.uri(), req.headers())
                    .await
            }
        };
        if let Err(refused) = verdict.admit(req.extensions_mut()) {
            return Ok(from_core(refused.response_to(req.headers())));
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
