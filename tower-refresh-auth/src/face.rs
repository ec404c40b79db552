//! The HTTP face's settings, in one place: which paths are the layer's routes and which it
//! serves without a token ([`Guard`]), how the refresh token travels (a JSON or form body, or
//! a cookie with its CSRF header: [`Transport`]), the access-token cookie, the request body
//! limit, the JWKS route's caching, and the renderer every refusal goes through.
//!
//! Read by the modules of the HTTP face — the decision ([`adapter`](crate::adapter)), the
//! routes, the verification of a request, the OpenAPI description — and by no component:
//! sessions, access tokens and DPoP know nothing of HTTP paths, cookies or bodies.

use std::sync::Arc;

use http::HeaderValue;

use crate::guard::Guard;
use crate::response::Renderer;
use crate::transport::Transport;

/// The settings of one layer's HTTP face, fixed when it is built.
#[derive(Debug)]
pub(crate) struct Http {
    /// The routes' paths, and the paths served without a token.
    pub(crate) guard: Guard,
    /// How the refresh token travels: in the body, or in a cookie (its name, `Secure`, and
    /// the CSRF header a cookie refresh must carry).
    pub(crate) transport: Transport,
    /// The cookie an access token may also be read from, if any.
    pub(crate) access_cookie: Option<String>,
    /// The largest request body the routes read, in bytes.
    pub(crate) body_limit: usize,
    /// `public, max-age=N` for the JWKS and metadata routes.
    pub(crate) jwks_cache_control: HeaderValue,
    /// Renders every refusal: the status, the challenge, the application's body format.
    pub(crate) renderer: Arc<Renderer>,
}
