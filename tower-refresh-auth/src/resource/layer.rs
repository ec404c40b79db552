//! [`ResourceServerLayer`] and [`ResourceServerService`]: the verify-only tower middleware.
//! Its response future and body are the issuing layer's own.

use std::task::{Context, Poll};

use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_layer::Layer;
use tower_service::Service;

use super::{Decision, ResourceServer};
use crate::body::ResponseBody;
use crate::future::ResponseFuture;

/// Applies a [`ResourceServer`]'s verification to a service. Made by
/// [`ResourceServer::layer`].
pub struct ResourceServerLayer<C> {
    server: ResourceServer<C>,
}

impl<C> ResourceServerLayer<C> {
    pub(crate) fn new(server: ResourceServer<C>) -> Self {
        Self { server }
    }

    /// The server this layer verifies for.
    pub fn server(&self) -> &ResourceServer<C> {
        &self.server
    }
}

impl<C> Clone for ResourceServerLayer<C> {
    fn clone(&self) -> Self {
        Self {
            server: self.server.clone(),
        }
    }
}

impl<C> std::fmt::Debug for ResourceServerLayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServerLayer")
            .field("server", &self.server)
            .finish()
    }
}

impl<S, C> Layer<S> for ResourceServerLayer<C> {
    type Service = ResourceServerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        ResourceServerService {
            inner,
            server: self.server.clone(),
        }
    }
}

/// The middleware made by [`ResourceServerLayer`].
///
/// `call` is a `match` over [`ResourceServer::decide`]: a verified token's
/// [`Claims<C>`](crate::Claims) go into the request extensions and the inner service runs; a
/// refusal is answered with the RFC 6750 response (or a gRPC refusal) on a guarded path, and
/// passed on as an [`AuthRejection`](crate::AuthRejection) on a public one; when a key set
/// must be fetched or a DPoP proof spent first, the future waits for
/// [`ResourceServer::authorize`].
pub struct ResourceServerService<S, C> {
    inner: S,
    server: ResourceServer<C>,
}

impl<S: Clone, C> Clone for ResourceServerService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            server: self.server.clone(),
        }
    }
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for ResourceServerService<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServerService")
            .field("inner", &self.inner)
            .field("server", &self.server)
            .finish()
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for ResourceServerService<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes>,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        match self.server.decide(req.method(), req.uri(), req.headers()) {
            Decision::Verdict(verdict) => match verdict.admit(req.extensions_mut()) {
                Ok(()) => ResponseFuture::inner(self.inner.call(req)),
                Err(refused) => ResponseFuture::refused(refused.response_to(req.headers())),
            },
            Decision::Pending => {
                // The fetch (or the proof's spending) decides whether the request goes on: the ready service moves
                // into the future and a fresh clone stays behind (as with a store check).
                let ready = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, ready);
                let server = self.server.clone();
                ResponseFuture::checking(
                    Box::pin(async move {
                        let verdict = server
                            .authorize(req.method(), req.uri(), req.headers())
                            .await;
                        match verdict.admit(req.extensions_mut()) {
                            Ok(()) => Ok(req),
                            Err(refused) => Err(refused.response_to(req.headers())),
                        }
                    }),
                    ready,
                )
            }
        }
    }
}
