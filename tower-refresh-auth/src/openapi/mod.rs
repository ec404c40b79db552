//! The layer's routes as an OpenAPI document: the one description of them, which every
//! adapter serves.
//!
//! [`RefreshAuth::openapi`](crate::RefreshAuth::openapi) describes the routes this authority answers — refresh, logout
//! and, when enabled, the JWKS route, the session routes and introspection — read from the built
//! configuration: their paths, the transport (request bodies in both encodings, or the
//! refresh cookie and the CSRF header), the access-token cookie, DPoP (the `DPoP` header, its
//! errors and nonces), with every response of docs/protocol.md and its schema, and the
//! security schemes the application's own protected operations refer to. The document is
//! plain JSON, framework-free; the axum adapter reads it as a `utoipa` document, the poem
//! adapter merges it into the application's `poem-openapi` one.
//!
//! It is written so that it reads the same as OpenAPI 3.0 and 3.1 (poem-openapi writes 3.0,
//! utoipa 3.1): fixed values are one-value `enum`s (not `const`), no type lists. Names in
//! `components` start with `RefreshAuth` so they do not collide with the application's, but
//! for the security schemes: [`SECURITY_SCHEME`], and with DPoP, an access-token cookie or
//! introspection [`DPOP_SECURITY_SCHEME`], [`COOKIE_SECURITY_SCHEME`] and
//! [`INTROSPECTION_SECURITY_SCHEME`].
//!
//! ```
//! use tower_refresh_auth::{NoClaims, RefreshAuth};
//!
//! let auth = RefreshAuth::<NoClaims>::builder()
//!     .hs256(b"an example secret of at least 32 bytes".to_vec())
//!     .build()?;
//! let doc = auth.openapi();
//! let refresh = &doc["paths"]["/token"]["post"];
//! assert!(refresh["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
//! assert!(refresh["responses"]["503"]["headers"]["Retry-After"].is_object());
//! assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
//! # Ok::<_, tower_refresh_auth::ConfigError>(())
//! ```

mod introspection;
mod schemas;
mod sessions;

pub use self::introspection::INTROSPECTION_SECURITY_SCHEME;

use serde_json::{Map, Value, json};

use crate::dpop::DpopMode;
use crate::guard::Guard;
use crate::routes::csrf_header;
use crate::shared::Shared;
use crate::transport::{CookieSettings, Transport};

/// The bearer security scheme's name in `components.securitySchemes`: an access token in
/// `Authorization: Bearer`.
pub const SECURITY_SCHEME: &str = "bearerAuth";

/// The DPoP security scheme's name, present with DPoP on: `Authorization: DPoP <token>`
/// with a proof in the `DPoP` header (RFC 9449 §7.1). Written as an `apiKey` in the
/// `Authorization` header, since OpenAPI tools know no `DPoP` HTTP scheme.
pub const DPOP_SECURITY_SCHEME: &str = "dpopAuth";

/// The access-token cookie's security scheme name, present with an
/// [`access_token_cookie`](crate::RefreshAuthBuilder::access_token_cookie).
pub const COOKIE_SECURITY_SCHEME: &str = "accessTokenCookie";

/// The document of [`RefreshAuth::openapi`](crate::RefreshAuth::openapi).
pub(crate) fn document_of(shared: &Shared) -> Value {
    document(&Config::of(shared))
}

/// What the document depends on, read once from the built configuration.
struct Config<'a> {
    guard: &'a Guard,
    /// Cookie mode's settings; `None` in body transport.
    refresh_cookie: Option<&'a CookieSettings>,
    access_cookie: Option<&'a str>,
    /// The header a session route's `DELETE` needs when its token came in a cookie.
    csrf_header: &'a str,
    /// The DPoP mode, `None` when off.
    dpop: Option<DpopMode>,
    /// Whether DPoP proofs must carry a server nonce.
    nonces: bool,
    /// The DPoP algorithms accepted, as the challenge lists them.
    dpop_algs: String,
    body_limit: usize,
}

