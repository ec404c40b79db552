//! [`RefreshAuthService`]: the middleware itself.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::adapter::Decision;
use crate::body::ResponseBody;
use crate::future::ResponseFuture;
use crate::routes;
use crate::shared::RefreshAuth;

/// The middleware made by [`RefreshAuthLayer`](crate::RefreshAuthLayer).
///
/// `call` is a `match` over [`RefreshAuth::decide`](crate::RefreshAuth::decide):
///
/// 1. the refresh and logout routes are answered here, never reaching the inner service;
/// 2. otherwise the bearer token is read and verified; on success its
///    [`Claims<C>`](crate::Claims) go into the request extensions and the inner service runs
///    (after the store confirmed the session, with session checking on);
/// 3. on failure a guarded path is refused with the RFC 6750 response, while a public path (or
///    any path in optional mode) runs the inner service with an
///    [`AuthRejection`](crate::AuthRejection) in the extensions instead of claims.
///
/// `poll_ready` is the inner service's: backpressure passes straight through.
pub struct RefreshAuthService<S, C> {
    inner: S,
    auth: RefreshAuth<C>,
}

impl<S, C> RefreshAuthService<S, C> {
    pub(crate) fn new(inner: S, auth: RefreshAuth<C>) -> Self {
        Self { inner, auth }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C> Clone for RefreshAuthService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            auth: self.auth.clone(),
        }
    }
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for RefreshAuthService<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshAuthService")
            .field("inner", &self.inner)
            .field("auth", &self.auth)
            .finish()
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for RefreshAuthService<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: http_body::Body<Data = bytes::Bytes>,
    C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // What `RefreshAuth::decide` and `answer` do, without calling back up into the
        // authority that made this service.
        let shared = &self.auth.shared;
        match shared.decide::<C>(req.method(), req.uri(), req.headers()) {
            Decision::Endpoint(route) => {
                let shared = Arc::clone(shared);
                ResponseFuture::route(Box::pin(async move {
                    routes::answer(&shared, route, req).await
                }))
            }
            Decision::Verdict(verdict) => match verdict.admit(req.extensions_mut()) {
                Ok(()) => ResponseFuture::inner(self.inner.call(req)),
                Err(refused) => ResponseFuture::refused(refused.response_to(req.headers())),
            },
            Decision::StoreCheck(check) => {
                // The store decides whether the request goes on, so the ready service is
                // moved into the future and a fresh clone is left behind (tower's advice for
                // services used after an await).
                let ready = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, ready);
                ResponseFuture::checking(
                    Box::pin(async move {
                        match check.run().await.admit(req.extensions_mut()) {
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};

    use http::{Request, Response};
    use tower_layer::Layer;
    use tower_service::Service;

    use crate::{NoClaims, RefreshAuth};

    /// A service that is ready only when told, and counts its clones.
    #[derive(Debug)]
    struct Gate {
        open: Arc<AtomicBool>,
        clones: Arc<AtomicUsize>,
    }

    impl Clone for Gate {
        fn clone(&self) -> Self {
            self.clones.fetch_add(1, Ordering::SeqCst);
            Self {
                open: Arc::clone(&self.open),
                clones: Arc::clone(&self.clones),
            }
        }
    }

    impl Service<Request<String>> for Gate {
        type Response = Response<String>;
        type Error = Infallible;
        type Future = Ready<Result<Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.open.load(Ordering::SeqCst) {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }

        fn call(&mut self, _: Request<String>) -> Self::Future {
            ready(Ok(Response::new(String::new())))
        }
    }

    fn layered(
        check_sessions: bool,
    ) -> (
        super::RefreshAuthService<Gate, NoClaims>,
        Arc<AtomicBool>,
        Arc<AtomicUsize>,
    ) {
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(b"service test secret of at least 32 bytes".to_vec())
            .check_sessions(check_sessions)
            .build()
            .unwrap();
        let open = Arc::new(AtomicBool::new(false));
        let clones = Arc::new(AtomicUsize::new(0));
        let gate = Gate {
            open: Arc::clone(&open),
            clones: Arc::clone(&clones),
        };
        (auth.layer().layer(gate), open, clones)
    }

    #[test]
    fn backpressure_passes_through() {
        let (mut svc, open, _) = layered(false);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_pending());
        open.store(true, Ordering::SeqCst);
        assert!(svc.poll_ready(&mut cx).is_ready());
    }

    #[test]
    fn the_inner_service_is_cloned_only_when_it_must_outlive_the_call() {
        let (mut svc, open, clones) = layered(false);
        open.store(true, Ordering::SeqCst);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_ready());
        drop(svc.call(Request::new(String::new())));
        assert_eq!(clones.load(Ordering::SeqCst), 0);

        // With session checking the ready service is moved into the future and a clone is
        // left behind for the next request.
        let (mut svc, open, clones) = layered(true);
        open.store(true, Ordering::SeqCst);
        let auth = svc.auth.clone();
        let mut rt_cx = Context::from_waker(Waker::noop());
        let pair = match std::pin::pin!(auth.issue("u", NoClaims {})).poll(&mut rt_cx) {
            Poll::Ready(p) => p.unwrap(),
            Poll::Pending => panic!("the memory store never waits"),
        };
        assert!(svc.poll_ready(&mut cx).is_ready());
        let req = Request::builder()
            .header("authorization", format!("Bearer {}", pair.access_token))
            .body(String::new())
            .unwrap();
        drop(svc.call(req));
        assert_eq!(clones.load(Ordering::SeqCst), 1);
    }

    use std::future::Future as _;
}
