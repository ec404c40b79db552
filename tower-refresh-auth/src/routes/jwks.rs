//! `GET /.well-known/jwks.json`: the public keys that verify access tokens (RFC 7517 §5,
//! docs/protocol.md §7), for gateways, other services and other languages.
//!
//! The body is rendered once per key set, when the layer is built and at every rotation; a
//! request only clones it. Public: no token is needed to read public keys.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};

use crate::response::empty;
use crate::shared::Shared;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

pub(super) fn answer(shared: &Shared, method: &Method) -> Response<Bytes> {
    if method != Method::GET {
        let mut res = empty(StatusCode::METHOD_NOT_ALLOWED);
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return res;
    }
    match shared.access.jwks() {
        Some(body) => {
            let mut res = Response::new(body);
            res.headers_mut().insert(header::CONTENT_TYPE, JSON);
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                shared.http.jwks_cache_control.clone(),
            );
            res
        }
        // The builder turns publishing on with the route; a set without a JWKS is not
        // published, so there is nothing here.
        None => empty(StatusCode::NOT_FOUND),
    }
}
