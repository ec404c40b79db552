//! Refusals for gRPC clients (docs/protocol.md §1b).
//!
//! A gRPC client reads the call's outcome from `grpc-status`, not from the HTTP status, and
//! takes any body as length-prefixed messages: the JSON error body of an HTTP refusal reaches
//! a tonic client as `Internal` "invalid compression flag". So a request whose content type is
//! gRPC is refused the way a gRPC server refuses a call: HTTP `200`, `content-type:
//! application/grpc`, an empty body, and the outcome in a trailers-only response — the
//! `grpc-status` and `grpc-message` headers (gRPC over HTTP/2, "Responses"). The RFC 6750
//! challenge is kept: `www-authenticate` travels in the metadata, where a client can read why
//! its token was refused.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::error::AuthError;
use crate::response::{RETRY_AFTER_SECS, Renderer};

const GRPC: HeaderValue = HeaderValue::from_static("application/grpc");

/// Whether the request is a gRPC call: `content-type: application/grpc`, or
/// `application/grpc+<codec>` (`+proto`, `+json`, …).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    let Some(rest) = value
        .get(..16)
        .filter(|prefix| prefix.eq_ignore_ascii_case(b"application/grpc"))
        .map(|_| &value[16..])
    else {
        return false;
    };
    rest.is_empty() || rest[0] == b'+' || rest[0] == b';'
}

/// The gRPC status code a refusal is answered with.
///
/// Every refusal that carries a challenge — no token, a malformed one, one that did not
/// verify — is `UNAUTHENTICATED` (16), the code gRPC defines for "no valid authentication
/// credentials": RFC 6750 tells a malformed header (`400 invalid_request`) apart from a bad
/// token (`401 invalid_token`), and that distinction stays in the challenge's `error`
/// parameter. `INVALID_ARGUMENT` (3) would tell a client its request message was wrong and
/// that retrying with a fresh token cannot help, which is not true of a garbled header.
fn code(err: &AuthError) -> u16 {
    match err {
        AuthError::MissingCredentials
        | AuthError::MalformedCredentials(_)
        | AuthError::InvalidToken(_)
        | AuthError::InvalidGrant
        | AuthError::InvalidCredentials
        | AuthError::InvalidClient
        | AuthError::InsufficientUserAuthentication(_)
        | AuthError::Dpop(_) => 16, // UNAUTHENTICATED
        AuthError::InvalidRequest(_)
        | AuthError::UnsupportedGrantType
        | AuthError::UnsupportedMediaType => 3, // INVALID_ARGUMENT
        AuthError::PayloadTooLarge(_) | AuthError::TooManyRequests { .. } => 8, // RESOURCE_EXHAUSTED
        AuthError::MethodNotAllowed => 12,                                      // UNIMPLEMENTED
        AuthError::MissingCsrfHeader(_) => 7,                                   // PERMISSION_DENIED
        AuthError::Store(_) | AuthError::KeysUnavailable { .. } => 14, // UNAVAILABLE: retry
        AuthError::Claims(_) | AuthError::MissingCapability(_) => 13,  // INTERNAL
    }
}

/// The trailers-only gRPC response for a refusal: `grpc-status`, a percent-encoded
/// `grpc-message` with the error's description, and the RFC 6750 challenge where the HTTP
/// refusal would carry one.
pub(crate) fn refusal(error: &AuthError, renderer: &Renderer) -> Response<Bytes> {
    if let AuthError::Store(e) = error {
        tracing::error!(error = %e, "session store failed; answering UNAVAILABLE");
    }
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = StatusCode::OK;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, GRPC);
    headers.insert("grpc-status", HeaderValue::from(code(error)));
    if let Ok(message) = HeaderValue::try_from(percent_encode(&error.description())) {
        headers.insert("grpc-message", message);
    }
    for value in renderer.challenges(error) {
        headers.append(header::WWW_AUTHENTICATE, value);
    }
    if let Some(nonce) = renderer.nonce_for(error) {
        headers.insert(crate::response::DPOP_NONCE, nonce);
    }
    if let AuthError::Store(_) = error {
        headers.insert(header::RETRY_AFTER, RETRY_AFTER_SECS);
    }
    res
}

/// gRPC's `Percent-Encoded`: every byte outside `%x20-%x7E`, and `%` itself, as `%XX`.
fn percent_encode(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{invalid_token, malformed};
    use crate::store::StoreError;

    fn headers(content_type: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h
    }

    #[test]
    fn grpc_content_types_are_recognised() {
        for ct in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
            "Application/GRPC",
        ] {
            assert!(is_grpc(&headers(ct)), "{ct}");
        }
        for ct in [
            "application/json",
            "application/grpc-web",
            "application/grpcx",
            "application/grp",
            "text/plain",
        ] {
            assert!(!is_grpc(&headers(ct)), "{ct}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn a_missing_token_is_unauthenticated_with_a_bare_challenge() {
        let res = refusal(
            &AuthError::MissingCredentials,
            &crate::response::Renderer::new("api", None),
        );
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        assert_eq!(h[header::CONTENT_TYPE], "application/grpc");
        assert_eq!(h["grpc-status"], "16");
        assert_eq!(h["grpc-message"], "authentication required");
        assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer realm=\"api\"");
        assert!(res.body().is_empty());
    }

    #[test]
    fn a_bad_or_malformed_token_keeps_its_rfc_6750_challenge() {
        let res = refusal(
            &invalid_token("the token has expired"),
            &crate::response::Renderer::new("grpc", None),
        );
        assert_eq!(res.headers()["grpc-status"], "16");
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"grpc\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        let res = refusal(
            &malformed("more than one Authorization header"),
            &crate::response::Renderer::new("api", None),
        );
        assert_eq!(res.headers()["grpc-status"], "16");
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"invalid_request\", error_description=\"more than one Authorization header\""
        );
    }

    #[test]
    fn a_store_failure_is_unavailable_without_a_challenge() {
        let res = refusal(
            &AuthError::Store(StoreError::Timeout(std::time::Duration::from_secs(2))),
            &crate::response::Renderer::new("api", None),
        );
        assert_eq!(res.headers()["grpc-status"], "14");
        assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("50% off: é\n"), "50%25 off: %C3%A9%0A");
        assert_eq!(percent_encode("plain text"), "plain text");
    }
}
