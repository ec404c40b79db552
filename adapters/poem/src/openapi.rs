//! The layer's routes in the application's [`poem_openapi`] document (feature `openapi`).
//!
//! [`RefreshAuthApi`] (refresh and logout) and [`JwksApi`] (the JWKS route) are
//! [`OpenApi`](trait@OpenApi) values: put them beside the application's API in its `OpenApiService`, and
//! the document describes the routes — both request encodings, every answer of the protocol
//! document with its schema — and the `bearerAuth` scheme ([`BearerAuth`]), which the
//! application's protected operations take as a parameter. The routes they add answer exactly
//! as the layer does ([`RefreshAuth::answer`]); with the [middleware](crate::RefreshAuthMiddleware)
//! installed, it answers them first anyway.
//!
//! ```
//! use poem::{EndpointExt, Route};
//! use poem_openapi::{OpenApi, OpenApiService, payload::PlainText};
//! use tower_refresh_auth::{NoClaims, RefreshAuth};
//! use tower_refresh_auth_poem::RefreshAuthMiddleware;
//! use tower_refresh_auth_poem::openapi::{BearerAuth, RefreshAuthApi};
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
//!     .public_path("/openapi.json")
//!     .build()?;
//! let api = OpenApiService::new((Dashboard, RefreshAuthApi::new(auth.clone())?), "app", "1.0");
//! let spec: serde_json::Value = serde_json::from_str(&api.spec())?;
//! assert!(spec["paths"]["/token"]["post"]["responses"]["503"].is_object());
//! assert!(spec["paths"]["/api/dashboard"]["get"]["security"][0]["bearerAuth"].is_array());
//!
//! let app = Route::new()
//!     .at("/openapi.json", api.spec_endpoint())
//!     .nest("/", api)
//!     .with(RefreshAuthMiddleware::new(auth));
//! # let _ = app;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! poem-openapi describes an API from types, so these describe the layer's default paths
//! (`/token`, `/logout`, `/.well-known/jwks.json`) in body transport; [`RefreshAuthApi::new`]
//! and [`JwksApi::new`] refuse any other configuration rather than describe it wrongly. The
//! axum adapter's `utoipa` document follows every configuration.

use std::collections::HashMap;

use bytes::Bytes;
use http::Method;
use http_body_util::combinators::BoxBody;
use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, IntoEndpoint};
use poem_openapi::auth::Bearer;
use poem_openapi::payload::{Form, Json};
use poem_openapi::registry::{MetaApi, MetaOperation, MetaPath, Registry};
use poem_openapi::{ApiExtractor, ApiRequest, ApiResponse, Object, OpenApi, SecurityScheme, Union};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower_refresh_auth::{RefreshAuth, adapter::Endpoint};

use crate::response::from_core;

const REFRESH_PATH: &str = "/token";
const LOGOUT_PATH: &str = "/logout";
const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The `bearerAuth` security scheme: an access token (RFC 9068 JWT) in `Authorization:
/// Bearer`. Take it as a parameter of the application's protected operations, so the document
/// says they need one; the layer has already verified it by the time the handler runs.
#[derive(Debug, SecurityScheme)]
#[oai(rename = "bearerAuth", ty = "bearer", bearer_format = "JWT")]
pub struct BearerAuth(pub Bearer);

/// The refresh and logout routes of a [`RefreshAuth`], as an [`OpenApi`](trait@OpenApi) value.
#[derive(Debug)]
pub struct RefreshAuthApi<C> {
    auth: RefreshAuth<C>,
}

/// The JWKS route of a [`RefreshAuth`], as an [`OpenApi`](trait@OpenApi) value.
#[derive(Debug)]
pub struct JwksApi<C> {
    auth: RefreshAuth<C>,
}

/// A configuration the poem-openapi description cannot follow; see [the module](self).
#[derive(Debug)]
pub struct UnsupportedConfiguration {
    route: &'static str,
}

impl std::fmt::Display for UnsupportedConfiguration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the poem-openapi description covers {} at its default path in body transport: \
             describe this configuration with the axum adapter's utoipa document, or by hand",
            self.route
        )
    }
}

impl std::error::Error for UnsupportedConfiguration {}

