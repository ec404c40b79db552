//! The layer's routes as an OpenAPI 3.1 document, to merge into the application's own.
//!
//! [`RefreshAuth::openapi`] describes the routes this authority answers — refresh, logout
//! and, when enabled, the JWKS route and the session routes — at their configured paths and in their configured
//! transport (request bodies in both encodings, or the refresh cookie and the CSRF header),
//! with every response of docs/protocol.md and its schema, and the `bearerAuth` security
//! scheme the application's own protected operations refer to. The document is plain JSON,
//! framework-free; the axum adapter turns it into a `utoipa` document.
//!
//! Fixed values are written as one-value `enum`s (not `const`), which every OpenAPI tool
//! reads. Names in `components` start with `RefreshAuth` so they do not collide with the
//! application's; the security scheme is `bearerAuth`.
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

use serde_json::{Map, Value, json};

use crate::authority::RefreshAuth;
use crate::shared::Shared;
use crate::transport::Transport;

/// The security scheme's name in `components.securitySchemes`.
pub const SECURITY_SCHEME: &str = "bearerAuth";

impl<C> RefreshAuth<C> {
    /// This authority's routes as an OpenAPI 3.1 document (see [the module](crate::openapi)):
    /// `paths`, `components.schemas`, `components.responses` (`RefreshAuthUnauthorized` and
    /// `RefreshAuthBadCredentials`, for the application's protected operations) and
    /// `components.securitySchemes.bearerAuth`.
    ///
    /// With a custom [`error_body`](crate::RefreshAuthBuilder::error_body) the error schemas
    /// describe the standard body, not the application's.
    pub fn openapi(&self) -> Value {
        document(&self.shared)
    }
}

fn document(shared: &Shared) -> Value {
    let guard = &shared.guard;
    let cookie = match &shared.transport {
        Transport::Body => None,
        Transport::Cookie(cookie) => Some(cookie),
    };
    let mut paths = Map::new();
    paths.insert(
        guard.refresh_path.clone(),
        json!({"post": refresh(shared, cookie.is_some())}),
    );
    paths.insert(
        guard.logout_path.clone(),
        json!({"post": logout(shared, cookie.is_some())}),
    );
    if let Some(jwks) = &guard.jwks_path {
        paths.insert(jwks.clone(), json!({"get": jwks_operation()}));
    }
    if let Some(base) = &guard.sessions_path {
        paths.insert(
            base.clone(),
            json!({"get": list_sessions(), "delete": end_sessions("refreshAuthEndAllSessions")}),
        );
        let mut end_one = end_sessions("refreshAuthEndSession");
        end_one["summary"] = json!("End one of the caller's sessions");
        end_one["parameters"] = json!([{
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The session's id: the `sid` of its access tokens.",
            "schema": {"type": "string"},
        }]);
        end_one["responses"]["404"] = json!({
            "description": "An unknown id, or another user's session: the same answer (no oracle).",
            "headers": {"Cache-Control": no_store()},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RefreshAuthNotFound"}}},
        });
        end_one["responses"]["405"] = sessions_method_not_allowed("DELETE");
        paths.insert(format!("{base}/{{id}}"), json!({"delete": end_one}));
    }
    // Cookie mode: the refresh token travels in a cookie, and the CSRF header must come with
    // it (docs/protocol.md §5).
    if let Some(cookie) = cookie {
        let parameters = json!([
            {
                "name": cookie.name,
                "in": "cookie",
                "required": false,
                "description": "The refresh token, set by the login route and by every refresh (HttpOnly, SameSite=Strict).",
                "schema": {"type": "string"},
            },
            {
                "name": cookie.csrf_header.as_str(),
                "in": "header",
                "required": true,
                "description": "Any value: proves the request did not come from a cross-site form.",
                "schema": {"type": "string"},
            },
        ]);
        for path in [&guard.refresh_path, &guard.logout_path] {
            paths[path]["post"]["parameters"] = parameters.clone();
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
            "schemas": schemas(shared.body_limit),
            "responses": {
                "RefreshAuthUnauthorized": {
                    "description": "No valid access token (RFC 6750 §3): missing, expired, revoked or not verifying. No `error` code when none was sent.",
                    "headers": {"WWW-Authenticate": challenge_header(), "Cache-Control": no_store()},
                    "content": error_content(),
                },
                "RefreshAuthBadCredentials": {
                    "description": "Credentials that cannot be a bearer token (`invalid_request`, RFC 6750 §3.1).",
                    "headers": {"WWW-Authenticate": challenge_header(), "Cache-Control": no_store()},
                    "content": error_content(),
                },
            },
            "securitySchemes": {
                (SECURITY_SCHEME): {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token (RFC 9068 JWT, `typ: at+jwt`) from the login route or the refresh route.",
                },
            },
        },
    })
}

