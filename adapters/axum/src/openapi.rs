//! The layer's routes in the application's OpenAPI document, with [`utoipa`] (feature
//! `openapi`).
//!
//! [`document`] is the core's one description of the layer's routes,
//! [`RefreshAuth::openapi`], read as a utoipa document: the refresh, logout and (when
//! enabled) JWKS and session routes of a [`RefreshAuth`] — at its configured paths, in its
//! configured transport, with its cookies and DPoP, with every answer of the protocol
//! document and its schema — and the security schemes (`bearerAuth`, and `dpopAuth` /
//! `accessTokenCookie` when configured). The poem adapter serves the same document. Merge it
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
    use std::time::Duration;

    use tower_refresh_auth::dpop::Dpop;
    use tower_refresh_auth::keys::{Jwks, SigningKey};
    use tower_refresh_auth::{NoClaims, transport::RefreshTransport};

    use super::*;

    /// utoipa reads the core's document without losing a word of it — every path,
    /// operation, status, header, schema and security scheme survives the round trip —
    /// under every configuration that changes it: moved routes, the cookies, DPoP.
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
        let base = || {
            RefreshAuth::<NoClaims>::builder()
                .signing_key(key())
                .refresh_secret(secret.clone())
        };
        for builder in [
            base().jwks(Jwks::new()),
            base()
                .transport(RefreshTransport::cookie())
                .refresh_path("/auth/token"),
            base()
                .refresh_path("/auth/token")
                .logout_path("/auth/logout")
                .sessions_path("/me/sessions")
                .jwks(Jwks::new().path("/auth/keys"))
                .access_token_cookie("at"),
            base()
                .dpop(
                    Dpop::required()
                        .origin("https://api.example.com")
                        .nonces(Duration::from_secs(60)),
                )
                .sessions_route(),
            base()
                .dpop(Dpop::optional().origin("https://api.example.com"))
                .access_token_cookie("at")
                .sessions_route(),
        ] {
            let auth = builder.build().unwrap();
            let core = auth.openapi();
            let utoipa = serde_json::to_value(document(&auth)).unwrap();
            assert_eq!(utoipa["paths"], core["paths"]);
            assert_eq!(utoipa["components"], core["components"]);
        }
    }
}
