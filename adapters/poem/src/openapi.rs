//! The layer's routes in the application's [`poem_openapi`] document (feature `openapi`).
//!
//! The layer's routes have one description: [`RefreshAuth::openapi`], made from the built
//! configuration — its paths, transport, cookies, DPoP and session routes. poem-openapi
//! builds a document from types ([`OpenApi::meta`] takes no `self`), so it cannot describe
//! paths chosen at run time, and its `OpenApiService` takes no outside document. So
//! [`merge`] adds the layer's document to the spec the application's `OpenApiService`
//! writes, and [`spec_endpoint`] serves the result:
//!
//! ```
//! use poem::{EndpointExt, Route};
//! use poem_openapi::{OpenApi, OpenApiService, payload::PlainText};
//! use tower_refresh_auth::{NoClaims, RefreshAuth};
//! use tower_refresh_auth_poem::RefreshAuthMiddleware;
//! use tower_refresh_auth_poem::openapi::{self, BearerAuth};
//!
//! struct Dashboard;
//!
//! #[OpenApi]
//! impl Dashboard {
//!     /// The dashboard; the layer has checked the token.
//!     #[oai(path = "/api/dashboard", method = "get")]
//!     async fn dashboard(&self, _token: BearerAuth) -> PlainText<&'static str> {
//!         PlainText("welcome")
//!     }
//! }
//!
//! let auth = RefreshAuth::<NoClaims>::builder()
//!     .hs256(b"an example secret of at least 32 bytes".to_vec())
//!     .refresh_path("/auth/token")
//!     .sessions_route()
//!     .public_path("/openapi.json")
//!     .build()?;
//! let api = OpenApiService::new(Dashboard, "app", "1.0");
//! let document = openapi::merge(&api, &auth);
//! assert!(document["paths"]["/auth/token"]["post"]["responses"]["503"].is_object());
//! assert!(document["paths"]["/sessions/{id}"]["delete"].is_object());
//! assert!(document["paths"]["/api/dashboard"]["get"]["security"][0]["bearerAuth"].is_array());
//!
//! let app = Route::new()
//!     .at("/openapi.json", openapi::spec_endpoint(&document))
//!     .nest("/", api)
//!     .with(RefreshAuthMiddleware::new(auth));
//! # let _ = app;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! The document keeps the application's `openapi` version, `info` and `servers`; the layer's
//! part reads the same under OpenAPI 3.0, which poem-openapi writes. The layer's paths are
//! absolute: they are the paths the middleware answers, whatever the service is nested
//! under. poem-openapi's UIs (`swagger_ui()`, …) show only the service's own spec; point a
//! UI at the served document's URL instead.

use poem::endpoint::make_sync;
use poem::{Endpoint, Response};
use poem_openapi::auth::Bearer;
use poem_openapi::{OpenApi, OpenApiService, SecurityScheme, Webhook};
use serde_json::{Map, Value};
use tower_refresh_auth::RefreshAuth;

/// The `bearerAuth` security scheme: an access token (RFC 9068 JWT) in `Authorization:
/// Bearer`. Take it as a parameter of the application's protected operations, so the document
/// says they need one; the layer has already verified it by the time the handler runs.
#[derive(Debug, SecurityScheme)]
#[oai(rename = "bearerAuth", ty = "bearer", bearer_format = "JWT")]
pub struct BearerAuth(pub Bearer);

/// The spec `api` writes, with the routes and components of `auth`'s document
/// ([`RefreshAuth::openapi`]) merged in.
///
/// The layer's description wins where both name the same path or component (`bearerAuth`,
/// which [`BearerAuth`] also registers): the layer answers its paths before the
/// application sees them.
pub fn merge<T, W, C>(api: &OpenApiService<T, W>, auth: &RefreshAuth<C>) -> Value
where
    T: OpenApi,
    W: Webhook,
{
    let mut document: Value = serde_json::from_str(&api.spec())
        .expect("poem-openapi writes its spec as JSON (OpenApiService::spec)");
    add(&mut document, auth.openapi());
    document
}

/// An endpoint answering `GET` with `document` as JSON, as `OpenApiService::spec_endpoint`
/// does with the service's own spec.
pub fn spec_endpoint(document: &Value) -> impl Endpoint<Output = Response> + use<> {
    let body = document.to_string();
    make_sync(move |_| {
        Response::builder()
            .content_type("application/json")
            .body(body.clone())
    })
}

/// Puts the paths and components of `layer` into `document`, replacing any of the same name.
fn add(document: &mut Value, layer: Value) {
    let mut root = object(std::mem::take(document));
    let mut layer = object(layer);
    let mut paths = object(root.remove("paths").unwrap_or_default());
    paths.extend(object(layer.remove("paths").unwrap_or_default()));
    root.insert("paths".into(), paths.into());
    let mut components = object(root.remove("components").unwrap_or_default());
    for (kind, named) in object(layer.remove("components").unwrap_or_default()) {
        let mut all = object(components.remove(&kind).unwrap_or_default());
        all.extend(object(named));
        components.insert(kind, all.into());
    }
    root.insert("components".into(), components.into());
    *document = root.into();
}