impl<'a> Config<'a> {
    fn of(shared: &'a Shared) -> Self {
        let dpop = shared.dpop.settings();
        Self {
            guard: &shared.http.guard,
            refresh_cookie: match &shared.http.transport {
                Transport::Body => None,
                Transport::Cookie(cookie) => Some(cookie),
            },
            access_cookie: shared.http.access_cookie.as_deref(),
            csrf_header: csrf_header(shared).as_str(),
            dpop: dpop.map(|d| d.mode),
            nonces: dpop.is_some_and(|d| d.rules.nonces.is_some()),
            dpop_algs: dpop.map_or_else(String::new, |d| d.rules.algs_param()),
            body_limit: shared.http.body_limit,
        }
    }
}

fn document(config: &Config<'_>) -> Value {
    let guard = config.guard;
    let mut paths = Map::new();
    paths.insert(guard.refresh_path.clone(), json!({"post": refresh(config)}));
    paths.insert(guard.logout_path.clone(), json!({"post": logout(config)}));
    if let Some(jwks) = &guard.jwks_path {
        paths.insert(jwks.clone(), json!({"get": jwks_operation()}));
    }
    if let Some(base) = &guard.sessions_path {
        paths.insert(
            base.clone(),
            json!({
                "get": sessions::list(config),
                "delete": sessions::end_all(config),
            }),
        );
        paths.insert(
            format!("{base}/{{id}}"),
            json!({"delete": sessions::end_one(config)}),
        );
    }
    if let Some(path) = &guard.introspection_path {
        paths.insert(
            path.clone(),
            json!({"post": introspection::operation(config)}),
        );
    }
    let mut security_schemes = Map::new();
    security_schemes.insert(
        SECURITY_SCHEME.into(),
        json!({
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token (RFC 9068 JWT, `typ: at+jwt`) from the login route or the refresh route.",
        }),
    );
    if config.dpop.is_some() {
        security_schemes.insert(
            DPOP_SECURITY_SCHEME.into(),
            json!({
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`DPoP <token>`: an access token bound to a DPoP key (RFC 9449 §7.1), with a proof of this request by that key in the `DPoP` header.",
            }),
        );
    }
    if let Some(name) = config.access_cookie {
        security_schemes.insert(
            COOKIE_SECURITY_SCHEME.into(),
            json!({
                "type": "apiKey",
                "in": "cookie",
                "name": name,
                "description": "An access token in a cookie instead of `Authorization` (never both in one request).",
            }),
        );
    }
    let mut schemas = schemas::schemas(config);
    if guard.introspection_path.is_some() {
        security_schemes.insert(
            INTROSPECTION_SECURITY_SCHEME.into(),
            introspection::security_scheme(),
        );
        if let Value::Object(schemas) = &mut schemas {
            introspection::schemas(schemas);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tower-refresh-auth",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The routes answered by the refresh-token layer (docs/protocol.md).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "RefreshAuthUnauthorized": {
                    "description": "No valid access token (RFC 6750 §3): missing, expired, revoked or not verifying. No `error` code when none was sent.",
                    "headers": {"WWW-Authenticate": challenge_header(config), "Cache-Control": no_store()},
                    "content": error_content(),
                },
                "RefreshAuthBadCredentials": {
                    "description": "Credentials that cannot be a bearer token (`invalid_request`, RFC 6750 §3.1).",
                    "headers": {"WWW-Authenticate": challenge_header(config), "Cache-Control": no_store()},
                    "content": error_content(),
                },
            },
            "securitySchemes": security_schemes,
        },
    })
}

