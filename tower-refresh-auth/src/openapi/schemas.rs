//! `components.schemas`: the bodies the layer's routes take and send.

use serde_json::{Value, json};

use super::Config;

/// Every schema the document's operations refer to; the error codes follow the DPoP setting.
pub(super) fn schemas(config: &Config<'_>) -> Value {
    let limit = config.body_limit;
    let mut errors = vec![
        "unauthorized",
        "invalid_request",
        "invalid_token",
        "invalid_grant",
        "unsupported_grant_type",
        "temporarily_unavailable",
        "server_error",
    ];
    if config.dpop.is_some() {
        errors.push("invalid_dpop_proof");
    }
    if config.nonces {
        errors.push("use_dpop_nonce");
    }
    if config.guard.introspection_path.is_some() {
        errors.extend(["invalid_client", "too_many_requests"]);
    }
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
                "error": {"type": "string", "enum": errors},
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
