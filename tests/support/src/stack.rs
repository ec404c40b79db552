//! A service stack under test, answering with [`Reply`]s.

use std::convert::Infallible;
use std::fmt::{self, Debug};
use std::sync::Arc;

use http::{Request, Response};
use http_body::Body;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};
use tower_refresh_auth::Claims;

use crate::reply::{Reply, bearer_get, json_post, logout_request, refresh_request};

/// A service stack (typically the layer over a small inner service) that a test sends
/// requests through, each answered with the whole [`Reply`].
#[derive(Clone)]
pub struct Stack {
    svc: BoxCloneSyncService<Request<String>, Reply, Infallible>,
}

impl Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack").finish_non_exhaustive()
    }
}

impl Stack {
    /// Wraps `svc`, whose responses are read to the end.
    pub fn new<S, B>(svc: S) -> Self
    where
        S: Service<Request<String>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Debug,
    {
        Self {
            svc: BoxCloneSyncService::new(svc.then(|res| async move {
                let Ok(res) = res;
                Ok(Reply::read(res).await)
            })),
        }
    }

    /// Sends one request through the stack.
    pub async fn send(&self, req: Request<String>) -> Reply {
        let Ok(reply) = self.svc.clone().oneshot(req).await;
        reply
    }

    /// `GET path`, with a bearer token when there is one.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.send(bearer_get(path, bearer)).await
    }

    /// A `POST` of `body` to `path` as `content_type`.
    ///
    /// # Panics
    ///
    /// If the request cannot be built from these.
    pub async fn post(&self, path: &str, content_type: &str, body: &str) -> Reply {
        let req = Request::post(path)
            .header("content-type", content_type)
            .body(body.to_owned())
            .expect("a valid request");
        self.send(req).await
    }

    /// A `POST` of a JSON `body` to `path`.
    pub async fn post_json(&self, path: &str, body: &str) -> Reply {
        self.send(json_post(path, body)).await
    }

    /// A `POST` of a form-encoded `body` to `path`.
    pub async fn post_form(&self, path: &str, body: &str) -> Reply {
        self.post(path, "application/x-www-form-urlencoded", body)
            .await
    }

    /// `POST /token` with a JSON body.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.send(refresh_request(refresh_token)).await
    }

    /// `POST /logout` with a JSON body.
    pub async fn logout(&self, refresh_token: &str) -> Reply {
        self.send(logout_request(refresh_token)).await
    }
}

/// An inner service for the layer: answers `200` with the subject of the claims the layer
/// verified, or an empty body when there are none.
///
/// ```text
/// Stack::new(ServiceBuilder::new().layer(auth.layer()).service(service_fn(subject_echo::<MyClaims>)))
/// ```
pub async fn subject_echo<C>(req: Request<String>) -> Result<Response<String>, Infallible>
where
    C: Clone + Send + Sync + 'static,
{
    let sub = req
        .extensions()
        .get::<Arc<Claims<C>>>()
        .map(|c| c.sub.clone())
        .unwrap_or_default();
    Ok(Response::new(sub))
}
