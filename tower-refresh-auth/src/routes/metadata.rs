//! `GET /.well-known/oauth-authorization-server`: the issuer's metadata (RFC 8414,
//! `docs/protocol.md` §12), served beside the JWKS when the issuer is a URL, so that a resource
//! server ([`crate::resource`]) needs only the issuer URL to find the keys.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use serde::Serialize;

use crate::response::{empty, json};
use crate::shared::Shared;

/// The metadata document (RFC 8414 §2): the endpoints as absolute URLs under the issuer.
#[derive(Serialize)]
struct Metadata<'a> {
    issuer: &'a str,
    jwks_uri: String,
    token_endpoint: String,
    revocation_endpoint: String,
    /// Public clients: the refresh token is the credential, no client authentication.
    token_endpoint_auth_methods_supported: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    dpop_signing_alg_values_supported: Option<Vec<&'static str>>,
}

pub(super) fn answer(shared: &Shared, method: &Method) -> Response<Bytes> {
    if method != Method::GET {
        let mut res = empty(StatusCode::METHOD_NOT_ALLOWED);
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return res;
    }
    let (Some(issuer), Some(jwks)) = (shared.access.issuer(), &shared.http.guard.jwks_path) else {
        // The route is on only with both; nothing to say otherwise.
        return empty(StatusCode::NOT_FOUND);
    };
    let base = issuer.trim_end_matches('/');
    let metadata = Metadata {
        issuer,
        jwks_uri: format!("{base}{jwks}"),
        token_endpoint: format!("{base}{}", shared.http.guard.refresh_path),
        revocation_endpoint: format!("{base}{}", shared.http.guard.logout_path),
        token_endpoint_auth_methods_supported: ["none"],
        dpop_signing_alg_values_supported: shared.dpop.settings().map(|d| d.rules.alg_names()),
    };
    let mut res = json(StatusCode::OK, &metadata);
    // Public and cacheable like the keys it points to (the JSON helper says no-store).
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        shared.http.jwks_cache_control.clone(),
    );
    res
}
