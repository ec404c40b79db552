//! The routes the layer answers itself: refresh (`POST /token`, RFC 6749 §6), logout
//! (`POST /logout`, RFC 7009) and, when enabled, the published keys (`GET
//! /.well-known/jwks.json`, RFC 7517) and the caller's sessions (`/sessions`,
//! `docs/protocol.md` §8) and token introspection (`POST /introspect`, RFC 7662), one file
//! each; [`body`] reads the bodies of the first two.

mod introspect;
mod jwks;
pub(crate) mod logout;
pub(crate) mod metadata;
pub(crate) mod refresh;
mod request;
mod sessions;

#[cfg(feature = "openapi")]
pub(crate) use self::sessions::{DEFAULT_PAGE, MAX_PAGE, csrf_header};

use bytes::Bytes;
use http::{Method, Request, Response};

use crate::error::AuthError;
use crate::guard::Endpoint;
use crate::shared::Shared;
use crate::transport::Transport;

/// Answers a request for one of the layer's routes; never fails, every error becomes its
/// response.
pub(crate) async fn answer<B>(shared: &Shared, route: Endpoint, req: Request<B>) -> Response<Bytes>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let result = match route {
        Endpoint::Jwks => return jwks::answer(shared, req.method()),
        Endpoint::Metadata => return metadata::answer(shared, req.method()),
        Endpoint::Sessions => return sessions::answer(shared, req).await,
        _ if req.method() != Method::POST => Err(AuthError::MethodNotAllowed),
        Endpoint::Refresh => refresh::answer(shared, req).await,
        Endpoint::Logout => logout::answer(shared, req).await,
        Endpoint::Introspection => introspect::answer(shared, req).await,
    };
    result.unwrap_or_else(|err| {
        let mut res = shared.renderer.render(&err);
        // A cookie that can never refresh again is cleared, so the browser stops sending it.
        if let (AuthError::InvalidGrant, Transport::Cookie(cookie)) = (&err, &shared.transport) {
            cookie.clear(res.headers_mut());
        }
        res
    })
}
