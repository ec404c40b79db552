//! [`ResponseFuture`]: the future of [`RefreshAuthService`](crate::RefreshAuthService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use pin_project::pin_project;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::grpc;
use crate::response::AuthRejection;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type CheckFuture<B> = BoxFuture<Result<Request<B>, (AuthRejection, Request<B>)>>;

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
        public: bool,
    },
    /// The refresh or logout route.
    Endpoint {
        future: BoxFuture<Response<Full<Bytes>>>,
    },
    /// Refused without calling anything.
    Ready {
        response: Option<Response<Full<Bytes>>>,
    },
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

    pub(crate) fn checking(check: CheckFuture<B>, service: S, public: bool) -> Self {
        Self {
            state: State::Checking {
                check,
                service: Some(service),
                public,
            },
        }
    }

    pub(crate) fn endpoint(future: BoxFuture<Response<Full<Bytes>>>) -> Self {
        Self {
            state: State::Endpoint { future },
        }
    }

    pub(crate) fn ready(response: Response<Full<Bytes>>) -> Self {
        Self {
            state: State::Ready {
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
                StateProj::Checking {
                    check,
                    service,
                    public,
                } => {
                    let outcome = ready!(check.as_mut().poll(cx));
                    let Some(mut service) = service.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    let req = match outcome {
                        Ok(req) => req,
                        Err((rejection, mut req)) if *public => {
                            req.extensions_mut().insert(rejection);
                            req
                        }
                        Err((rejection, req)) => {
                            let res = if grpc::is_grpc(req.headers()) {
                                grpc::refusal(rejection.error(), rejection.realm())
                            } else {
                                rejection.into_response()
                            };
                            return Poll::Ready(Ok(res.map(ResponseBody::own)));
                        }
                    };
                    let future = service.call(req);
                    this.state.set(State::Inner { future });
                }
                StateProj::Endpoint { future } => {
                    let res = ready!(future.as_mut().poll(cx));
                    return Poll::Ready(Ok(res.map(ResponseBody::own)));
                }
                StateProj::Ready { response } => {
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
