//! The routes the layer answers itself, one file each: refresh (`POST /token`, RFC 6749 §6,
//! in `token.rs`), logout (`POST /logout`, RFC 7009) and, when enabled, the published keys
//! (`GET /.well-known/jwks.json`, RFC 7517), the issuer's metadata, the caller's sessions
//! (`/sessions`, `docs/protocol.md` §8) and token introspection (`POST /introspect`, RFC 7662,
//! in `introspect.rs`); `request.rs` reads the request bodies of the first two.

mod introspect;
mod jwks;
pub(crate) mod logout;
pub(crate) mod metadata;
mod request;
mod sessions;
pub(crate) mod token;

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
        Endpoint::Refresh => token::answer(shared, req).await,
        Endpoint::Logout => logout::answer(shared, req).await,
        Endpoint::Introspection => introspect::answer(shared, req).await,
    };
    result.unwrap_or_else(|err| {
        let mut res = shared.http.renderer.render(&err);
        // A cookie that can never refresh again is cleared, so the browser stops sending it.
        if let (AuthError::InvalidGrant, Transport::Cookie(cookie)) = (&err, &shared.http.transport)
        {
            cookie.clear(res.headers_mut());
        }
        res
    })
}