/// The members of `value`; none if it is not an object.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use poem::test::TestClient;
    use poem::{EndpointExt, Route};
    use poem_openapi::payload::PlainText;
    use serde_json::json;
    use tower_refresh_auth::dpop::Dpop;
    use tower_refresh_auth::keys::{Jwks, SigningKey};
    use tower_refresh_auth::transport::CookieTransport;
    use tower_refresh_auth::{NoClaims, RefreshAuthBuilder};

    use super::*;
    use crate::RefreshAuthMiddleware;

    struct Dashboard;

    #[OpenApi]
    impl Dashboard {
        /// The dashboard.
        #[oai(path = "/api/dashboard", method = "get")]
        async fn dashboard(&self, _token: BearerAuth) -> PlainText<&'static str> {
            PlainText("welcome")
        }
    }

    fn base() -> RefreshAuthBuilder<NoClaims> {
        RefreshAuth::<NoClaims>::builder()
            .signing_key(
                SigningKey::from_file(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../tower-refresh-auth/tests/keys/es256.pem"
                ))
                .unwrap(),
            )
            .refresh_secret(b"a refresh-token secret of 32+ bytes".to_vec())
            .public_path("/openapi.json")
    }

    /// The configurations the served document is checked under: the defaults, every route
    /// moved, the cookies, DPoP.
    fn configurations() -> Vec<RefreshAuth<NoClaims>> {
        [
            base(),
            base()
                .refresh_path("/auth/token")
                .logout_path("/auth/logout")
                .sessions_path("/me/sessions")
                .jwks(Jwks::new().path("/auth/keys")),
            base()
                .transport(CookieTransport::new().csrf_header("x-csrf"))
                .access_token_cookie("at")
                .sessions_route()
                .jwks(Jwks::new()),
            base()
                .dpop(
                    Dpop::required()
                        .origin("https://api.example.com")
                        .nonces(Duration::from_secs(60)),
                )
                .sessions_route(),
        ]
        .into_iter()
        .map(|builder| builder.build().unwrap())
        .collect()
    }

    /// What the poem application serves holds the core's document whole — every path,
    /// schema, response and security scheme, unchanged — beside the application's own
    /// operations: the two cannot disagree.
    #[tokio::test]
    async fn the_served_document_holds_the_cores_whole() {
        for auth in configurations() {
            let api = OpenApiService::new(Dashboard, "app", "1.0");
            let own: Value = serde_json::from_str(&api.spec()).unwrap();
            let document = merge(&api, &auth);
            let app = Route::new()
                .at("/openapi.json", spec_endpoint(&document))
                .nest("/", api)
                .with(RefreshAuthMiddleware::new(auth.clone()));
            let res = TestClient::new(app).get("/openapi.json").send().await;
            res.assert_status_is_ok();
            res.assert_content_type("application/json");
            let served: Value =
                serde_json::from_str(&res.0.into_body().into_string().await.unwrap()).unwrap();
            assert_eq!(served, document);

            let core = auth.openapi();
            let layer_paths = core["paths"].as_object().unwrap();
            for (path, item) in layer_paths {
                assert_eq!(&served["paths"][path], item, "{path}");
            }
            for (kind, named) in core["components"].as_object().unwrap() {
                for (name, component) in named.as_object().unwrap() {
                    assert_eq!(
                        &served["components"][kind][name], component,
                        "{kind} {name}"
                    );
                }
            }
            // Nothing else is added, and the application's own operation is kept.
            let served_paths: Vec<&String> = served["paths"].as_object().unwrap().keys().collect();
            let mut expected: Vec<&String> = layer_paths.keys().collect();
            expected.extend(own["paths"].as_object().unwrap().keys());
            expected.sort();
            assert_eq!(served_paths, expected);
            assert_eq!(
                served["paths"]["/api/dashboard"],
                own["paths"]["/api/dashboard"]
            );
            assert_eq!(served["openapi"], own["openapi"]);
            assert_eq!(served["info"], own["info"]);
        }
    }

    #[test]
    fn the_layer_wins_a_name_both_use() {
        let mut document = json!({
            "openapi": "3.0.0",
            "paths": {"/token": {"get": {}}, "/app": {"get": {}}},
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        });
        add(
            &mut document,
            json!({
                "paths": {"/token": {"post": {}}},
                "components": {
                    "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "description": "x"}},
                    "schemas": {"RefreshAuthError": {}},
                },
            }),
        );
        assert_eq!(
            document,
            json!({
                "openapi": "3.0.0",
                "paths": {"/token": {"post": {}}, "/app": {"get": {}}},
                "components": {
                    "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "description": "x"}},
                    "schemas": {"RefreshAuthError": {}},
                },
            })
        );
    }
}