/// `POST /token` (docs/protocol.md §3, §10).
fn refresh(config: &Config<'_>) -> Value {
    let cookie = config.refresh_cookie.is_some();
    let mut bad_request = "`invalid_request` (a missing or malformed token), `invalid_grant` (unknown, expired, revoked, reused or forged; one answer for all) or `unsupported_grant_type`".to_owned();
    if config.dpop.is_some() {
        bad_request.push_str(
            "; with DPoP, `invalid_dpop_proof` (a missing, bad or replayed proof, or one by another key than the session's)",
        );
        if config.nonces {
            bad_request.push_str(" or `use_dpop_nonce` (a fresh nonce in `DPoP-Nonce`)");
        }
    }
    bad_request.push('.');
    let mut responses = json!({
        "200": {
            "description": "A new token pair; the presented refresh token is spent (RFC 6749 §6, §5.1).",
            "headers": {"Cache-Control": no_store()},
            "content": {"application/json": {"schema": if cookie {
                json!({"$ref": "#/components/schemas/RefreshAuthTokenPairInCookie"})
            } else {
                json!({"oneOf": [
                    {"$ref": "#/components/schemas/RefreshAuthTokenPair"},
                    {"$ref": "#/components/schemas/RefreshAuthOAuthTokenResponse"},
                ]})
            }}},
        },
        "400": error(&bad_request),
        "405": method_not_allowed("POST"),
        "500": error("`server_error`: the application's claims could not be put in a token (a bug in the application)."),
        "503": unavailable(),
    });
    if cookie {
        responses["200"]["headers"]["Set-Cookie"] = set_cookie();
        responses["400"]["headers"]["Set-Cookie"] = json!({
            "description": "On `invalid_grant`: the refresh cookies, cleared.",
            "schema": {"type": "string"},
        });
        responses["403"] = error("`invalid_request`: the CSRF header is missing.");
    } else {
        add_body_errors(&mut responses, config.body_limit);
    }
    if config.nonces {
        // RFC 9449 §8.2: every pair comes with the current nonce.
        responses["200"]["headers"]["DPoP-Nonce"] = dpop_nonce("The current nonce.");
        responses["400"]["headers"]["DPoP-Nonce"] =
            dpop_nonce("On `use_dpop_nonce`: the nonce to put in the next proof.");
    }
    let mut operation = json!({
        "tags": ["auth"],
        "operationId": "refreshAuthRefresh",
        "summary": "Trade a refresh token for a new pair",
        "description": "Rotation with reuse detection: a spent token presented again inside the grace window gets the same successor; after it, the whole session is revoked (docs/protocol.md §3).",
        "security": [],
        "responses": responses,
    });
    let mut parameters = refresh_cookie_parameters(config);
    if let Some(mode) = config.dpop {
        parameters.push(dpop_proof_parameter(
            config,
            mode == DpopMode::Required,
            "A DPoP proof of this request (RFC 9449 §4): binds an unbound session to its key; a bound session refreshes only with a proof by its key.",
        ));
    }
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
    if !cookie {
        operation["requestBody"] = json!({
            "required": true,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RefreshAuthRefreshRequest"}},
                "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/RefreshAuthRefreshForm"}},
            },
        });
    }
    operation
}

/// `POST /logout` (docs/protocol.md §4). It takes no DPoP proof: a `DPoP` header is ignored.
fn logout(config: &Config<'_>) -> Value {
    let cookie = config.refresh_cookie.is_some();
    let mut responses = json!({
        "204": {
            "description": "Logged out (JSON body, or cookie mode): the token's session is revoked, whether or not the token was known (RFC 7009 §2.2).",
            "headers": {"Cache-Control": no_store()},
        },
        "400": error("`invalid_request`: the token is missing, or the body is malformed."),
        "405": method_not_allowed("POST"),
        "503": unavailable(),
    });
    if cookie {
        responses["204"]["headers"]["Set-Cookie"] = json!({
            "description": "The refresh cookies, cleared.",
            "schema": {"type": "string"},
        });
        responses["403"] = error("`invalid_request`: the CSRF header is missing.");
    } else {
        responses["200"] = json!({
            "description": "Logged out (form body, RFC 7009 §2.2): as `204`, in the answer RFC 7009 prescribes.",
            "headers": {"Cache-Control": no_store()},
        });
        add_body_errors(&mut responses, config.body_limit);
    }
    let mut operation = json!({
        "tags": ["auth"],
        "operationId": "refreshAuthLogout",
        "summary": "Revoke the session of a refresh token",
        "description": "RFC 7009 token revocation: the whole session ends, and no token of that login refreshes again (docs/protocol.md §4).",
        "security": [],
        "responses": responses,
    });
    let parameters = refresh_cookie_parameters(config);
    if cookie {
        operation["parameters"] = Value::Array(parameters);
    } else {
        operation["requestBody"] = json!({
            "required": true,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RefreshAuthLogoutRequest"}},
                "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/RefreshAuthLogoutForm"}},
            },
        });
    }
    operation
}

