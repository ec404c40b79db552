//! What the `layer` (criterion) and `instructions` (callgrind) benches share, so both measure
//! the same secret, claims type and handlers.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use serde::{Deserialize, Serialize};
use tower_refresh_auth::Claims;

pub(crate) const SECRET: &[u8] = b"benchmark secret of at least thirty-two bytes";

/// The application's claims in every benchmarked token: one string.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Role {
    pub(crate) role: String,
}

/// Polls a future that is ready without waiting (everything here is in memory).
pub(crate) fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// The inner service: an empty `200`, reading nothing.
pub(crate) async fn ok(_req: Request<String>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::new()))
}

/// A handler taking the claims as the adapters' `AuthClaims` does: a copy.
pub(crate) async fn copied(req: Request<String>) -> Result<Response<String>, Infallible> {
    let claims = req
        .extensions()
        .get::<Arc<Claims<Role>>>()
        .map(|c| Claims::clone(c));
    black_box(claims.expect("verified claims"));
    Ok(Response::new(String::new()))
}

/// A handler taking the claims as the adapters' `SharedClaims` does: the `Arc`.
pub(crate) async fn shared(req: Request<String>) -> Result<Response<String>, Infallible> {
    let claims = req.extensions().get::<Arc<Claims<Role>>>().cloned();
    black_box(claims.expect("verified claims"));
    Ok(Response::new(String::new()))
}