impl<C> RefreshAuthApi<C> {
    /// The description of `auth`'s refresh and logout routes.
    ///
    /// # Errors
    ///
    /// [`UnsupportedConfiguration`] when `auth` moved either route or uses cookie transport.
    pub fn new(auth: RefreshAuth<C>) -> Result<Self, UnsupportedConfiguration> {
        let doc = auth.openapi();
        for (path, route) in [
            (REFRESH_PATH, "the refresh route"),
            (LOGOUT_PATH, "the logout route"),
        ] {
            // In cookie mode the routes take no body.
            if doc["paths"][path]["post"]["requestBody"].is_null() {
                return Err(UnsupportedConfiguration { route });
            }
        }
        Ok(Self { auth })
    }
}

impl<C> JwksApi<C> {
    /// The description of `auth`'s JWKS route.
    ///
    /// # Errors
    ///
    /// [`UnsupportedConfiguration`] when the route is off or at another path.
    pub fn new(auth: RefreshAuth<C>) -> Result<Self, UnsupportedConfiguration> {
        if auth.openapi()["paths"][JWKS_PATH]["get"].is_null() {
            return Err(UnsupportedConfiguration {
                route: "the JWKS route",
            });
        }
        Ok(Self { auth })
    }
}

impl<C> OpenApi for RefreshAuthApi<C>
where
    C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn meta() -> Vec<MetaApi> {
        vec![MetaApi {
            paths: vec![
                path(
                    REFRESH_PATH,
                    operation(
                        Method::POST,
                        "refreshAuthRefresh",
                        "Trade a refresh token for a new pair",
                        RefreshBody::request_meta(),
                        RefreshAnswer::meta(),
                    ),
                ),
                path(
                    LOGOUT_PATH,
                    operation(
                        Method::POST,
                        "refreshAuthLogout",
                        "Revoke the session of a refresh token",
                        LogoutBody::request_meta(),
                        LogoutAnswer::meta(),
                    ),
                ),
            ],
        }]
    }

    fn register(registry: &mut Registry) {
        RefreshBody::register(registry);
        RefreshAnswer::register(registry);
        LogoutBody::register(registry);
        LogoutAnswer::register(registry);
        BearerAuth::register(registry);
    }

    fn add_routes(self, table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
        for (path, route) in [
            (REFRESH_PATH, Endpoint::Refresh),
            (LOGOUT_PATH, Endpoint::Logout),
        ] {
            table
                .entry(path.to_owned())
                .or_default()
                .insert(Method::POST, answered_by(&self.auth, route));
        }
    }
}

impl<C> OpenApi for JwksApi<C>
where
    C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn meta() -> Vec<MetaApi> {
        vec![MetaApi {
            paths: vec![path(
                JWKS_PATH,
                operation(
                    Method::GET,
                    "refreshAuthJwks",
                    "The public keys that verify access tokens",
                    None,
                    JwksAnswer::meta(),
                ),
            )],
        }]
    }

    fn register(registry: &mut Registry) {
        JwksAnswer::register(registry);
    }

    fn add_routes(self, table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
        table
            .entry(JWKS_PATH.to_owned())
            .or_default()
            .insert(Method::GET, answered_by(&self.auth, Endpoint::Jwks));
    }
}

fn path(path: &str, operation: MetaOperation) -> MetaPath {
    MetaPath {
        path: path.to_owned(),
        operations: vec![operation],
    }
}

fn operation(
    method: Method,
    id: &'static str,
    summary: &'static str,
    request: Option<poem_openapi::registry::MetaRequest>,
    responses: poem_openapi::registry::MetaResponses,
) -> MetaOperation {
    MetaOperation {
        method,
        tags: vec!["auth"],
        summary: Some(summary),
        description: Some("Answered by the refresh-token layer (docs/protocol.md)."),
        external_docs: None,
        params: Vec::new(),
        request,
        responses,
        deprecated: false,
        security: Vec::new(),
        operation_id: Some(id),
        code_samples: Vec::new(),
    }
}

/// An endpoint answering `route` exactly as the layer does.
fn answered_by<C>(auth: &RefreshAuth<C>, route: Endpoint) -> BoxEndpoint<'static>
where
    C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    let auth = auth.clone();
    poem::endpoint::make(move |req: poem::Request| {
        let auth = auth.clone();
        async move {
            let req: http::Request<BoxBody<Bytes, std::io::Error>> = req.into();
            from_core(auth.answer(route, req).await)
        }
    })
    .into_endpoint()
    .map_to_response()
    .boxed()
}

