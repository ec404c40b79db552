//! [`ResponseFuture`]: the future of [`RefreshAuthService`](crate::RefreshAuthService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project::pin_project;
use tower_service::Service;

use crate::body::ResponseBody;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// The session check: the request to pass on (claims or rejection in its extensions), or the
/// refusal to answer with.
type CheckFuture<B> = BoxFuture<Result<Request<B>, Response<Bytes>>>;

/// The response future of [`RefreshAuthService`](crate::RefreshAuthService).
///
/// On the common path — a verified token, no session checking — it is the inner service's
/// future, unboxed.
#[pin_project]
pub struct ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    #[pin]
    state: State<S, B>,
}

#[pin_project(project = StateProj)]
enum State<S, B>
where
    S: Service<Request<B>>,
{
    /// The inner service is running.
    Inner {
        #[pin]
        future: S::Future,
    },
    /// Session checking: waiting for the store before calling the (ready) inner service.
    Checking {
        check: CheckFuture<B>,
        service: Option<S>,
    },
    /// One of the layer's own routes.
    Route { future: BoxFuture<Response<Bytes>> },
    /// Refused without calling anything.
    Refused { response: Option<Response<Bytes>> },
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(crate) fn inner(future: S::Future) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    pub(crate) fn checking(check: CheckFuture<B>, service: S) -> Self {
        Self {
            state: State::Checking {
                check,
                service: Some(service),
            },
        }
    }

    pub(crate) fn route(future: BoxFuture<Response<Bytes>>) -> Self {
        Self {
            state: State::Route { future },
        }
    }

    pub(crate) fn refused(response: Response<Bytes>) -> Self {
        Self {
            state: State::Refused {
                response: Some(response),
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future } => {
                    let res = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                }
                StateProj::Checking { check, service } => {
                    let outcome = ready!(check.as_mut().poll(cx));
                    let Some(mut service) = service.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    match outcome {
                        Ok(req) => {
                            let future = service.call(req);
                            this.state.set(State::Inner { future });
                        }
                        Err(refused) => return Poll::Ready(Ok(refused.map(ResponseBody::own))),
                    }
                }
                StateProj::Route { future } => {
                    let res = ready!(future.as_mut().poll(cx));
                    return Poll::Ready(Ok(res.map(ResponseBody::own)));
                }
                StateProj::Refused { response } => {
                    let Some(res) = response.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    return Poll::Ready(Ok(res.map(ResponseBody::own)));
                }
            }
        }
    }
}

impl<S, B> std::fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
