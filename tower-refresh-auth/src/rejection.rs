//! [`AuthRejection`]: a refusal, carried to wherever it is rendered.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response};

use crate::error::AuthError;
use crate::grpc;
use crate::response::Renderer;

/// A refusal, ready to be rendered: the error and how the layer that refused renders it.
///
/// In optional mode and on public paths the layer does not answer a bad token itself; it puts
/// an `AuthRejection` into the request extensions instead, and the handler or an adapter's
/// extractor decides. [`into_response`](Self::into_response) renders exactly what the layer
/// would have sent.
#[derive(Debug, Clone)]
pub struct AuthRejection {
    error: Arc<AuthError>,
    renderer: Arc<Renderer>,
}

impl AuthRejection {
    pub(crate) fn new(error: AuthError, renderer: Arc<Renderer>) -> Self {
        Self {
            error: Arc::new(error),
            renderer,
        }
    }

    /// Why the request was refused.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The response the protocol prescribes for this refusal (with the application's error
    /// body, if it renders its own).
    pub fn into_response(self) -> Response<Bytes> {
        self.renderer.render(&self.error)
    }

    /// The response for this refusal to a request with `headers`: as
    /// [`into_response`](Self::into_response), except that a gRPC call
    /// (`content-type: application/grpc…`) gets the trailers-only response a gRPC client
    /// understands — `grpc-status` 16 (`Unauthenticated`) for a refused token, with the
    /// RFC 6750 challenge kept in its metadata (`docs/protocol.md` §1b).
    pub fn response_to(&self, headers: &HeaderMap) -> Response<Bytes> {
        if grpc::is_grpc(headers) {
            grpc::refusal(&self.error, &self.renderer)
        } else {
            self.renderer.render(&self.error)
        }
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}
