//! The layer's routes in the application's OpenAPI document, with [`utoipa`] (feature
//! `openapi`).
//!
//! [`document`] describes the refresh, logout and (when enabled) JWKS routes of a
//! [`RefreshAuth`] — at its configured paths, in its configured transport, with every answer
//! of the protocol document and its schema — and the `bearerAuth` security scheme. Merge it
//! into the application's own document; its protected operations name the scheme and the
//! shared `RefreshAuthUnauthorized` response:
//!
//! ```
//! use tower_refresh_auth::{NoClaims, RefreshAuth};
//! use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
//! use utoipa::openapi::security::SecurityRequirement;
//! use utoipa::openapi::{OpenApiBuilder, PathsBuilder, Ref, ResponseBuilder};
//!
//! let auth = RefreshAuth::<NoClaims>::builder()
//!     .hs256(b"an example secret of at least 32 bytes".to_vec())
//!     .build()?;
//!
//! // The application's own document (usually from `#[derive(utoipa::OpenApi)]`).
//! let dashboard = OperationBuilder::new()
//!     .security(SecurityRequirement::new("bearerAuth", Vec::<String>::new()))
//!     .response("200", ResponseBuilder::new().description("The dashboard"))
//!     .response("401", Ref::from_response_name("RefreshAuthUnauthorized"));
//! let mut api = OpenApiBuilder::new()
//!     .paths(PathsBuilder::new().path("/api/dashboard", PathItem::new(HttpMethod::Get, dashboard)))
//!     .build();
//!
//! api.merge(tower_refresh_auth_axum::openapi::document(&auth));
//! let json = serde_json::to_value(&api)?;
//! assert!(json["paths"]["/token"]["post"]["responses"]["400"].is_object());
//! assert!(json["paths"]["/api/dashboard"]["get"].is_object());
//! assert_eq!(json["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! Serve the merged document from a route of the application's (e.g. `GET /openapi.json`),
//! outside the layer's guard with
//! [`public_path`](tower_refresh_auth::RefreshAuthBuilder::public_path).

use tower_refresh_auth::RefreshAuth;
use utoipa::openapi::OpenApi;

/// The routes of `auth` as a [`utoipa`] document (see [the module](self)), made from
/// [`RefreshAuth::openapi`].
pub fn document<C>(auth: &RefreshAuth<C>) -> OpenApi {
    // The core's document is fixed in shape and tested to read as a utoipa one
    // (tests/openapi.rs of this crate); nothing a user configures can make it fail.
    serde_json::from_value(auth.openapi())
        .expect("the layer's OpenAPI document is a valid utoipa document")
}

#[cfg(test)]
mod tests {
    use tower_refresh_auth::keys::{Jwks, SigningKey};
    use tower_refresh_auth::{NoClaims, transport::RefreshTransport};

    use super::*;

    /// utoipa reads the core's document without losing a word of it: every path, operation,
    /// status, header, schema and the security scheme survive the round trip.
    #[test]
    fn the_document_survives_utoipa_whole() {
        let key = || {
            SigningKey::from_file(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tower-refresh-auth/tests/keys/ed25519.pem"
            ))
            .unwrap()
        };
        let secret = b"a refresh-token secret of 32+ bytes".to_vec();
        for auth in [
            RefreshAuth::<NoClaims>::builder()
                .signing_key(key())
                .refresh_secret(secret.clone())
                .jwks(Jwks::new())
                .build()
                .unwrap(),
            RefreshAuth::<NoClaims>::builder()
                .signing_key(key())
                .refresh_secret(secret.clone())
                .transport(RefreshTransport::cookie())
                .refresh_path("/auth/token")
                .build()
                .unwrap(),
        ] {
            let core = auth.openapi();
            let utoipa = serde_json::to_value(document(&auth)).unwrap();
            assert_eq!(utoipa["paths"], core["paths"]);
            assert_eq!(utoipa["components"], core["components"]);
        }
    }
}
