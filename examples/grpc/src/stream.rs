//! A server stream that ends with its session: `grpc.health.v1.Health/Watch` behind the
//! layer, its stream cut with `UNAUTHENTICATED` when the caller's token expires or its session
//! (or subject) is revoked.
//!
//! The layer checks a call's token once, when the call starts; a server stream outlives that
//! check. [`GuardedHealth`] takes the verified claims from the call's extensions, starts a
//! [`SessionWatch`] on them, and ends the stream with
//! `Status::unauthenticated("session ended")` (or `"token expired"`) when the watch resolves.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::HealthService;
use tower_refresh_auth::watch::SessionWatch;
use tower_refresh_auth::{Claims, RefreshAuth};

/// The health service, with every `Watch` stream bound to the caller's session.
#[derive(Debug)]
pub struct GuardedHealth {
    inner: HealthService,
    auth: RefreshAuth,
}

impl GuardedHealth {
    /// Wraps `inner`, watching sessions with `auth` (the layer in front of the server).
    pub fn new(inner: HealthService, auth: RefreshAuth) -> Self {
        Self { inner, auth }
    }
}

#[tonic::async_trait]
impl Health for GuardedHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = UntilEnded<<HealthService as Health>::WatchStream>;

    // ANCHOR: watch
    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        // The claims the layer verified when the call started.
        let Some(claims) = request.extensions().get::<Arc<Claims>>() else {
            return Err(Status::unauthenticated(
                "no verified claims: is the layer installed?",
            ));
        };
        let watch = self.auth.watch(claims);
        let statuses = self.inner.watch(request).await?.into_inner();
        Ok(Response::new(UntilEnded::new(statuses, watch)))
    }
    // ANCHOR_END: watch
}

/// A stream that yields `inner`'s items until `watch` resolves, then one
/// `Status::unauthenticated` with the reason, and ends.
#[derive(Debug)]
pub struct UntilEnded<S> {
    inner: S,
    /// `None` once the stream has ended.
    watch: Option<SessionWatch>,
}

impl<S> UntilEnded<S> {
    /// `inner`, cut when `watch` resolves.
    pub fn new(inner: S, watch: SessionWatch) -> Self {
        Self {
            inner,
            watch: Some(watch),
        }
    }
}

impl<T, S> Stream for UntilEnded<S>
where
    S: Stream<Item = Result<T, Status>> + Unpin,
{
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(watch) = &mut this.watch else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(end) = Pin::new(watch).poll(cx) {
            this.watch = None;
            return Poll::Ready(Some(Err(Status::unauthenticated(end.reason()))));
        }
        let next = Pin::new(&mut this.inner).poll_next(cx);
        if matches!(next, Poll::Ready(None)) {
            this.watch = None;
        }
        next
    }
}
