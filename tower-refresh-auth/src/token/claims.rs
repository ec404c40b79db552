//! The claims of an access token.

use serde::{Deserialize, Serialize};

use crate::session::SessionId;

/// The verified claims of an access token: the registered ones and the application's own
/// (`custom`, flattened into the same JSON object).
///
/// The layer puts a `Claims<C>` into the request extensions of every request whose token
/// verified; handlers read it from there (or through an adapter's extractor).
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tower_refresh_auth::Claims;
///
/// #[derive(Clone, Debug, Serialize, Deserialize)]
/// struct Role { role: String }
///
/// fn handler(req: http::Request<()>) -> String {
///     match req.extensions().get::<Claims<Role>>() {
///         Some(claims) => format!("{} is {}", claims.sub, claims.custom.role),
///         None => "anonymous".into(),
///     }
/// }
/// # assert_eq!(handler(http::Request::new(())), "anonymous");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims<C = NoClaims> {
    /// The subject: the user the token was issued to.
    pub sub: String,
    /// The login session the token belongs to (RFC 9068 does not name it; OpenID Connect's
    /// `sid`).
    pub sid: SessionId,
    /// The token's unique id.
    pub jti: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: u64,
    /// Not before, if the token has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The issuer, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audience, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The confirmation of a DPoP-bound token (RFC 9449 §6.1): the thumbprint of the key
    /// whose proofs must come with it. `None` for a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The application's own claims.
    #[serde(flatten)]
    pub custom: C,
}

/// The `cnf` (confirmation) claim of a DPoP-bound access token (RFC 9449 §6.1, RFC 7800).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Confirmation {
    /// The SHA-256 JWK thumbprint of the key the token is bound to.
    pub jkt: String,
}

/// The application claims of a layer that has none of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoClaims {}

/// The claim names the layer writes itself; the application's claims may not use them.
pub(crate) const REGISTERED: &[&str] = &[
    "sub", "sid", "jti", "iat", "exp", "nbf", "iss", "aud", "cnf",
];
