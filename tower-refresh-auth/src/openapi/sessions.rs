//! The session routes' operations: `GET` and `DELETE` of the sessions path, `DELETE` of one
//! session (docs/protocol.md §8), with the ways they take the access token.

use serde_json::{Value, json};

use super::{
    COOKIE_SECURITY_SCHEME, Config, DPOP_SECURITY_SCHEME, SECURITY_SCHEME, challenge_header,
    dpop_nonce, dpop_proof_parameter, error, no_store, unavailable,
};
use crate::dpop::DpopMode;
use crate::routes::{DEFAULT_PAGE, MAX_PAGE};

/// `GET /sessions` (docs/protocol.md §8).
pub(super) fn list(config: &Config<'_>) -> Value {
    let mut responses = sessions_responses(config);
    responses["400"]["description"] = json!(
        "Credentials that cannot be a bearer token, or a `limit` or `cursor` that is not one (`invalid_request`)."
    );
    responses["200"] = json!({
        "description": "One page of the caller's live sessions, newest first, and `next` when a page follows.",
        "headers": {"Cache-Control": no_store()},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RefreshAuthSessionList"}}},
    });
    let mut parameters = vec![
        json!({
            "name": "limit",
            "in": "query",
            "required": false,
            "description": format!("How many sessions at most; more than {MAX_PAGE} lists {MAX_PAGE}."),
            "schema": {"type": "integer", "minimum": 1, "default": DEFAULT_PAGE},
        }),
        json!({
            "name": "cursor",
            "in": "query",
            "required": false,
            "description": "The `next` of the page before: the page after it.",
            "schema": {"type": "string"},
        }),
    ];
    parameters.extend(access_token_parameters(config, false));
    json!({
        "tags": ["auth"],
        "operationId": "refreshAuthListSessions",
        "summary": "The caller's sessions",
        "parameters": parameters,
        "security": token_security(config),
        "responses": responses,
    })
}

/// `DELETE /sessions`.
pub(super) fn end_all(config: &Config<'_>) -> Value {
    end(config, "refreshAuthEndAllSessions")
}

/// A `DELETE` of the sessions path, named `operation`.
fn end(config: &Config<'_>, operation: &str) -> Value {
    let mut responses = sessions_responses(config);
    responses["204"] = json!({"description": "Ended."});
    if config.access_cookie.is_some() {
        responses["403"] =
            error("`invalid_request`: the access token came in a cookie without the CSRF header.");
    }
    let mut operation = json!({
        "tags": ["auth"],
        "operationId": operation,
        "summary": "End every session of the caller (log out everywhere)",
        "security": token_security(config),
        "responses": responses,
    });
    let parameters = access_token_parameters(config, true);
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
    operation
}

/// `DELETE /sessions/{id}`.
pub(super) fn end_one(config: &Config<'_>) -> Value {
    let mut operation = end(config, "refreshAuthEndSession");
    operation["summary"] = json!("End one of the caller's sessions");
    let mut parameters = vec![json!({
        "name": "id",
        "in": "path",
        "required": true,
        "description": "The session's id: the `sid` of its access tokens. Everything after the base path is taken as the id, so a path with a further `/` names no session (`404`).",
        "schema": {"type": "string"},
    })];
    parameters.extend(access_token_parameters(config, true));
    operation["parameters"] = Value::Array(parameters);
    let responses = &mut operation["responses"];
    responses["404"] = json!({
        "description": "An unknown id, or another user's session: the same answer (no oracle).",
        "headers": {"Cache-Control": no_store()},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RefreshAuthNotFound"}}},
    });
    responses["405"] = sessions_method_not_allowed("DELETE");
    operation
}

/// The ways a session route takes its access token: `security` alternatives.
fn token_security(config: &Config<'_>) -> Value {
    let required = config.dpop == Some(DpopMode::Required);
    let mut alternatives = Vec::new();
    // DPoP `required` refuses bearer tokens, a cookie's included.
    if !required {
        alternatives.push(json!({(SECURITY_SCHEME): []}));
    }
    if config.dpop.is_some() {
        alternatives.push(json!({(DPOP_SECURITY_SCHEME): []}));
    }
    if config.access_cookie.is_some() && !required {
        alternatives.push(json!({(COOKIE_SECURITY_SCHEME): []}));
    }
    Value::Array(alternatives)
}

/// The headers beside the access token a session route reads: the DPoP proof, and for a
/// `DELETE` (`ends`) whose token came in a cookie, the CSRF header.
fn access_token_parameters(config: &Config<'_>, ends: bool) -> Vec<Value> {
    let mut parameters = Vec::new();
    if let Some(mode) = config.dpop {
        parameters.push(dpop_proof_parameter(
            config,
            mode == DpopMode::Required,
            "With `Authorization: DPoP`: a DPoP proof of this request by the token's key, with its `ath` (RFC 9449 §4, §7).",
        ));
    }
    if let (Some(cookie), true) = (config.access_cookie, ends) {
        parameters.push(json!({
            "name": config.csrf_header,
            "in": "header",
            "required": false,
            "description": format!("Any value; needed when the access token comes in the `{cookie}` cookie rather than `Authorization`."),
            "schema": {"type": "string"},
        }));
    }
    parameters
}

/// What every session route answers besides its success.
fn sessions_responses(config: &Config<'_>) -> Value {
    let mut why = "No valid access token, or the caller's own session has ended (`invalid_token`, \"the session has been revoked\")".to_owned();
    if config.dpop.is_some() {
        why.push_str("; with DPoP, `invalid_dpop_proof`");
        if config.nonces {
            why.push_str(" or `use_dpop_nonce` (a fresh nonce in `DPoP-Nonce`)");
        }
    }
    why.push('.');
    let mut unauthorized = error(&why);
    unauthorized["headers"]["WWW-Authenticate"] = challenge_header(config);
    if config.nonces {
        unauthorized["headers"]["DPoP-Nonce"] =
            dpop_nonce("On `use_dpop_nonce`: the nonce to put in the next proof.");
    }
    let mut bad_credentials =
        error("Credentials that cannot be a bearer token (`invalid_request`).");
    bad_credentials["headers"]["WWW-Authenticate"] = challenge_header(config);
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
