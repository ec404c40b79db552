//! `POST /introspect` (RFC 7662, `docs/protocol.md` §14), when introspection is on: its
//! operation, its schemas and the client's Basic security scheme.

use serde_json::{Map, Value, json};

use super::{Config, error, method_not_allowed, no_store, unavailable};

/// The introspection client's security scheme name, present with introspection on: the
/// client id and secret in HTTP Basic authentication (RFC 6749 §2.3.1).
pub const INTROSPECTION_SECURITY_SCHEME: &str = "introspectionClient";

pub(super) fn operation(config: &Config<'_>) -> Value {
    let mut unauthorized =
        error("`invalid_client`: missing or wrong client credentials (RFC 6749 §5.2).");
    unauthorized["headers"]["WWW-Authenticate"] = json!({
        "description": "`Basic realm=\"…\"` (RFC 7617).",
        "schema": {"type": "string"},
    });
    let mut throttled = error(
        "`too_many_requests`: failed client authentications are over their bound; the credentials were not checked.",
    );
    throttled["headers"]["Retry-After"] = json!({
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    });
    json!({
        "tags": ["auth"],
        "operationId": "refreshAuthIntrospect",
        "summary": "Whether an access token is live, and whose (RFC 7662)",
        "description": "For the configured client only. `active: true` for an access token that verifies and whose session has not ended; `{\"active\": false}` for anything else — expired, revoked, malformed, unknown, a refresh token — one answer for all.",
        "security": [{INTROSPECTION_SECURITY_SCHEME: []}],
        "requestBody": {
            "required": true,
            "content": {"application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/RefreshAuthIntrospectionForm"}}},
        },
        "responses": {
            "200": {
                "description": "The token's state (RFC 7662 §2.2).",
                "headers": {"Cache-Control": no_store()},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RefreshAuthIntrospection"}}},
            },
            "400": error("`invalid_request`: the token is missing, or the body is not form-encoded or is malformed."),
            "401": unauthorized,
            "405": method_not_allowed("POST"),
            "413": error(&format!("`invalid_request`: the body is over {} bytes.", config.body_limit)),
            "429": throttled,
            "503": unavailable(),
        },
    })
}

/// The schemas the operation refers to.
pub(super) fn schemas(schemas: &mut Map<String, Value>) {
    schemas.insert(
        "RefreshAuthIntrospectionForm".into(),
        json!({
            "type": "object",
            "required": ["token"],
            "properties": {
                "token": {"type": "string", "description": "The token to introspect."},
                "token_type_hint": {"type": "string", "description": "Accepted and not needed (RFC 7662 §2.1): every token is looked up as an access token."},
            },
            "description": "RFC 7662 §2.1.",
        }),
    );
    schemas.insert(
        "RefreshAuthIntrospection".into(),
        json!({
            "type": "object",
            "required": ["active"],
            "properties": {
                "active": {"type": "boolean"},
                "sub": {"type": "string"},
                "exp": {"type": "integer", "description": "Seconds since the Unix epoch."},
                "iat": {"type": "integer", "description": "Seconds since the Unix epoch."},
                "sid": {"type": "string", "description": "The session the token belongs to."},
                "token_type": {"type": "string", "enum": ["Bearer", "DPoP"]},
                "iss": {"type": "string"},
                "cnf": {
                    "type": "object",
                    "required": ["jkt"],
                    "properties": {"jkt": {"type": "string", "description": "The SHA-256 thumbprint of the DPoP key the token is bound to (RFC 9449 §6.2)."}},
                },
            },
            "description": "Only `active` when it is false.",
        }),
    );
}

/// The client's security scheme.
pub(super) fn security_scheme() -> Value {
    json!({
        "type": "http",
        "scheme": "basic",
        "description": "The introspection client's id and secret, each form-encoded (RFC 6749 §2.3.1).",
    })
}