/// Cookie mode: the refresh token travels in a cookie, and the CSRF header must come with
/// it (docs/protocol.md §5). Empty in body transport.
fn refresh_cookie_parameters(config: &Config<'_>) -> Vec<Value> {
    let Some(cookie) = config.refresh_cookie else {
        return Vec::new();
    };
    vec![
        json!({
            "name": cookie.name,
            "in": "cookie",
            "required": false,
            "description": "The refresh token, set by the login route and by every refresh (HttpOnly, SameSite=Strict).",
            "schema": {"type": "string"},
        }),
        json!({
            "name": cookie.csrf_header.as_str(),
            "in": "header",
            "required": true,
            "description": "Any value: proves the request did not come from a cross-site form.",
            "schema": {"type": "string"},
        }),
    ]
}

fn dpop_proof_parameter(config: &Config<'_>, required: bool, description: &str) -> Value {
    let mut description = format!(
        "{description} A JWS signed with {}, at most {} bytes.",
        config.dpop_algs,
        crate::dpop::MAX_PROOF_LEN,
    );
    if config.nonces {
        description.push_str(" It must carry a nonce from `DPoP-Nonce`.");
    }
    json!({
        "name": "DPoP",
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    })
}

fn jwks_operation() -> Value {
    json!({
        "tags": ["auth"],
        "operationId": "refreshAuthJwks",
        "summary": "The public keys that verify access tokens",
        "description": "A JWK Set (RFC 7517 §5): the signing key first, then every key that still verifies (docs/protocol.md §7).",
        "security": [],
        "responses": {
            "200": {
                "description": "The JWK Set.",
                "headers": {"Cache-Control": {
                    "description": "`public, max-age=N`, N no longer than the key overlap.",
                    "schema": {"type": "string"},
                }},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RefreshAuthJwkSet"}}},
            },
            "405": {
                "description": "A method other than GET; no body.",
                "headers": {"Allow": {"schema": {"type": "string", "enum": ["GET"]}}},
            },
        },
    })
}

/// `413` and `415`: the errors of reading a request body.
fn add_body_errors(responses: &mut Value, limit: usize) {
    responses["413"] = error(&format!(
        "`invalid_request`: the body is over {limit} bytes."
    ));
    responses["415"] = error(
        "`invalid_request`: a content type other than `application/json` and `application/x-www-form-urlencoded`.",
    );
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "headers": {"Cache-Control": no_store()},
        "content": error_content(),
    })
}

fn method_not_allowed(allow: &str) -> Value {
    let mut res = error("`invalid_request`: a method other than the route's.");
    res["headers"]["Allow"] = json!({"schema": {"type": "string", "enum": [allow]}});
    res
}

fn unavailable() -> Value {
    let mut res = error(
        "`temporarily_unavailable`: the session store failed or timed out; the client keeps its tokens and retries.",
    );
    res["headers"]["Retry-After"] = json!({
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    });
    res
}

fn error_content() -> Value {
    json!({"application/json": {"schema": {"$ref": "#/components/schemas/RefreshAuthError"}}})
}

fn no_store() -> Value {
    json!({"schema": {"type": "string", "enum": ["no-store"]}})
}

fn challenge_header(config: &Config<'_>) -> Value {
    let description = match config.dpop {
        None => "`Bearer realm=\"…\"`, with `error` and `error_description` when a token was sent."
            .to_owned(),
        Some(DpopMode::Required) => format!(
            "`DPoP algs=\"{}\"`, with `error` and `error_description` when a token was sent (RFC 9449 §7.1).",
            config.dpop_algs
        ),
        Some(_) => format!(
            "`Bearer realm=\"…\"` and `DPoP algs=\"{}\"` (RFC 9449 §7.1), the error on the challenge of the scheme that failed.",
            config.dpop_algs
        ),
    };
    json!({"description": description, "schema": {"type": "string"}})
}

fn dpop_nonce(description: &str) -> Value {
    json!({"description": description, "schema": {"type": "string"}})
}

fn set_cookie() -> Value {
    json!({
        "description": "The new refresh token, once per route path (HttpOnly, Secure, SameSite=Strict).",
        "schema": {"type": "string"},
    })
}