// What follows only describes: the layer builds these answers itself (in the core), so the
// types are read by poem-openapi for their schemas and never constructed.

/// `{"refreshToken": "…"}`.
#[derive(Object)]
#[oai(rename = "RefreshAuthRefreshRequest")]
struct RefreshRequest {
    /// The refresh token (76 characters).
    #[oai(rename = "refreshToken")]
    refresh_token: String,
}

/// RFC 6749 §6.
#[derive(Object, serde::Deserialize)]
#[oai(rename = "RefreshAuthRefreshForm")]
struct RefreshForm {
    /// `refresh_token`.
    grant_type: String,
    /// The refresh token.
    refresh_token: String,
}

/// `{"refreshToken": "…"}`.
#[derive(Object)]
#[oai(rename = "RefreshAuthLogoutRequest")]
struct LogoutRequest {
    /// The refresh token.
    #[oai(rename = "refreshToken")]
    refresh_token: String,
}

/// RFC 7009 §2.1.
#[derive(Object, serde::Deserialize)]
#[oai(rename = "RefreshAuthLogoutForm")]
struct LogoutForm {
    /// The refresh token.
    token: String,
    /// Accepted and not needed.
    token_type_hint: Option<String>,
}

#[derive(ApiRequest)]
#[allow(dead_code)] // described, never built
enum RefreshBody {
    /// JSON.
    Json(Json<RefreshRequest>),
    /// A form, as in RFC 6749 §6.
    Form(Form<RefreshForm>),
}

#[derive(ApiRequest)]
#[allow(dead_code)] // described, never built
enum LogoutBody {
    /// JSON: answered `204`.
    Json(Json<LogoutRequest>),
    /// A form, as in RFC 7009 §2.1: answered `200`.
    Form(Form<LogoutForm>),
}

/// The answer to a JSON request.
#[derive(Object)]
#[oai(rename = "RefreshAuthTokenPair")]
struct TokenPair {
    /// An RFC 9068 JWT.
    #[oai(rename = "accessToken")]
    access_token: String,
    /// The successor refresh token.
    #[oai(rename = "refreshToken")]
    refresh_token: String,
    /// `Bearer`.
    #[oai(rename = "tokenType")]
    token_type: String,
    /// Seconds the access token lives.
    #[oai(rename = "expiresIn")]
    expires_in: u64,
}

/// The answer to a form request (RFC 6749 §5.1).
#[derive(Object)]
#[oai(rename = "RefreshAuthOAuthTokenResponse")]
struct OAuthTokenResponse {
    /// An RFC 9068 JWT.
    access_token: String,
    /// `Bearer`.
    token_type: String,
    /// Seconds the access token lives.
    expires_in: u64,
    /// The successor refresh token.
    refresh_token: String,
}

#[derive(Union)]
#[oai(rename = "RefreshAuthTokenResponse")]
#[allow(dead_code)] // described, never built
enum TokenResponse {
    Pair(TokenPair),
    OAuth(OAuthTokenResponse),
}

/// RFC 6749 §5.2 / RFC 6750 §3.
#[derive(Object)]
#[oai(rename = "RefreshAuthError")]
struct ErrorBody {
    /// The error code.
    error: String,
    /// What went wrong, safe to show.
    error_description: String,
}

/// A public JWK (RFC 7517): public parameters only.
#[derive(Object)]
#[oai(rename = "RefreshAuthJwk")]
struct Jwk {
    /// `RSA`, `EC` or `OKP`.
    kty: String,
    /// The `kid` of the tokens it verifies.
    kid: String,
    /// The algorithm.
    alg: String,
    /// `sig`.
    #[oai(rename = "use")]
    use_: String,
    /// RSA modulus.
    n: Option<String>,
    /// RSA exponent.
    e: Option<String>,
    /// `P-256`, `P-384` or `Ed25519`.
    crv: Option<String>,
    /// EC or OKP x.
    x: Option<String>,
    /// EC y.
    y: Option<String>,
}