fn refresh(shared: &Shared, cookie: bool) -> Value {
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
        "400": error("`invalid_request` (a missing or malformed token), `invalid_grant` (unknown, expired, revoked, reused or forged; one answer for all) or `unsupported_grant_type`."),
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
        add_body_errors(&mut responses, shared.body_limit);
    }
    let mut operation = json!({
        "tags": ["auth"],
        "operationId": "refreshAuthRefresh",
        "summary": "Trade a refresh token for a new pair",
        "description": "Rotation with reuse detection: a spent token presented again inside the grace window gets the same successor; after it, the whole session is revoked (docs/protocol.md §3).",
        "security": [],
        "responses": responses,
    });
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

fn logout(shared: &Shared, cookie: bool) -> Value {
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
        add_body_errors(&mut responses, shared.body_limit);
    }
    let mut operation = json!({
        "tags": ["auth"],
        "operationId": "refreshAuthLogout",
        "summary": "Revoke the session of a refresh token",
        "description": "RFC 7009 token revocation: the whole session ends, and no token of that login refreshes again (docs/protocol.md §4).",
        "security": [],
        "responses": responses,
    });
    if !cookie {
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

/// `GET /sessions` (docs/protocol.md §8).
fn list_sessions() -> Value {
    let mut responses = sessions_responses();
    responses["400"]["description"] = json!(
        "Credentials that cannot be a bearer token, or a `limit` or `cursor` that is not one (`invalid_request`)."
    );
    responses["200"] = json!({
        "description": "One page of the caller's live sessions, newest first, and `next` when a page follows.",
        "headers": {"Cache-Control": no_store()},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RefreshAuthSessionList"}}},
    });
    json!({
        "tags": ["auth"],
        "operationId": "refreshAuthListSessions",
        "summary": "The caller's sessions",
        "parameters": [
            {
                "name": "limit",
                "in": "query",
                "required": false,
                "description": format!("How many sessions at most; more than {} lists {}.", crate::routes::MAX_PAGE, crate::routes::MAX_PAGE),
                "schema": {"type": "integer", "minimum": 1, "default": crate::routes::DEFAULT_PAGE},
            },
            {
                "name": "cursor",
                "in": "query",
                "required": false,
                "description": "The `next` of the page before: the page after it.",
                "schema": {"type": "string"},
            },
        ],
        "security": [{(SECURITY_SCHEME): []}],
        "responses": responses,
    })
}

/// `DELETE /sessions` and, with its parameter and `404` added, `DELETE /sessions/{id}`.
fn end_sessions(operation: &str) -> Value {
    let mut responses = sessions_responses();
    responses["204"] = json!({"description": "Ended."});
    responses["403"] =
        error("`invalid_request`: the access token came in a cookie without the CSRF header.");
    json!({
        "tags": ["auth"],
        "operationId": operation,
        "summary": "End every session of the caller (log out everywhere)",
        "security": [{(SECURITY_SCHEME): []}],
        "responses": responses,
    })
}

/// What every session route answers besides its success.
fn sessions_responses() -> Value {
    let mut unauthorized = error(
        "No valid access token, or the caller's own session has ended (`invalid_token`, \"the session has been revoked\").",
    );
    unauthorized["headers"]["WWW-Authenticate"] = challenge_header();
    let mut bad_credentials =
        error("Credentials that cannot be a bearer token (`invalid_request`).");
    bad_credentials["headers"]["WWW-Authenticate"] = challenge_header();
    json!({
        "400": bad_credentials,
        "401": unauthorized,
        "405": sessions_method_not_allowed("GET, DELETE"),
        "503": unavailable(),
    })
}

fn sessions_method_not_allowed(allow: &str) -> Value {
    json!({
        "description": "Another method; no body.",
        "headers": {"Allow": {"schema": {"type": "string", "enum": [allow]}}},
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

fn challenge_header() -> Value {
    json!({
        "description": "`Bearer realm=\"…\"`, with `error` and `error_description` when a token was sent.",
        "schema": {"type": "string"},
    })
}

fn set_cookie() -> Value {
    json!({
        "description": "The new refresh token, once per route path (HttpOnly, Secure, SameSite=Strict).",
        "schema": {"type": "string"},
    })
}

fn schemas(limit: usize) -> Value {
    let token =
        json!({"type": "string", "description": "An opaque refresh token (76 characters)."});
    json!({
        "RefreshAuthRefreshRequest": {
            "type": "object",
            "required": ["refreshToken"],
            "properties": {"refreshToken": token},
            "description": format!("At most {limit} bytes."),
        },
        "RefreshAuthRefreshForm": {
            "type": "object",
            "required": ["grant_type", "refresh_token"],
            "properties": {
                "grant_type": {"type": "string", "enum": ["refresh_token"]},
                "refresh_token": token,
            },
            "description": "RFC 6749 §6.",
        },
        "RefreshAuthLogoutRequest": {
            "type": "object",
            "required": ["refreshToken"],
            "properties": {"refreshToken": token},
        },
        "RefreshAuthLogoutForm": {
            "type": "object",
            "required": ["token"],
            "properties": {
                "token": token,
                "token_type_hint": {"type": "string", "description": "Accepted and not needed (RFC 7009 §2.1)."},
            },
            "description": "RFC 7009 §2.1.",
        },
        "RefreshAuthTokenPair": {
            "type": "object",
            "required": ["accessToken", "refreshToken", "tokenType", "expiresIn"],
            "additionalProperties": false,
            "properties": {
                "accessToken": {"type": "string", "description": "An RFC 9068 JWT."},
                "refreshToken": token,
                "tokenType": {"type": "string", "enum": ["Bearer", "DPoP"], "description": "`DPoP` for a session bound to a DPoP key (docs/protocol.md §10)."},
                "expiresIn": {"type": "integer", "minimum": 1, "description": "Seconds the access token lives."},
            },
            "description": "The answer to a JSON request.",
        },
        "RefreshAuthTokenPairInCookie": {
            "type": "object",
            "required": ["accessToken", "tokenType", "expiresIn"],
            "additionalProperties": false,
            "properties": {
                "accessToken": {"type": "string", "description": "An RFC 9068 JWT."},
                "tokenType": {"type": "string", "enum": ["Bearer", "DPoP"], "description": "`DPoP` for a session bound to a DPoP key (docs/protocol.md §10)."},
                "expiresIn": {"type": "integer", "minimum": 1},
            },
            "description": "Cookie mode: the refresh token is in `Set-Cookie`.",
        },
        "RefreshAuthOAuthTokenResponse": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in", "refresh_token"],
            "additionalProperties": false,
            "properties": {
                "access_token": {"type": "string"},
                "token_type": {"type": "string", "enum": ["Bearer", "DPoP"], "description": "`DPoP` for a session bound to a DPoP key (docs/protocol.md §10)."},
                "expires_in": {"type": "integer", "minimum": 1},
                "refresh_token": token,
            },
            "description": "The answer to a form request, in the field names of RFC 6749 §5.1.",
        },
        "RefreshAuthError": {
            "type": "object",
            "required": ["error", "error_description"],
            "additionalProperties": false,
            "properties": {
                "error": {"type": "string", "enum": [
                    "unauthorized", "invalid_request", "invalid_token", "invalid_grant",
                    "unsupported_grant_type", "temporarily_unavailable", "server_error",
                ]},
                "error_description": {"type": "string"},
            },
            "description": "RFC 6749 §5.2 / RFC 6750 §3.",
        },
        "RefreshAuthSessionList": {
            "type": "object",
            "required": ["sessions"],
            "additionalProperties": false,
            "properties": {
                "sessions": {"type": "array", "items": {"$ref": "#/components/schemas/RefreshAuthSession"}},
                "next": {"type": "string", "description": "Present when a page follows: pass it as `?cursor=` for that page."},
            },
        },
        "RefreshAuthSession": {
            "type": "object",
            "required": ["id", "current", "createdAt", "lastRefreshedAt", "expiresAt"],
            "additionalProperties": false,
            "properties": {
                "id": {"type": "string", "description": "The `sid` of the session's access tokens."},
                "current": {"type": "boolean", "description": "The session of the presented token."},
                "createdAt": {"type": "string", "format": "date-time"},
                "lastRefreshedAt": {"type": "string", "format": "date-time"},
                "expiresAt": {"type": "string", "format": "date-time"},
                "userAgent": {"type": "string", "description": "Recorded at login."},
                "label": {"type": "string", "description": "Recorded at login."},
            },
        },
        "RefreshAuthNotFound": {
            "type": "object",
            "required": ["error", "error_description"],
            "additionalProperties": false,
            "properties": {
                "error": {"type": "string", "enum": ["not_found"]},
                "error_description": {"type": "string"},
            },
        },
        "RefreshAuthJwkSet": {
            "type": "object",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/RefreshAuthJwk"}}},
        },
        "RefreshAuthJwk": {
            "type": "object",
            "required": ["kty", "kid", "alg", "use"],
            "properties": {
                "kty": {"type": "string", "enum": ["RSA", "EC", "OKP"]},
                "kid": {"type": "string"},
                "alg": {"type": "string", "enum": ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]},
                "use": {"type": "string", "enum": ["sig"]},
                "n": {"type": "string"},
                "e": {"type": "string"},
                "crv": {"type": "string", "enum": ["P-256", "P-384", "Ed25519"]},
                "x": {"type": "string"},
                "y": {"type": "string"},
            },
            "description": "Public parameters only (RFC 7517, RFC 7518 §6, RFC 8037).",
        },
    })
}
