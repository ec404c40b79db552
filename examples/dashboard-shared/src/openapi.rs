//! The application's own routes as an OpenAPI 3.1 document (feature `openapi`): `POST /login`,
//! `GET /api/dashboard`, `POST /api/sensitive` and `POST /reauth`, described once for both
//! servers. Each example merges the
//! layer's routes into it (`/token`, `/logout`, the JWKS route) and serves the whole at
//! [`OPENAPI_PATH`].
//!
//! Written as the JSON it is, then read as a [`utoipa`] document: the operations refer to
//! the layer's components by name (`RefreshAuthTokenPair`, `RefreshAuthUnauthorized`, the
//! `bearerAuth` scheme), which the merge brings in.

use serde_json::{Value, json};
use tower_refresh_auth::transport::RefreshTransport;
use utoipa::openapi::OpenApi;

/// Where the servers serve their document. A public path.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// `POST /login` and `GET /api/dashboard` as a [`utoipa`] document, for a server whose
/// refresh token travels by `transport`.
pub fn document(transport: RefreshTransport) -> OpenApi {
    // A fixed document, tested below to read as utoipa's whole.
    serde_json::from_value(json_document(transport))
        .expect("the application's OpenAPI document is a valid utoipa document")
}

fn json_document(transport: RefreshTransport) -> Value {
    let cookie = transport.is_cookie();
    let no_store = json!({"description": "`no-store`", "schema": {"type": "string"}});
    let retry_after = json!({"description": "Seconds to wait.", "schema": {"type": "integer"}});
    let error = |description: &str| {
        json!({
            "description": description,
            "headers": {"Cache-Control": no_store},
            "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/LoginError"
            }}},
        })
    };
    let with_retry_after = |mut response: Value| {
        response["headers"]["Retry-After"] = retry_after.clone();
        response
    };
    let mut pair = json!({
        "description": "Signed in: the first token pair of a new session (docs/protocol.md §3).",
        "headers": {"Cache-Control": no_store},
        "content": {"application/json": {"schema": {"$ref": if cookie {
            "#/components/schemas/RefreshAuthTokenPairInCookie"
        } else {
            "#/components/schemas/RefreshAuthTokenPair"
        }}}},
    });
    if cookie {
        pair["headers"]["Set-Cookie"] = json!({
            "description": "The refresh token, `HttpOnly; Secure; SameSite=Strict`, once per route.",
            "schema": {"type": "string"},
        });
    }
    let mut login = json!({
        "operationId": "login",
        "summary": "Check a password and start a session",
        "requestBody": {
            "required": true,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Credentials"}},
                "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/Credentials"}},
            },
        },
        "responses": {
            "200": pair,
            "400": error("A body without a username and a password."),
            "401": error("Unknown user or wrong password; one answer for both."),
            "413": error("A body over 16 KiB."),
            "415": error("Neither JSON nor a form."),
            "429": with_retry_after(error(
                "Too many failed logins for this username."
            )),
            "503": with_retry_after(error(
                "The password checker is busy, or the session store is down."
            )),
        },
    });
    let mut reauth = json!({
        "operationId": "reauthenticate",
        "summary": "Confirm the password again: a new pair for the same session, a fresh auth_time",
        "security": [{"bearerAuth": []}],
        "requestBody": {
            "required": true,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Reauthentication"}}},
        },
        "responses": {
            "200": login["responses"]["200"].clone(),
            "400": error("A body without a password."),
            "401": error("A wrong password, or no valid access token."),
            "413": error("A body over 16 KiB."),
            "415": error("Not JSON."),
            "429": with_retry_after(error("Too many failed passwords for this user.")),
            "503": with_retry_after(error(
                "The password checker is busy, or the session store is down."
            )),
        },
    });
    reauth["responses"]["200"]["description"] =
        json!("Confirmed: a new token pair for the same session (docs/protocol.md §15).");
    if cookie {
        login["responses"]["403"] =
            error("Cookie mode: the CSRF header is missing (docs/protocol.md §5).");
        reauth["responses"]["403"] =
            error("Cookie mode: the CSRF header is missing (docs/protocol.md §5).");
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "dashboard",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The tower-refresh-auth example servers (docs/protocol.md §6).",
        },
        "paths": {
            "/login": {"post": login},
            "/api/dashboard": {"get": {
                "operationId": "dashboard",
                "summary": "The signed-in user's dashboard",
                "security": [{"bearerAuth": []}],
                "responses": {
                    "200": {
                        "description": "A greeting that names the user.",
                        "headers": {"Cache-Control": no_store},
                        "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/Welcome"
                        }}},
                    },
                    "400": {"$ref": "#/components/responses/RefreshAuthBadCredentials"},
                    "401": {"$ref": "#/components/responses/RefreshAuthUnauthorized"},
                },
            }},
            "/api/sensitive": {"post": {
                "operationId": "sensitive",
                "summary": "A sensitive action: only for a login no older than STEP_UP_MAX_AGE",
                "security": [{"bearerAuth": []}],
                "responses": {
                    "200": {
                        "description": "Done.",
                        "headers": {"Cache-Control": no_store},
                        "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/Done"
                        }}},
                    },
                    "400": {"$ref": "#/components/responses/RefreshAuthBadCredentials"},
                    "401": {"$ref": "#/components/responses/RefreshAuthUnauthorized"},
                },
                "description": "A login older than `STEP_UP_MAX_AGE` is refused `401` with \
                    `WWW-Authenticate: Bearer …, error=\"insufficient_user_authentication\", …, \
                    max_age=N` (RFC 9470, docs/protocol.md §15): confirm the password at \
                    `POST /reauth` and retry.",
            }},
            "/reauth": {"post": reauth},
        },
        "components": {"schemas": {
            "Credentials": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string"},
                    "password": {"type": "string", "format": "password"},
                },
            },
            "LoginError": {
                "type": "object",
                "required": ["error", "error_description"],
                "properties": {
                    "error": {"type": "string", "enum": [
                        "invalid_request", "invalid_credentials", "too_many_requests",
                        "temporarily_unavailable",
                    ]},
                    "error_description": {"type": "string"},
                },
            },
            "Reauthentication": {
                "type": "object",
                "required": ["password"],
                "properties": {"password": {"type": "string", "format": "password"}},
            },
            "Done": {
                "type": "object",
                "required": ["ok"],
                "properties": {"ok": {"type": "boolean"}},
            },
            "Welcome": {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"type": "string"}},
            },
        }},
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// utoipa reads the document without losing a word of it, in both transports.
    #[test]
    fn the_document_survives_utoipa_whole() {
        for transport in [RefreshTransport::Body, RefreshTransport::cookie()] {
            let read = serde_json::to_value(document(transport.clone())).unwrap();
            assert_eq!(read, json_document(transport.clone()), "{transport:?}");
        }
    }
}