/// A JWK Set (RFC 7517 §5).
#[derive(Object)]
#[oai(rename = "RefreshAuthJwkSet")]
struct JwkSet {
    /// The signing key first, then every key that still verifies.
    keys: Vec<Jwk>,
}

#[derive(ApiResponse)]
#[allow(dead_code)] // described, never built
enum RefreshAnswer {
    /// A new token pair; the presented refresh token is spent.
    #[oai(status = 200)]
    Ok(Json<TokenResponse>, #[oai(header = "Cache-Control")] String),
    /// `invalid_request`, `invalid_grant` or `unsupported_grant_type`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// A method other than POST.
    #[oai(status = 405)]
    MethodNotAllowed(
        Json<ErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Allow")] String,
    ),
    /// The body is over the limit.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// Neither JSON nor a form.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// `server_error`: the application's claims could not be put in a token.
    #[oai(status = 500)]
    ServerError(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// `temporarily_unavailable`: the store failed; retry.
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Retry-After")] u64,
    ),
}

#[derive(ApiResponse)]
#[allow(dead_code)] // described, never built
enum LogoutAnswer {
    /// Logged out (form request, RFC 7009 §2.2).
    #[oai(status = 200)]
    Ok(#[oai(header = "Cache-Control")] String),
    /// Logged out (JSON request).
    #[oai(status = 204)]
    NoContent(#[oai(header = "Cache-Control")] String),
    /// `invalid_request`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// A method other than POST.
    #[oai(status = 405)]
    MethodNotAllowed(
        Json<ErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Allow")] String,
    ),
    /// The body is over the limit.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// Neither JSON nor a form.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// `temporarily_unavailable`: the store failed; retry.
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Retry-After")] u64,
    ),
}

#[derive(ApiResponse)]
#[allow(dead_code)] // described, never built
enum JwksAnswer {
    /// The JWK Set.
    #[oai(status = 200)]
    Ok(Json<JwkSet>, #[oai(header = "Cache-Control")] String),
    /// A method other than GET; no body.
    #[oai(status = 405)]
    MethodNotAllowed(#[oai(header = "Allow")] String),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use poem::Route as Router;
    use poem::test::TestClient;
    use poem_openapi::OpenApiService;
    use serde_json::Value;
    use tower_refresh_auth::keys::{Jwks, SigningKey};
    use tower_refresh_auth::{NoClaims, transport::RefreshTransport};

    use super::*;
    use crate::RefreshAuthMiddleware;

    fn auth() -> RefreshAuth<NoClaims> {
        RefreshAuth::<NoClaims>::builder()
            .signing_key(
                SigningKey::from_file(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../tower-refresh-auth/tests/keys/es256.pem"
                ))
                .unwrap(),
            )
            .refresh_secret(b"a refresh-token secret of 32+ bytes".to_vec())
            .jwks(Jwks::new())
            .build()
            .unwrap()
    }

    fn service(
        auth: &RefreshAuth<NoClaims>,
    ) -> OpenApiService<(RefreshAuthApi<NoClaims>, JwksApi<NoClaims>), ()> {
        OpenApiService::new(
            (
                RefreshAuthApi::new(auth.clone()).unwrap(),
                JwksApi::new(auth.clone()).unwrap(),
            ),
            "test",
            "1",
        )
    }

    fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(target) => {
                &doc["components"]["schemas"][target.trim_start_matches("#/components/schemas/")]
            }
            None => schema,
        }
    }

    fn media_type(content_type: &str) -> &str {
        content_type.split(';').next().unwrap_or_default().trim()
    }

    /// The JSON schema of a response, `Null` when it has no JSON body.
    fn json_schema(response: &Value) -> Value {
        response["content"]
            .as_object()
            .into_iter()
            .flatten()
            .find(|(media, _)| media_type(media) == "application/json")
            .map_or(Value::Null, |(_, content)| content["schema"].clone())
    }

    /// The property names of a response's JSON schema, through `$ref` and `oneOf`/`anyOf`.
    fn properties(doc: &Value, schema: &Value) -> BTreeSet<String> {
        let schema = resolve(doc, schema);
        let options = schema["oneOf"].as_array().or(schema["anyOf"].as_array());
        match options {
            Some(options) => options.iter().flat_map(|o| properties(doc, o)).collect(),
            None => schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// The poem-openapi description says what the core's does: the same operations, request
    /// encodings, statuses, headers and body properties. The core's is checked against real
    /// answers (tower-refresh-auth/tests/openapi.rs), so this one is too.
    #[test]
    fn the_description_agrees_with_the_core_document() {
        let auth = auth();
        let core = auth.openapi();
        let poem: Value = serde_json::from_str(&service(&auth).spec()).unwrap();
        for (path, method) in [
            (REFRESH_PATH, "post"),
            (LOGOUT_PATH, "post"),
            (JWKS_PATH, "get"),
        ] {
            let ours = &core["paths"][path][method];
            let theirs = &poem["paths"][path][method];
            // poem-openapi writes JSON as `application/json; charset=utf-8`: the same media
            // type (RFC 8259 §11: the parameter has no effect).
            let keys = |v: &Value| -> BTreeSet<String> {
                v.as_object()
                    .map(|o| o.keys().map(|k| media_type(k).to_owned()).collect())
                    .unwrap_or_default()
            };
            assert_eq!(
                keys(&theirs["requestBody"]["content"]),
                keys(&ours["requestBody"]["content"]),
                "{path}"
            );
            assert_eq!(
                keys(&theirs["responses"]),
                keys(&ours["responses"]),
                "{path}"
            );
            for (status, response) in ours["responses"].as_object().unwrap() {
                let described = &theirs["responses"][status];
                let lower = |set: BTreeSet<String>| -> BTreeSet<String> {
                    set.into_iter().map(|h| h.to_ascii_lowercase()).collect()
                };
                assert_eq!(
                    lower(keys(&described["headers"])),
                    lower(keys(&response["headers"])),
                    "{path} {status}"
                );
                assert_eq!(
                    properties(&poem, &json_schema(described)),
                    properties(&core, &json_schema(response)),
                    "{path} {status}"
                );
            }
        }
        assert_eq!(
            poem["components"]["securitySchemes"]["bearerAuth"]["scheme"],
            "bearer"
        );
    }

    /// The routes the description adds answer as the layer does, even without the middleware.
    #[tokio::test]
    async fn the_routes_answer_as_the_layer_does() {
        let auth = auth();
        let alone = TestClient::new(Router::new().nest("/", service(&auth)).boxed());
        let with_layer = TestClient::new(
            Router::new()
                .nest("/", service(&auth))
                .with(RefreshAuthMiddleware::new(auth.clone()))
                .boxed(),
        );
        for client in [&alone, &with_layer] {
            let pair = auth.issue("user1", NoClaims {}).await.unwrap();
            let res = client
                .post(REFRESH_PATH)
                .content_type("application/json")
                .body(format!(r#"{{"refreshToken":"{}"}}"#, pair.refresh_token))
                .send()
                .await;
            res.assert_status_is_ok();
            let res = client
                .post(REFRESH_PATH)
                .content_type("application/json")
                .body("{}")
                .send()
                .await;
            res.assert_status(http::StatusCode::BAD_REQUEST);
            res.assert_header("cache-control", "no-store");
            let res = client
                .post(LOGOUT_PATH)
                .content_type("application/x-www-form-urlencoded")
                .body(format!("token={}", pair.refresh_token))
                .send()
                .await;
            res.assert_status_is_ok();
            let res = client.get(JWKS_PATH).send().await;
            res.assert_status_is_ok();
            res.assert_header("cache-control", "public, max-age=60");
        }
    }

    #[test]
    fn a_configuration_it_cannot_describe_is_refused() {
        let base = || {
            RefreshAuth::<NoClaims>::builder()
                .hs256(b"an example secret of at least 32 bytes".to_vec())
        };
        let cookie = base()
            .transport(RefreshTransport::cookie())
            .build()
            .unwrap();
        let err = RefreshAuthApi::new(cookie).unwrap_err().to_string();
        assert!(err.contains("the refresh route"), "{err}");
        let moved = base().logout_path("/auth/logout").build().unwrap();
        let err = RefreshAuthApi::new(moved).unwrap_err().to_string();
        assert!(err.contains("the logout route"), "{err}");
        let err = JwksApi::new(base().build().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("the JWKS route"), "{err}");
        assert!(RefreshAuthApi::new(base().build().unwrap()).is_ok());
    }
}
